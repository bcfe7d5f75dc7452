"""The warehouse's models, shipped as the package `pipelines.warehouse.sql` (pyproject's `package-dir`).

`staging/` and `marts/` hold one documented select per table; `pipelines.warehouse.models` reads them.
This file only makes the folder importable, from a checkout as from an installed wheel.
"""
