"""SES à-la-carte prices (us-east-1) used for per-tenant cost estimates: the one place to change them.

Source: the AWS Price List as summarized in shared reference research (publication 2026-07-22):
outbound $0.10 per 1,000 recipients, outbound attachments $0.12 per GB, inbound $0.10 per 1,000
messages plus $0.09 per 1,000 incoming 256 KB chunks.
"""

PRICES_USD: dict[str, float] = {
    "outbound_per_recipient": 0.10 / 1000,
    "attachment_per_gb": 0.12,
    "inbound_per_message": 0.10 / 1000,
    "inbound_per_chunk": 0.09 / 1000,
}
