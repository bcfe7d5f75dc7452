"""Deterministic generator of a realistic multi-tenant SES archive (the bucket seslake reads).

`generate_archive(dest, ...)` writes `tenants.yaml`, `inbound/<sesId>`, `outbound/<tenant>/<sesId>.eml`,
`events/YYYY/MM/DD/HH/<stream>-1-…[.gz]` and the ground truth under `_truth/` for tests.
"""

from .archive import GenerationSummary, generate_archive, messages_per_day_for

__all__ = ["GenerationSummary", "generate_archive", "messages_per_day_for"]
