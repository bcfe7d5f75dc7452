"""SES events delivered by Firehose -> the lake table `events`: the reference normalizer, the DuckDB bulk
path generated from the same constants, and the file ingest with its processed-file ledger."""
