"""The analysts' DuckDB warehouse: built from the lake and `sql/`, published atomically; SES pricing."""
