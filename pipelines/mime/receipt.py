"""What SES prepended to an inbound message: its Received header, verdicts and authentication
results, read into a `SesReceipt`.

`SesReceipt` case: ``spam_verdict``/``virus_verdict`` upper case as SES writes them (``PASS``,
``FAIL``, ``GRAY``, ``PROCESSING_FAILED``); ``spf_verdict``, ``dkim_verdict`` and ``dmarc_verdict``
lower case as RFC 8601 writes them (``pass``, ``fail``, ``softfail``, ``none``, ...).
"""

from __future__ import annotations

import re

from pipelines.mime.addresses import dedup, find_specs, normalize_spec
from pipelines.mime.dates import parse_date
from pipelines.mime.headers import first_value
from pipelines.mime.message import SesReceipt

# Literal-prefixed patterns: the regex engine then scans for the prefix in C.
_BY_HOST = re.compile(r"by\s+([^\s;]+)")
_SMTP_ID = re.compile(r"with\s+\S+\s+id\s+([^\s;]+)")
_FOR = re.compile(r"for\s+([^;]*)")
_AUTH_SPF = re.compile(r"spf=(\w+)")
_AUTH_DKIM = re.compile(r"dkim=(\w+)")
_AUTH_DMARC = re.compile(r"dmarc=(\w+)")
_SPF_RESULTS = frozenset(("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"))


def _ses_host(received: str) -> re.Match[str] | None:
    """The `by` clause of a Received header written by SES's inbound servers, else None."""
    for by in _BY_HOST.finditer(received):
        host = by.group(1).lower()
        if host.endswith(".amazonaws.com") and "inbound-smtp." in host or host.endswith("amazonses.com"):
            return by
    return None


def ses_receipt(fields: dict[str, list[str]]) -> SesReceipt:
    """Read SES's prepended headers (the first Received by SES's inbound servers, verdicts, auth)."""
    ses = SesReceipt()
    return_path = first_value(fields, "return-path")
    if return_path is not None:
        ses.envelope_sender = normalize_spec(return_path.split(",")[0])
    for received in fields.get("received", ()):
        by = _ses_host(received) if "amazon" in received else None
        if by is None:
            continue
        head, _, date = received.rpartition(";")
        smtp_id = _SMTP_ID.search(head, by.end())
        if smtp_id:
            ses.smtp_id = smtp_id.group(1)
        rcpts = _FOR.search(head, smtp_id.end() if smtp_id else by.end())
        if rcpts:
            found = (normalize_spec(a) for a in find_specs(rcpts.group(1)))
            ses.envelope_recipients = dedup([a for a in found if a])
        ses.received_at = parse_date(date) if head else None
        break
    spam, virus = first_value(fields, "x-ses-spam-verdict"), first_value(fields, "x-ses-virus-verdict")
    ses.spam_verdict = spam.split()[0].upper() if spam else None
    ses.virus_verdict = virus.split()[0].upper() if virus else None
    spf = first_value(fields, "received-spf")
    if ses.smtp_id and spf and spf.split()[0].lower() in _SPF_RESULTS:  # SES's own, not a later hop's
        ses.spf_verdict = spf.split()[0].lower()
    for results in fields.get("authentication-results", ()):
        if results.split(";", 1)[0].strip().lower() != "amazonses.com":
            continue
        if ses.spf_verdict is None and (spf_result := _AUTH_SPF.search(results)):
            ses.spf_verdict = spf_result.group(1).lower()
        dkim = [result.lower() for result in _AUTH_DKIM.findall(results)]
        if dkim:
            ses.dkim_verdict = "pass" if "pass" in dkim else dkim[0]
        if dmarc := _AUTH_DMARC.search(results):
            ses.dmarc_verdict = dmarc.group(1).lower()
        break
    return ses
