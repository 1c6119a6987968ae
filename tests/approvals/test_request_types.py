"""The two request types of SPEC §9.2 in approvals through the real broker: submissions delivered twice
create one request, poison payloads are dead-lettered, two approvers at once, TFC's answers per type; the
messages stay readable by consumers of the old shapes; the AsyncAPI document shows each type's payload."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from shared.events import (
    EARLY_PAYOFF_SUBMITTED,
    REFINANCE_APPLICATION_SUBMITTED,
    Envelope,
    Party,
    RequestSubmitted,
    RequestUpdate,
)
from shared.topics import JPASS_REQUESTS, REQUEST_SUBMISSIONS, TFC_REQUEST_UPDATES
from tests.approvals.conftest import Env
from tests.approvals.support import act, party, records_for, tfc, wait_request
from tests.approvals.test_messages import dead_letters
from tests.approvals.test_request_type_rules import PLAN, early_payoff, refinance
from tests.support import auth, eventually, publish, read_topic, token_for

STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"
EVENT_TYPES = {
    "refinance_application": REFINANCE_APPLICATION_SUBMITTED,
    "early_payoff": EARLY_PAYOFF_SUBMITTED,
}


def submission(request_type: str, body: dict[str, Any], **kw: Any) -> Envelope[RequestSubmitted]:
    data = RequestSubmitted(
        request_id=kw.get("request_id") or str(uuid.uuid4()),
        contract_no=kw.get("contract_no") or f"T{uuid.uuid4().hex[:9].upper()}",
        dealer_code="D001",
        store_code="S0101",
        store_name="品川店",
        contractor_name="山田 太郎",
        program="gamma_finance",
        submitter=party(STAFF),
        payload=body,
        submitted_at=datetime.now(UTC),
    )
    return Envelope[RequestSubmitted](
        source="test/selection", type=EVENT_TYPES[request_type], subject=data.contract_no, data=data
    )


async def submitted(
    env: Env, request_type: str, body: dict[str, Any], status: str | None = None
) -> dict[str, Any]:
    envelope = submission(request_type, body)
    await publish(env.bootstrap, REQUEST_SUBMISSIONS, envelope.subject, envelope)
    return await wait_request(env.client, envelope.data.request_id, STAFF, status)


async def test_a_submission_delivered_twice_creates_one_request_and_poison_is_dead_lettered(env: Env) -> None:
    await env.set_flow(False, False)
    envelope = submission("refinance_application", refinance())
    rid = envelope.data.request_id
    await publish(env.bootstrap, REQUEST_SUBMISSIONS, envelope.subject, envelope)
    await publish(env.bootstrap, REQUEST_SUBMISSIONS, envelope.subject, envelope)  # redelivery
    again = Envelope(source="test", type=envelope.type, subject=envelope.subject, data=envelope.data)
    await publish(env.bootstrap, REQUEST_SUBMISSIONS, envelope.subject, again)  # new event, same request

    bad = f"BAD{uuid.uuid4().hex[:6]}"
    not_adding_up = submission(
        "refinance_application", refinance(plan={**PLAN, "total_payment": 1}), contract_no=bad
    )
    after_final = submission("early_payoff", early_payoff(desired_payoff_date="2026-07-01"), contract_no=bad)
    wrong_shape = submission("early_payoff", refinance(), contract_no=bad)  # a plan sent as an early payoff
    for poison in (not_adding_up, after_final, wrong_shape):
        await publish(env.bootstrap, REQUEST_SUBMISSIONS, bad, poison)
    sentinel = await submitted(env, "early_payoff", early_payoff())  # the partition keeps flowing

    r = await wait_request(env.client, rid, STAFF, "requested")
    assert r["version"] == 1 and len(r["history"]) == 1 and r["type"] == "refinance_application"
    assert sentinel["status"] == "requested" and sentinel["type"] == "early_payoff"
    assert sentinel["reception_no"] != r["reception_no"]  # one counter across types
    reasons = await dead_letters(env.bootstrap, REQUEST_SUBMISSIONS, bad, expect=3)
    assert sum("invalid refinance_application payload" in x for x in reasons) >= 1, reasons
    assert sum("invalid early_payoff payload" in x for x in reasons) >= 2, reasons
    for poison in (not_adding_up, after_final, wrong_shape):
        missing = await env.client.get(f"/api/v1/requests/{poison.data.request_id}", headers=auth(HQ))
        assert missing.status_code == 404
    listed = await env.client.get(
        "/api/v1/requests", params={"contract_no": envelope.subject}, headers=auth(STAFF)
    )
    assert [i["request_id"] for i in listed.json()["items"]] == [rid]


async def test_two_approvers_at_once_one_wins(env: Env) -> None:
    await env.set_flow(True, False)
    try:
        for request_type, body in (("refinance_application", refinance()), ("early_payoff", early_payoff())):
            r = await submitted(env, request_type, body, "store_pending")
            results = await asyncio.gather(
                act(env.client, MANAGER, r["request_id"], "approve", r["version"]),
                act(
                    env.client,
                    MANAGER,
                    r["request_id"],
                    "send_back",
                    r["version"],
                    note="連絡先を確認してください",
                ),
                act(env.client, MANAGER, r["request_id"], "approve", r["version"]),
            )
            codes = sorted(x.status_code for x in results)
            assert codes == [200, 409, 409], [x.text for x in results]
            after = await wait_request(env.client, r["request_id"], STAFF)
            assert after["version"] == r["version"] + 1 and len(after["history"]) == 2
    finally:
        await env.set_flow(False, False)


async def test_tfc_answers_per_type(env: Env) -> None:
    await env.set_flow(False, False)
    ref = await submitted(env, "refinance_application", refinance(), "requested")
    ep = await submitted(env, "early_payoff", early_payoff(), "requested")
    for r in (ref, ep):
        await tfc(env.bootstrap, r["request_id"], "accept")
        await wait_request(env.client, r["request_id"], STAFF, "tfc_processing")
    # Misplaced answers are refused with the reason.
    await tfc(env.bootstrap, ref["request_id"], "message", "金額", payoff_amount=100)
    await tfc(env.bootstrap, ep["request_id"], "complete", result="approved", payoff_amount=100)
    ref_reasons = await dead_letters(env.bootstrap, TFC_REQUEST_UPDATES, ref["request_id"], 1)
    assert any("payoff_amount_not_applicable" in x for x in ref_reasons), ref_reasons
    ep_reasons = await dead_letters(env.bootstrap, TFC_REQUEST_UPDATES, ep["request_id"], 1)
    assert any("result_not_applicable" in x for x in ep_reasons), ep_reasons
    # The amount; the same again changes nothing; a corrected amount with the same text applies.
    await tfc(
        env.bootstrap, ep["request_id"], "message", "早期完済金額をご連絡します。", payoff_amount=1_000_000
    )
    first = await wait_request(env.client, ep["request_id"], STAFF, "tfc_message")
    await tfc(
        env.bootstrap, ep["request_id"], "message", "早期完済金額をご連絡します。", payoff_amount=1_000_000
    )
    await tfc(
        env.bootstrap, ep["request_id"], "message", "早期完済金額をご連絡します。", payoff_amount=990_000
    )

    async def corrected() -> dict[str, Any]:
        r = await wait_request(env.client, ep["request_id"], STAFF, "tfc_message")
        assert r["payoff_amount"] == 990_000, r["payoff_amount"]
        return r

    later = await eventually(corrected, timeout_s=20)
    assert later["version"] == first["version"] + 1  # the duplicate made no change
    change = later["history"][-1]["changes"]
    assert change["payoff_amount"] == [1_000_000, 990_000]
    await tfc(env.bootstrap, ep["request_id"], "complete")
    done = await wait_request(env.client, ep["request_id"], STAFF, "completed")
    assert done["payoff_amount"] == 990_000
    await tfc(env.bootstrap, ref["request_id"], "complete", result="approved")
    done = await wait_request(env.client, ref["request_id"], STAFF, "completed")
    assert done["result"] == "approved" and done["history"][-1]["changes"]["result"] == [None, "approved"]
    page = await env.client.get(f"/requests/{ref['request_id']}", cookies={"jpass_token": token_for(STAFF)})
    assert 'id="result" data-result="approved"' in page.text and 'id="plan"' in page.text


# --------------------------------------------------------------------------------------------
# Consumers of the shapes as they were before SPEC §9.2 (copied here, unchanged)


class OldParty(BaseModel):
    user_id: str
    name: str
    role: Literal["staff", "store_manager", "hq"]
    email: str | None = None


class OldJpassRequest(BaseModel):
    """`jpass.requests.v1` as TFC's consumer knew it (issue 15)."""

    event: Literal["requested", "corrected", "withdrawn"]
    request_id: str
    type: str
    version: int
    contract_no: str
    dealer_code: str
    store_code: str
    submitter: OldParty
    payload: dict[str, Any]
    requested_at: datetime | None
    at: datetime
    reception_no: str | None = None


class OldRequestUpdate(BaseModel):
    """`tfc.request-updates.v1` as J-PASS read it before (extra fields ignored, as configured then)."""

    request_id: str
    action: Literal["accept", "hold", "message", "resume", "complete", "send_back"]
    message: str | None = None
    at: datetime
    update_id: str | None = None


async def test_old_shape_consumers_parse_every_new_message(env: Env) -> None:
    await env.set_flow(False, False)
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()  # approvals here runs on the real clock
    upcoming = {  # still valid when corrected (today ≤ payoff date ≤ final date)
        "desired_payoff_date": (today + timedelta(days=10)).isoformat(),
        "final_payment_date": (today + timedelta(days=60)).isoformat(),
    }
    made = [
        await submitted(env, "refinance_application", refinance(), "requested"),
        await submitted(env, "early_payoff", early_payoff(**upcoming), "requested"),
    ]
    for r in made:  # every event TFC may get about them: requested, corrected (by the submitter), withdrawn
        corrected = await act(
            env.client,
            STAFF,
            r["request_id"],
            "correct",
            r["version"],
            payload={**r["payload"], "contact2": "090-1111-2222"},
        )
        assert corrected.status_code == 200, corrected.text
        withdrawn = await act(env.client, STAFF, r["request_id"], "withdraw", corrected.json()["version"])
        assert withdrawn.status_code == 200, withdrawn.text
        records = await records_for(env.bootstrap, JPASS_REQUESTS, r["request_id"], 4)
        olds = [OldJpassRequest.model_validate(record) for record in records]
        # corrected in 依頼中 without approval steps: corrected, then requested again
        assert [old.event for old in olds] == ["requested", "corrected", "requested", "withdrawn"]
        for old in olds:
            assert old.type == r["type"] and old.reception_no == r["reception_no"]
        assert olds[0].payload == r["payload"] and olds[1].payload["contact2"] == "090-1111-2222"
        assert olds[1].payload.get("plan") == r["payload"].get("plan")  # the plan travels unchanged
    ep = made[1]["request_id"]
    updates = [
        RequestUpdate(request_id=ep, action="message", at=datetime.now(UTC), payoff_amount=1_234_567),
        RequestUpdate(
            request_id=made[0]["request_id"], action="complete", at=datetime.now(UTC), result="declined"
        ),
    ]
    for update in updates:
        old = OldRequestUpdate.model_validate_json(update.model_dump_json())
        assert old.action == update.action and old.request_id == update.request_id
    # And what approvals publishes about them is still the status event every consumer reads.
    records = await read_topic(env.bootstrap, "jpass.request-status.v1", expect=10**6, timeout_s=1.0)
    mine = [json.loads(r.value) for r in records if r.key == ep.encode()]
    assert mine and all(m["data"]["payload"]["payment_method"] == "bank_transfer" for m in mine)
    assert Party.model_validate(mine[0]["data"]["submitter"]).user_id == STAFF


async def test_the_asyncapi_document_shows_each_types_payload(env: Env) -> None:
    doc = (await env.client.get("/asyncapi/approvals.json")).json()
    messages = doc["components"]["messages"]
    for request_type, fields in (
        ("vehicle_return", {"returned_on", "not_returned_reason"}),
        ("refinance_application", {"consent_obtained_on", "plan"}),
        ("early_payoff", {"desired_payoff_date", "payment_method"}),
    ):
        out = messages[f"jpass_requests_v1__JpassRequest_{request_type}"]["payload"]
        assert out["properties"]["type"]["const"] == request_type
        schema = json.dumps(out, ensure_ascii=False)
        assert all(f'"{field}"' in schema for field in fields), (request_type, schema[:400])
    submissions = [k for k in messages if k.startswith("jpass_returns_v1__")]
    assert len(submissions) == 3, submissions
    plan = json.dumps(messages["jpass_returns_v1__jpass_refinance_application_submitted"], ensure_ascii=False)
    assert '"monthly_payment"' in plan and '"total_payment"' in plan
    update = messages["tfc_request-updates_v1__RequestUpdate"]["payload"]["properties"]
    assert "result" in update and "payoff_amount" in update
    status = json.dumps(messages["jpass_request-status_v1__jpass_request_status_changed"], ensure_ascii=False)
    assert '"payoff_amount"' in status and '"result"' in status


async def test_the_request_page_corrects_each_type_and_keeps_the_plan(env: Env) -> None:
    await env.set_flow(False, True)
    try:
        r = await submitted(env, "refinance_application", refinance(), "hq_pending")
        cookies = {"jpass_token": token_for(STAFF)}
        page = await env.client.get(f"/requests/{r['request_id']}", cookies=cookies)
        # read-only review first (issue 16); 訂正 is an explicit mode
        assert 'name="consent_obtained_on"' not in page.text and 'href="/requests/' in page.text
        assert 'id="start-correct"' in page.text and 'value="correct"' not in page.text
        page = await env.client.get(f"/requests/{r['request_id']}?mode=correct", cookies=cookies)
        assert 'name="consent_obtained_on"' in page.text and "再分割プランは訂正できません" in page.text
        form = {
            "version": str(r["version"]),
            "action": "correct",
            "has_payload": "1",
            "request_type": "refinance_application",
            "contact1": "03-9999-0000",
            "contact3_email": "tanto@example.com",
            "notify_on_completion": "on",
            "consent_obtained_on": "2099-01-01",
        }
        refused = await env.client.post(f"/requests/{r['request_id']}", data=form, cookies=cookies)
        assert refused.status_code == 422 and "同意取得日は本日以前の日付を入力してください" in refused.text
        form["consent_obtained_on"] = "2026-05-01"
        done = await env.client.post(f"/requests/{r['request_id']}", data=form, cookies=cookies)
        assert done.status_code == 303, done.text
        after = await wait_request(env.client, r["request_id"], STAFF, "hq_pending")
        assert after["payload"]["plan"] == PLAN and after["payload"]["contact1"] == "03-9999-0000"
        assert after["payload"]["consent_obtained_on"] == "2026-05-01"
        # The API refuses a changed plan, with the reason next to the field.
        changed = await act(
            env.client,
            STAFF,
            r["request_id"],
            "correct",
            after["version"],
            payload=refinance(plan={**PLAN, "months": 36}),
        )
        assert changed.status_code == 422 and "plan" in changed.json()["errors"], changed.text

        today = datetime.now(ZoneInfo("Asia/Tokyo")).date()  # approvals here runs on the real clock
        final = (today + timedelta(days=60)).isoformat()
        body = early_payoff(
            desired_payoff_date=(today + timedelta(days=10)).isoformat(), final_payment_date=final
        )
        ep = await submitted(env, "early_payoff", body, "hq_pending")
        form = {
            "version": str(ep["version"]),
            "action": "correct",
            "has_payload": "1",
            "request_type": "early_payoff",
            "contact1": "03-1234-5678",
            "desired_payoff_date": (today + timedelta(days=20)).isoformat(),
            "payment_method": "account_transfer",
        }
        done = await env.client.post(f"/requests/{ep['request_id']}", data=form, cookies=cookies)
        assert done.status_code == 303, done.text
        after = await wait_request(env.client, ep["request_id"], STAFF, "hq_pending")
        assert after["payload"]["payment_method"] == "account_transfer"
        assert after["payload"]["final_payment_date"] == final
    finally:
        await env.set_flow(False, False)
