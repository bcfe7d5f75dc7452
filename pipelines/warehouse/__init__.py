"""The analysts' DuckDB warehouse: documented SQL models (`sql/staging/`, `sql/marts/`) built from the lake
and published atomically; SES pricing."""
