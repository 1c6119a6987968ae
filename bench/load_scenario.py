"""The searches of the month-end rush, shared by the locust users (HTTP) and the raw-SQL baseline.

Pure standard library: the locust process (gevent) imports it too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

NAMES = ["山田", "やまだ", "ｻﾄｳ", "スズキ", "高橋", "たなか", "伊藤", "ワタナベ", "中村", "こばやし"]


def _month(today: date, plus: int) -> str:
    y, m = divmod(today.year * 12 + today.month - 1 + plus, 12)
    return f"{y:04d}-{m + 1:02d}"


def _name(rng: random.Random, today: date) -> dict[str, str]:
    return {"mode": "individual", "contractor_name": rng.choice(NAMES)}


def _plate(rng: random.Random, today: date) -> dict[str, str]:
    return {"mode": "individual", "registration_no": f"{rng.randint(1, 99):02d}-{rng.randint(0, 9)}"}


def _month_end(rng: random.Random, today: date) -> dict[str, str]:
    # the rush: this month's and the next two months' final payments
    return {"mode": "general", "final_from": _month(today, 0), "final_to": _month(today, 2)}


def _unselected(rng: random.Random, today: date) -> dict[str, str]:
    return {
        "mode": "general",
        "final_from": _month(today, 0),
        "final_to": _month(today, rng.randint(2, 5)),
        "handling_status": "unselected",
    }


def _inspection(rng: random.Random, today: date) -> dict[str, str]:
    return {"mode": "inspection", "inspection": str(rng.randint(1, 3)), "months_from": "0", "months_to": "3"}


def _by_staff(rng: random.Random, today: date) -> dict[str, str]:
    return {"mode": "general", "sort": "staff_code"}


Params = Callable[[random.Random, date], dict[str, str]]

# (name in the report, weight, parameters)
STAFF_SEARCHES: list[tuple[str, int, Params]] = [
    ("search: name", 3, _name),
    ("search: plate", 2, _plate),
    ("search: month-end range", 3, _month_end),
    ("search: unselected in range", 2, _unselected),
    ("search: inspection axis", 1, _inspection),
    ("search: all, by staff code", 1, _by_staff),
]
HQ_SEARCHES: list[tuple[str, int, Params]] = [
    ("hq search: name", 1, _name),
    ("hq search: month-end range", 1, _month_end),
]


def pick(searches: list[tuple[str, int, Params]], rng: random.Random) -> tuple[str, Params]:
    name, _, params = rng.choices(searches, weights=[w for _, w, _ in searches])[0]
    return name, params
