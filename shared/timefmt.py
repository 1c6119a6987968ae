"""Time as people read it (SPEC §9.1 "Time for people"): Japan time, dates `YYYY/MM/DD`, date-times
`YYYY/MM/DD HH:MM` — on every page, PDF, e-mail and CSV. JSON APIs keep ISO 8601 with the offset.

Registered as the Jinja filters `jp_date` and `jp_datetime` for every service's templates (shared.web) and
the mailer's e-mail templates; Python code that writes for people (PDF, CSV, messages) calls them directly.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
_CALENDAR_TEXT = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")  # a date or a year-month, no time

Moment = datetime | str


def in_tokyo(moment: datetime) -> datetime:
    """The same instant on Tokyo's clock; a naive datetime is UTC (SQLite returns those)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(TOKYO)


def _moment(value: Moment) -> datetime:
    if isinstance(value, str):
        if len(value) <= 10:  # a date alone has no time of day to show
            raise ValueError(f"not a date-time: {value!r}")
        return datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a datetime: {type(value).__name__}")
    return value


def jp_date(value: date | Moment | None) -> str:
    """`YYYY/MM/DD`. A date is shown as it is (it is already a Japan date); a datetime (or an ISO text with a
    time) is shown as the Tokyo date of that instant. A year-month known only to the month (`YYYY-MM`, e.g.
    an initial registration whose day is unknown) becomes `YYYY/MM`. None or "" stays empty."""
    if not value:  # None, "" or a template's undefined value
        return ""
    if isinstance(value, str):
        if _CALENDAR_TEXT.match(value):
            return value.replace("-", "/")  # as written: a Japan date needs no conversion
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        value = in_tokyo(value).date()
    return f"{value:%Y/%m/%d}"


def jp_datetime(value: Moment | None) -> str:
    """`YYYY/MM/DD HH:MM` in Japan time (a naive datetime or ISO text without an offset is UTC).
    None or "" stays empty."""
    if not value:  # None, "" or a template's undefined value
        return ""
    return f"{in_tokyo(_moment(value)):%Y/%m/%d %H:%M}"


def tokyo_today(now: datetime | None = None) -> date:
    """Today's date in Japan (the date every rule and every page reasons in)."""
    return in_tokyo(now or datetime.now(UTC)).date()
