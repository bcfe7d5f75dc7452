"""Where bytes live: object stores (a local folder or S3), the lake's table schemas and shared constants,
and the lake's partition writer and reader."""
