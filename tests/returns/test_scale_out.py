"""Two returns instances, one broker, one PostgreSQL: concurrent submissions, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from services.returns.config import ReturnsSettings
from services.returns.main import create_app
from shared.events import ReturnSubmitted
from shared.requests import VehicleReturnPayload
from shared.topics import RETURN_SUBMISSIONS
from tests.returns.factory import NOW, body, new_contract_no, read_all, seed, submissions_for
from tests.support import auth, eventually, running

USERS = ("d1s1-staff1", "d1s1-staff2", "d1s1-manager", "d1-hq")


async def test_two_instances_submit_concurrently(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    settings = ReturnsSettings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=await pg_database("returns")
    )
    one, two = create_app(settings, clock=lambda: NOW), create_app(settings, clock=lambda: NOW)
    async with running(one) as a, running(two) as b:
        many = [new_contract_no("S") for _ in range(16)]
        contested, double_click = new_contract_no("S"), new_contract_no("S")
        everything = [*many, contested, double_click]
        await asyncio.gather(*(seed(kafka_bootstrap, no) for no in everything))

        async def all_eligible() -> None:
            for no in everything:
                r = await b.get(
                    "/api/v1/returns/eligibility", params={"contract_no": no}, headers=auth("d1-hq")
                )
                assert r.status_code == 200 and r.json()["eligible"], r.text

        await eventually(all_eligible, timeout_s=30)

        def post(client, no: str, user: str, key: str | None = None):
            headers = {**auth(user), **({"Idempotency-Key": key} if key else {})}
            return client.post(
                "/api/v1/returns", json=body(no, contact3_email="x@dealer.example.jp"), headers=headers
            )

        key = str(uuid.uuid4())
        responses = await asyncio.gather(
            *(post((a, b)[i % 2], no, USERS[i % len(USERS)]) for i, no in enumerate(many)),
            post(a, contested, "d1s1-staff1"),
            post(b, contested, "d1s1-staff2"),
            post(a, double_click, "d1s1-staff1", key),
            post(b, double_click, "d1s1-staff1", key),
        )
        plain, (c1, c2), (d1, d2) = responses[: len(many)], responses[-4:-2], responses[-2:]
        assert [r.status_code for r in plain] == [202] * len(many), [
            r.text for r in plain if r.status_code != 202
        ]
        assert sorted([c1.status_code, c2.status_code]) == [202, 409]
        refused = c1 if c1.status_code == 409 else c2
        assert refused.json()["code"] == "open_request_exists"
        assert d1.status_code == d2.status_code == 202
        assert d1.json()["request_id"] == d2.json()["request_id"]

        expected_ids = {r.json()["request_id"] for r in (*plain, c1 if c1.status_code == 202 else c2, d1)}
        assert len(expected_ids) == len(many) + 2

        async def all_published() -> list[dict]:
            events = submissions_for(await read_all(kafka_bootstrap, RETURN_SUBMISSIONS), set(everything))
            assert len(events) >= len(expected_ids)
            return events

        events = await eventually(all_published, timeout_s=30)
        assert len(events) == len(expected_ids)  # no duplicate
        submitted = [ReturnSubmitted.model_validate(e["data"]) for e in events]
        assert {s.request_id for s in submitted} == expected_ids  # no loss
        assert sorted(s.contract_no for s in submitted) == sorted(everything)
        for s in submitted:
            VehicleReturnPayload.model_validate(s.payload)
        # both instances answer for every submission (one shared database)
        for request_id in expected_ids:
            for client in (a, b):
                assert (
                    await client.get(f"/api/v1/returns/{request_id}", headers=auth("d1-hq"))
                ).status_code == 200
