"""The Date header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.mime.parse import parse_message
from tests.mime.messages import mail


@pytest.mark.parametrize(
    ("date", "expected", "warning"),
    [
        (None, None, "date_missing"),
        ("not a date at all", None, "date_invalid"),
        ("Sat, 17 Sep 1859 11:33:12 -0700", None, "date_invalid"),
        ("Fri, 1 Jan 2150 00:00:00 +0000", None, "date_invalid"),
        ("Tues, 18 Dec 2023 02:34:39 +0000", datetime(2023, 12, 18, 2, 34, 39, tzinfo=UTC), None),
        ("18 Dec 2023 02:34 EST", datetime(2023, 12, 18, 7, 34, tzinfo=UTC), None),
        ("Mon, 18 Dec 23 02:34:39 +0530", datetime(2023, 12, 17, 21, 4, 39, tzinfo=UTC), None),
        ("Mon, 18 Dec 2023 23:34:39 -0300 (ART)", datetime(2023, 12, 19, 2, 34, 39, tzinfo=UTC), None),
    ],
)
def test_dates(date: str | None, expected: datetime | None, warning: str | None) -> None:
    m = parse_message(mail("", date=date))
    assert m.date == expected
    assert m.date_raw == date
    assert (warning in m.warnings) if warning else m.warnings == []
