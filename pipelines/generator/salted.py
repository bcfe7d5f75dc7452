"""Salting an archive with hostile input: one object of every hostile mail family and a set of hostile
Firehose files, added to a generated archive as SES and Firehose would have stored them.

Each hostile message gets SES's prepended headers (a `Received … for <recipient>` line and verdicts) in
front of its own, so it is attributed to the tenant whose inbound address it was sent to, exactly as real
mail would be; the parser still has to get through the hostile part to find that out. Objects get the
arrival time `when` (file mtimes, as the generator gives every object), so they fall on that day's
partition. Used by the tests and by `bench/hostile.py`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipelines.generator import hostile_events, hostile_mail

EVENT_LINES = 40
"""Good event lines around the hostile ones in the files that keep some."""


@dataclass(frozen=True)
class Salt:
    """What `salt_archive` added: bucket keys of the hostile mail (by family) and of the event files (by kind)."""

    mail: dict[str, str]
    events: dict[str, str]


def salt_archive(dest: Path, *, size: int, when: datetime, recipient: str, bomb_bytes: int) -> Salt:
    """Add one message of each hostile mail family (about `size` bytes each; some families have a minimum)
    sent to `recipient`, and the hostile event files (a gzip bomb expanding to `bomb_bytes`), under the
    archive at `dest`, all arriving at `when`."""
    mail: dict[str, str] = {}
    for family, build in hostile_mail.FAMILIES.items():
        ses_id = "hostile" + hashlib.sha256(family.encode()).hexdigest()[:33]
        key = f"inbound/{ses_id}"
        _write(dest / key, _ses_headers(ses_id, recipient, when) + build(size), when)
        mail[family] = key
    events: dict[str, str] = {}
    good = [hostile_events.event_line(seed) for seed in range(EVENT_LINES)]
    data = hostile_events.ndjson(good)
    files = {
        "corrupt_gzip": hostile_events.corrupt_gzip(data),
        "truncated_gzip": hostile_events.truncated_gzip(data),
        "gzip_bomb": hostile_events.gzip_bomb(bomb_bytes),
        "enormous_line": hostile_events.enormous_line_file(bomb_bytes // 4),
        "hostile_lines": hostile_events.ndjson(
            [
                *good[:5],
                *(h.line for h in hostile_events.non_utf8_lines()),
                *(h.line for h in hostile_events.bad_json_lines()),
                *(h.line for h in hostile_events.wrong_shape_lines()),
                *(h.line for h in hostile_events.lone_surrogate_lines()),
                *(h.line for h in hostile_events.nul_byte_lines()),
                hostile_events.deep_json_line(100_000).line,
            ]
        ),
    }
    hour = when.strftime("%Y/%m/%d/%H")
    stamp = when.strftime("%Y-%m-%d-%H-%M-%S")
    for n, (kind, content) in enumerate(files.items()):
        key = f"events/{hour}/ses-events-1-{stamp}-hostile{n:02d}-{kind}"
        _write(dest / key, content, when)
        events[kind] = key
    return Salt(mail, events)


def _ses_headers(ses_id: str, recipient: str, when: datetime) -> bytes:
    stamp = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    return (
        f"Return-Path: <stranger@example.net>\r\n"
        f"Received: from mail.example.net (mail.example.net [203.0.113.9])\r\n"
        f" by inbound-smtp.us-east-1.amazonaws.com with SMTP id {ses_id}\r\n"
        f" for {recipient};\r\n {stamp}\r\n"
        f"X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n"
    ).encode()


def _write(path: Path, data: bytes, when: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (when.timestamp(), when.timestamp()))
