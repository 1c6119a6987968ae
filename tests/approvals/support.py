"""Helpers of the approvals tests: submissions straight onto the topic, actions, topic readers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from devtools.demo import USERS_BY_ID
from shared.events import RETURN_SUBMITTED, Envelope, Party, RequestUpdate, ReturnSubmitted
from shared.topics import RETURN_SUBMISSIONS, TFC_REQUEST_UPDATES
from tests.support import auth, eventually, publish, read_topic, token_cookies


def party(user_id: str) -> Party:
    u = USERS_BY_ID[user_id]
    return Party(user_id=u.user_id, name=u.name, role=u.role, email=u.email)


def payload(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "contact1": "03-1234-5678",
        "contact3_email": "tanto@example.com",
        "notify_on_completion": True,
        "result": "returned",
        "returned_on": datetime.now(ZoneInfo("Asia/Tokyo")).date().isoformat(),
    }
    base.update(kw)
    return base


def submission(
    submitter: str = "d1s1-staff1",
    *,
    request_id: str | None = None,
    contract_no: str | None = None,
    contractor_name: str = "山田 太郎",
    contractor_name_kana: str = "",
    store_name: str = "",
    body: dict[str, Any] | None = None,
) -> Envelope[ReturnSubmitted]:
    u = USERS_BY_ID[submitter]
    store = u.store_code or ("S0101" if u.dealer_code == "D001" else "S0201")
    data = ReturnSubmitted(
        request_id=request_id or str(uuid.uuid4()),
        contract_no=contract_no or f"C{uuid.uuid4().hex[:9].upper()}",
        dealer_code=u.dealer_code,
        store_code=store,
        store_name=store_name,
        contractor_name=contractor_name,
        contractor_name_kana=contractor_name_kana,
        program="gamma_finance",
        submitter=party(submitter),
        payload=body if body is not None else payload(),
        submitted_at=datetime.now(UTC),
    )
    return Envelope[ReturnSubmitted](
        source="test/returns", type=RETURN_SUBMITTED, subject=data.contract_no, data=data
    )


async def submit(
    bootstrap: str, client: httpx.AsyncClient, submitter: str = "d1s1-staff1", **kw: Any
) -> dict:
    """Publish a ReturnSubmitted and wait until the request exists; returns its JSON."""
    envelope = submission(submitter, **kw)
    await publish(bootstrap, RETURN_SUBMISSIONS, envelope.subject, envelope)
    return await wait_request(client, envelope.data.request_id, submitter)


async def wait_request(
    client: httpx.AsyncClient, request_id: str, user: str, status: str | None = None, timeout_s: float = 20
) -> dict:
    async def check() -> dict:
        r = await client.get(f"/api/v1/requests/{request_id}", headers=auth(user))
        assert r.status_code == 200, r.text
        body = r.json()
        if status is not None:
            assert body["status"] == status, body["status"]
        return body

    return await eventually(check, timeout_s=timeout_s)


async def act(
    client: httpx.AsyncClient, user: str, request_id: str, action: str, version: int, **body: Any
) -> httpx.Response:
    path = f"/api/v1/requests/{request_id}"
    if action == "correct":
        return await client.put(path, json={"version": version, **body}, headers=auth(user))
    verb = {"approve": "approve", "send_back": "send-back", "withdraw": "withdraw"}[action]
    return await client.post(f"{path}/{verb}", json={"version": version, **body}, headers=auth(user))


async def tfc(bootstrap: str, request_id: str, action: str, message: str | None = None, **kw: Any) -> None:
    update = RequestUpdate(request_id=request_id, action=action, message=message, at=datetime.now(UTC), **kw)
    await publish(bootstrap, TFC_REQUEST_UPDATES, request_id, update)


def cookies(user_id: str) -> dict[str, str]:
    return token_cookies(user_id)


async def records_for(bootstrap: str, topic: str, request_id: str, expect: int) -> list[dict[str, Any]]:
    """JSON values of `topic` whose key is `request_id` (at least `expect` of them, in order)."""

    async def check() -> list[dict[str, Any]]:
        records = await read_topic(bootstrap, topic, expect=10**6, timeout_s=1.0)
        mine = [json.loads(r.value) for r in records if r.key == request_id.encode()]
        assert len(mine) >= expect, (len(mine), expect)
        return mine

    return await eventually(check, timeout_s=20)
