"""RFC 5322 dates (and the usual deviations from them) to aware UTC datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz

_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
_SIMPLE_DATE = re.compile(
    r"\s*(?:[A-Za-z]+,?\s*)?(\d{1,2})\s+([A-Za-z]{3})[A-Za-z]*\.?\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:\s*([+-])(\d{2})(\d{2}))?(?:\s*\(.*\))?\s*"
)
"""The common form. Each run of blanks has one way to be matched (the zone takes its own leading blanks),
so a long run before junk costs linear time, not quadratic."""
_MIN_YEAR, _MAX_YEAR = 1990, 2100


def parse_date(value: str) -> datetime | None:
    """RFC 5322 date -> aware UTC datetime, or None when unparseable or outside 1990..2100."""
    m = _SIMPLE_DATE.fullmatch(value)
    try:
        if m and m.group(7) and m.group(2).lower() in _MONTHS:  # the common form, numeric zone
            day, mon, year, hour, minute, sec, sign, oh, om = m.groups()
            offset = (int(oh) * 60 + int(om)) * (-1 if sign == "-" else 1)
            local = datetime(int(year), _MONTHS[mon.lower()], int(day), int(hour), int(minute), int(sec or 0))
        else:
            parsed = parsedate_tz(value)
            if parsed is None:
                return None
            year, month, day, hour, minute, sec = parsed[:6]
            local = datetime(year, month, day, hour, minute, min(sec, 59))
            offset = (parsed[9] or 0) // 60
    except (ValueError, OverflowError, IndexError, TypeError):
        return None
    if not _MIN_YEAR <= local.year <= _MAX_YEAR:
        return None
    return (local - timedelta(minutes=offset)).replace(tzinfo=UTC)
