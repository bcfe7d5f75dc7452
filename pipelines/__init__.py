"""seslake: a multi-tenant Amazon SES mail archive turned into a Parquet lake, threads, a DuckDB warehouse
and a live hand-off of new inbound mail. One subpackage per stage; only `orchestration/`, `cli/` and
`definitions.py` import Dagster."""
