"""Time for people (SPEC §9.1): Japan time, `YYYY/MM/DD` and `YYYY/MM/DD HH:MM`, formatted in one place.

The unit tests pin the two functions; the environment test proves every service's templates (and the
e-mail templates) have them; the static test fails on the ad-hoc formatting that used to show UTC or other
formats. The pages, PDFs, CSV and e-mails themselves are checked with a time just after 15:00 UTC in each
service's tests (test_time_for_people in tests/<service>/).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from jinja2 import Environment

from shared.timefmt import jp_date, jp_datetime, tokyo_today

ROOT = Path(__file__).resolve().parents[2]
# 15:05 UTC on 9 January is already 00:05 on 10 January in Tokyo (UTC+9).
AFTER_15_UTC = datetime(2026, 1, 9, 15, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        AFTER_15_UTC,
        AFTER_15_UTC.replace(tzinfo=None),  # naive: SQLite hands back UTC without an offset
        AFTER_15_UTC.isoformat(),
        "2026-01-09T15:05:00",
        "2026-01-09T15:05:59.999+00:00",
        AFTER_15_UTC.astimezone(timezone(timedelta(hours=-5))),
    ],
)
def test_a_moment_after_15_utc_is_the_next_day_in_tokyo(value: datetime | str) -> None:
    assert jp_datetime(value) == "2026/01/10 00:05"
    assert jp_date(value) == "2026/01/10"


def test_just_before_15_utc_is_still_the_same_day() -> None:
    assert jp_datetime(datetime(2026, 1, 9, 14, 59, tzinfo=UTC)) == "2026/01/09 23:59"
    assert jp_date(datetime(2026, 1, 9, 14, 59, tzinfo=UTC)) == "2026/01/09"


def test_dates_are_japan_dates_as_they_are() -> None:
    assert jp_date(date(2026, 12, 31)) == "2026/12/31"
    assert jp_date("2026-05-04") == "2026/05/04"
    assert jp_date("2023-04") == "2023/04"  # a year-month (the day of first registration may be unknown)


@pytest.mark.parametrize("empty", [None, ""])
def test_nothing_shows_as_nothing(empty: str | None) -> None:
    assert jp_date(empty) == jp_datetime(empty) == ""


def test_a_date_alone_is_no_date_time() -> None:
    with pytest.raises(ValueError):
        jp_datetime("2026-01-09")
    with pytest.raises(TypeError):
        jp_datetime(date(2026, 1, 9))  # type: ignore[arg-type]


def test_today_in_tokyo_turns_at_15_utc() -> None:
    assert tokyo_today(datetime(2026, 1, 9, 14, 59, tzinfo=UTC)) == date(2026, 1, 9)
    assert tokyo_today(AFTER_15_UTC) == date(2026, 1, 10)


def _environments() -> dict[str, Environment]:
    from devtools import oidc as devtools_provider
    from devtools import tfc
    from services.approvals import pages as approvals
    from services.mailer import pages as mailer
    from services.mailer.render import MailRenderer
    from services.returns import pages as returns
    from services.search import pages as search
    from services.selection import pages as selection

    renderer = MailRenderer("http://jpass.test", "noreply@jpass.test")
    return {
        "search": search.templates.env,
        "selection": selection.templates.env,
        "returns": returns.templates.env,
        "approvals": approvals.templates.env,
        "mailer": mailer.templates.env,
        "mail text": renderer._text,
        "mail html": renderer._html,
        "devtools": devtools_provider.templates.env,  # the local provider's login pages
        "tfc console": tfc.templates.env,
    }


@pytest.mark.parametrize("name", list(_environments()))
def test_every_template_environment_formats_time_for_people(name: str) -> None:
    env = _environments()[name]
    rendered = env.from_string("{{ at | jp_datetime }}|{{ at | jp_date }}|{{ day | jp_date }}").render(
        at=AFTER_15_UTC.isoformat(), day=date(2026, 1, 9)
    )
    assert rendered == "2026/01/10 00:05|2026/01/10|2026/01/09"


TEMPLATE_DIRS = [*ROOT.glob("services/*/templates"), ROOT / "shared/templates", ROOT / "devtools/templates"]
BAD_IN_TEMPLATES = {
    "slicing an ISO text": re.compile(r"\[:(10|16|19)\]"),
    "ISO text turned into slashes": re.compile(r"replace\(\s*['\"]-['\"]\s*,\s*['\"]/['\"]\s*\)"),
    "the T of an ISO text replaced": re.compile(r"replace\(\s*['\"]T['\"]"),
    "a formatting method in a template": re.compile(r"\.(strftime|isoformat)\("),
    "an old per-service filter": re.compile(r"\|\s*(dt|ymd|jdate|jst|tokyo)\b"),
}
PY_SOURCES = [
    p
    for pattern in ("services/*/*.py", "shared/*.py", "devtools/*.py")
    for p in ROOT.glob(pattern)
    if p.name != "timefmt.py"
]
# Feed data written in TFC's own ISO form is not for people (devtools/contracts.py builds test snapshots).
PY_EXEMPT = {ROOT / "devtools" / "contracts.py"}
BAD_IN_PYTHON = {
    # a date or time laid out for reading (an identifier's compact "%y%m", e.g. the 受付番号's, is not)
    "strftime": re.compile(r"""\.strftime\(\s*["'][^"']*%[YmdHMS][-/:年月日 ]"""),
    # (a file name's compact YYYYMMDD, e.g. the CSV's, is no date shown to people)
    "a date format in an f-string": re.compile(r"\{[^{}]+:%Y[-/年]"),
    "a time-of-day format": re.compile(r"%H:%M"),
    "slicing an ISO text": re.compile(r"isoformat\(\)\s*\["),
    "Japanese date pieces": re.compile(r"\.year\}年"),
}


def test_no_ad_hoc_time_formatting_in_templates() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {what}: {line.strip()}"
        for folder in TEMPLATE_DIRS
        for path in folder.rglob("*.*")
        if path.suffix in (".html", ".txt")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for what, bad in BAD_IN_TEMPLATES.items()
        if bad.search(line)
    ]
    assert not found, "use | jp_date or | jp_datetime:\n" + "\n".join(found)


def test_no_ad_hoc_time_formatting_in_code() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {what}: {line.strip()}"
        for path in PY_SOURCES
        if path not in PY_EXEMPT
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for what, bad in BAD_IN_PYTHON.items()
        if bad.search(line)
    ]
    assert not found, "use shared.timefmt.jp_date / jp_datetime:\n" + "\n".join(found)


def test_the_static_checks_catch_what_they_name() -> None:
    """The patterns above must match the formatting they were written against (else they prove nothing)."""
    assert BAD_IN_TEMPLATES["slicing an ISO text"].search("{{ h.updated_at[:16] | replace('T', ' ') }}")
    assert BAD_IN_TEMPLATES["ISO text turned into slashes"].search("{{ d.today | replace('-', '/') }}")
    assert BAD_IN_TEMPLATES["an old per-service filter"].search("{{ r.requested_at|dt }}")
    assert BAD_IN_PYTHON["strftime"].search('at.strftime("%Y/%m/%d %H:%M:%S")')
    assert BAD_IN_PYTHON["strftime"].search('NOW.strftime("%Y年%m月%d日")')
    assert not BAD_IN_PYTHON["strftime"].search('submitted_at.astimezone(TOKYO).strftime("%y%m")')
    assert BAD_IN_PYTHON["a date format in an f-string"].search('f"{d:%Y/%m/%d}"')
    assert not BAD_IN_PYTHON["a date format in an f-string"].search('f"customers_{today:%Y%m%d}.csv"')
    assert BAD_IN_PYTHON["a time-of-day format"].search('.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")')
    assert BAD_IN_PYTHON["Japanese date pieces"].search('f"{d.year}年{d.month}月{d.day}日"')
