"""No input gives a 5xx (issue 18, point 3): text no database can store (lone surrogates, NUL), extreme
numbers and dates, huge offsets — through the API and the pages of all five services on PostgreSQL.

Each case must be refused with a 4xx in our format (API: `detail` in Japanese and a stable `code`) or
answered normally, and must change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from tests.faults.support import figure
from tests.faults.system import System, contract, new_no, system
from tests.support import auth, token_for

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("fuzz-inputs")]

STAFF, HQ = "d1s1-staff1", "d1-hq"
SURROGATE = b'"\\ud800"'
NUL = b'"a\\u0000b"'
HUGE = str(2**63)
TEXT = "invalid_text"
PAGE = (200, 422)  # a page shows its Japanese message with the form, status 422 when refused


@dataclass
class Case:
    name: str
    method: str
    path: str  # {no}: the contract of the test
    json_raw: bytes | None = None
    form: dict[str, str] | None = None
    form_raw: bytes | None = None
    params: dict[str, str] = field(default_factory=dict)
    user: str = STAFF
    expect: tuple[int, ...] = (422,)
    code: str | None = None

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")


def raw_json(template: str, value: bytes) -> bytes:
    return template.encode().replace(b"@", value)


SELECTION = '{"category": "vehicle_return", "replacement": "yes", "replacement_model": @, "confirmation_received_on": "2026-05-14"}'  # noqa: E501
CASES = [
    *[
        Case(f"memo {label}", "PUT", "/api/v1/contracts/{no}/memo", raw_json('{"text": @}', v), code=TEXT)
        for label, v in (("surrogate", SURROGATE), ("NUL", NUL))
    ],
    *[
        Case(f"replacement_model {label}", "PUT", "/api/v1/contracts/{no}/selection", raw_json(SELECTION, v))
        for label, v in (("surrogate", SURROGATE), ("NUL", NUL))
    ],
    *[
        Case(
            f"saved search name {label}",
            "POST",
            "/api/v1/saved-searches",
            raw_json('{"name": @, "params": {}}', v),
            code=TEXT,
        )
        for label, v in (("surrogate", SURROGATE), ("NUL", NUL))
    ],
    Case(
        "saved search params surrogate",
        "POST",
        "/api/v1/saved-searches",
        raw_json('{"name": "n", "params": {"contractor_name": @}}', SURROGATE),
    ),
    *[
        Case(
            f"refinance rate {rate}",
            "POST",
            "/api/v1/contracts/{no}/refinance-simulation",
            f'{{"months": 60, "annual_rate": {rate}}}'.encode(),
            expect=expect,
        )
        for rate, expect in (
            ('"1e-400"', (200,)),  # below the rate's precision (6 places): 0 %
            ("1e-400", (200,)),
            ('"1e999999999"', (422,)),
            ("1e999999999", (422,)),
            ('"NaN"', (422,)),
            ('"-0"', (200,)),
            ('"0.0490000000000000000000000000000001"', (200,)),
        )
    ],
    *[
        Case(
            f"refinance page rate_percent={rate[:20]}",
            "POST",
            "/selection/contracts/{no}/refinance",
            form={"months": "60", "rate_percent": rate},
            expect=PAGE,
        )
        for rate in ("1e999999999", "1e-400", "-1e999999999", "NaN", "sNaN", "Infinity", "1" * 5000)
    ],
    Case(
        "refinance page months huge",
        "POST",
        "/selection/contracts/{no}/refinance",
        form={"months": "9" * 5000},
        expect=PAGE,
    ),
    *[
        Case(f"requests {p}={v}", "GET", "/api/v1/requests", params={p: v}, code="invalid_updated_range")
        for p, v in (
            ("updated_to", "9999-12-31"),
            ("updated_from", "0001-01-01T00:00:00+14:00"),
            ("updated_to", "9999-12-31T23:59:59-14:00"),
        )
    ],
    *[
        Case(f"requests page {p}={v}", "GET", "/requests", params={p: v}, expect=PAGE)
        for p, v in (("updated_to", "9999-12-31"), ("updated_from", "0001-01-01T00:00:00+14:00"))
    ],
    *[
        Case(f"mail-log {p}={v}", "GET", "/api/v1/mail-log", params={p: v}, user=HQ)
        for p, v in (("offset", HUGE), ("offset", "9" * 5000), ("limit", HUGE))
    ],
    Case("mail-log page", "GET", "/mail-log", params={"page": HUGE}, user=HQ, expect=PAGE),
    *[
        Case(f"search {p} NUL", "GET", "/api/v1/contracts", params={p: "a\x00b"}, expect=PAGE)
        for p in ("contractor_name", "registration_no", "model", "contract_no")
    ],
    Case("requests q NUL", "GET", "/api/v1/requests", params={"contractor_name": "a\x00b"}, expect=PAGE),
    Case("memo page NUL", "POST", "/selection/contracts/{no}/memo", form={"text": "a\x00b"}, expect=PAGE),
    Case(
        "memo page encoded surrogate",
        "POST",
        "/selection/contracts/{no}/memo",
        form_raw=b"text=%ED%A0%80",
        expect=(200, 303, 422),  # undecodable bytes are read as U+FFFD: a memo may be saved
    ),
    Case("requests page NUL", "GET", "/requests", params={"contractor_name": "a\x00b"}, expect=PAGE),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(kafka_bootstrap: str) -> AsyncIterator[tuple[System, str]]:
    async with system(kafka_bootstrap) as s:
        c = contract(new_no("HOS"), final_payment_date="2026-08-31")  # inside the refinance window
        await s.add_contract(c)
        yield s, c.contract_no


async def send(s: System, case: Case, no: str) -> Any:
    path = case.path.format(no=no)
    kw: dict[str, Any] = {"params": case.params}
    if case.is_api:
        kw["headers"] = auth(case.user)
        if case.json_raw is not None:
            kw["content"] = case.json_raw
            kw["headers"]["content-type"] = "application/json"
    else:
        kw["cookies"] = {"jpass_token": token_for(case.user)}
        if case.form is not None:
            kw["data"] = case.form
        if case.form_raw is not None:
            kw["content"] = case.form_raw
            kw["headers"] = {"content-type": "application/x-www-form-urlencoded"}
    return await s.request(case.method, path, **kw)


async def state(s: System, no: str) -> list[Any]:
    return [
        (await s.get(f"/api/v1/contracts/{no}", HQ)).json(),
        (await s.get(f"/api/v1/contracts/{no}/memo", HQ)).json(),
        (await s.get(f"/api/v1/contracts/{no}/selection", HQ)).json(),
        (await s.get("/api/v1/saved-searches", STAFF)).json(),
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_hostile_input_is_refused_or_answered_never_a_5xx(
    world: tuple[System, str], case: Case
) -> None:
    s, no = world
    before = await state(s, no)
    r = await send(s, case, no)
    assert r.status_code in case.expect, (r.status_code, r.text[:300])
    if case.is_api and r.status_code >= 400:
        body = r.json()
        assert body["code"] and any("\u3040" <= ch <= "\u30ff" for ch in body["detail"]), body
        if case.code:
            assert body["code"] == case.code, body
    if case.method != "GET" and "refinance" not in case.path and case.form_raw is None:
        assert await state(s, no) == before


def test_figure() -> None:
    figure(f"hostile input: {len(CASES)} cases (surrogates, NUL, extreme numbers, dates, offsets), 0 5xx")
