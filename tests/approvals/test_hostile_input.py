"""Hostile input on the approvals pages (issue 18, point 7): the approval-flow page caps the 本部承認者
addresses as the API does; `%` and `_` are literal in 進捗一覧's name filter."""

from __future__ import annotations

import uuid

from services.approvals.domain import MAX_HQ_APPROVERS
from tests.approvals.conftest import Env
from tests.approvals.support import submit
from tests.support import auth, token_for

HQ = "d1-hq"


async def test_the_page_refuses_more_approver_addresses_than_the_api(env: Env) -> None:
    c = env.client
    before = (await c.get("/api/v1/approval-flow", headers=auth("d2-hq"))).json()
    many = [f"approver{i}@example.com" for i in range(MAX_HQ_APPROVERS + 1)]
    api = await c.put(
        "/api/v1/approval-flow",
        json={"store_approval": False, "hq_approval": True, "hq_approver_emails": many},
        headers=auth("d2-hq"),
    )
    assert api.status_code == 422
    page = await c.post(
        "/approval-flow",
        data={"hq_approval": "on", "hq_approver_emails": "\n".join(many)},
        cookies={"jpass_token": token_for("d2-hq")},
    )
    assert page.status_code == 422 and f"{MAX_HQ_APPROVERS}件まで" in page.text
    assert (await c.get("/api/v1/approval-flow", headers=auth("d2-hq"))).json() == before
    exactly = await c.post(
        "/approval-flow",
        data={"hq_approval": "on", "hq_approver_emails": "\n".join(many[:MAX_HQ_APPROVERS])},
        cookies={"jpass_token": token_for("d2-hq")},
    )
    assert exactly.status_code == 303
    saved = (await c.get("/api/v1/approval-flow", headers=auth("d2-hq"))).json()
    assert saved["hq_approver_emails"] == many[:MAX_HQ_APPROVERS]


async def test_percent_and_underscore_are_literal_in_the_name_filter(env: Env) -> None:
    """進捗一覧's 契約者名 filter: `%` and `_` match themselves, not any text (issue 18, point 7)."""
    tag = uuid.uuid4().hex[:6]
    plain = await submit(env.bootstrap, env.client, contractor_name=f"山田{tag}")
    odd = await submit(env.bootstrap, env.client, contractor_name=f"100%_{tag}商事")

    async def found(name: str) -> set[str]:
        r = await env.client.get("/api/v1/requests", params={"contractor_name": name}, headers=auth(HQ))
        assert r.status_code == 200, r.text
        return {i["request_id"] for i in r.json()["items"]} & {plain["request_id"], odd["request_id"]}

    assert await found("%") == {odd["request_id"]}
    assert await found("_") == {odd["request_id"]}
    assert await found(f"%_{tag}") == {odd["request_id"]}
    assert await found(f"山_{tag}") == set()
    assert await found(f"山田{tag}") == {plain["request_id"]}
