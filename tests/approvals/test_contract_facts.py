"""The approver reviews a request beside the contract it is for (issue 16; SPEC §4 契約者情報, the manual's
「入力内容が正しいか確認し」): every request type shows the facts its submission carried — address, vehicle,
制度, final date — read-only and the same way; a submission of an older producer (no facts) still creates its
request, and a consumer of the old shape still reads the new submissions."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from shared.events import SUBMISSION_EVENT_TYPES, Envelope, Party, RequestSubmitted, SubmittedContract
from shared.topics import REQUEST_SUBMISSIONS
from tests.approvals.conftest import Env
from tests.approvals.support import act, cookies, party, payload, wait_request
from tests.approvals.test_request_type_rules import early_payoff, refinance
from tests.support import publish

STAFF, MANAGER = "d1s1-staff1", "d1s1-manager"
EVENT_TYPES = {request_type: event_type for event_type, request_type in SUBMISSION_EVENT_TYPES.items()}
BODIES = {"vehicle_return": payload, "refinance_application": refinance, "early_payoff": early_payoff}
FACTS = SubmittedContract(
    contractor_postal_code="150-0002",
    contractor_address="東京都渋谷区渋谷2-2-2 渋谷ハイツ101",
    model="アルファード",
    registration_no="品川 330 さ 77-01",
    contract_kind="installment",
    final_payment_date=date(2026, 6, 30),
    final_payment_amount=2_345_000,
)


def submission(request_type: str, contract: SubmittedContract | None) -> Envelope[RequestSubmitted]:
    data = RequestSubmitted(
        request_id=str(uuid.uuid4()),
        contract_no=f"K{uuid.uuid4().hex[:9].upper()}",
        dealer_code="D001",
        store_code="S0101",
        store_name="品川店",
        contractor_name="渋谷 花子",
        contractor_name_kana="シブヤ ハナコ",
        program="max_value_a",
        contract=contract,
        submitter=party(STAFF),
        payload=BODIES[request_type](),
        submitted_at=datetime.now(UTC),
    )
    return Envelope[RequestSubmitted](
        source="test/intake", type=EVENT_TYPES[request_type], subject=data.contract_no, data=data
    )


async def review_of(env: Env, request_id: str, user: str = MANAGER, query: str = "") -> str:
    page = await env.client.get(f"/requests/{request_id}{query}", cookies=cookies(user))
    assert page.status_code == 200, page.text
    return page.text


@pytest.mark.parametrize("request_type", list(EVENT_TYPES))
async def test_every_type_shows_the_contracts_facts_beside_the_request(env: Env, request_type: str) -> None:
    await env.set_flow(True, False)
    lease = request_type == "early_payoff"  # a lease's final date is its リース満了年月日
    facts = FACTS.model_copy(update={"contract_kind": "lease"}) if lease else FACTS
    envelope = submission(request_type, facts)
    await publish(env.bootstrap, REQUEST_SUBMISSIONS, envelope.subject, envelope)
    request = await wait_request(env.client, envelope.data.request_id, STAFF, "store_pending")
    assert request["contract"] == {
        "contractor_name_kana": "シブヤ ハナコ",
        **facts.model_dump(mode="json"),
        "recorded": True,
    }

    review = await review_of(env, request["request_id"])
    assert 'id="contract-address">〒150-0002 東京都渋谷区渋谷2-2-2 渋谷ハイツ101</dd>' in review
    assert 'id="contract-vehicle">アルファード 品川 330 さ 77-01</dd>' in review
    assert "マックスバリュープランA（エース）</dd>" in review and "渋谷 花子（シブヤ ハナコ）" in review
    final_label = "リース満了年月日" if lease else "最終回年月日"
    assert f'<dt>{final_label}</dt><dd id="final-date">2026/06/30</dd>' in review
    assert 'id="final-amount">2,345,000円</dd>' in review and "contract-not-recorded" not in review
    # 訂正 changes the request, never the contract: the facts stay text, in no form field
    correcting = await review_of(env, request["request_id"], query="?mode=correct")
    assert 'id="correct-form"' in correcting and 'id="contract-address">〒150-0002' in correcting
    assert 'name="contractor_address"' not in correcting and 'name="final_payment_date"' not in correcting


async def test_a_correction_leaves_the_contracts_facts_as_submitted(env: Env) -> None:
    await env.set_flow(False, False)
    envelope = submission("vehicle_return", FACTS)
    await publish(env.bootstrap, REQUEST_SUBMISSIONS, envelope.subject, envelope)
    request = await wait_request(env.client, envelope.data.request_id, STAFF, "requested")
    injected = {**request["payload"], "contact2": "090-1111-2222", "contractor_address": "改ざん"}
    refused = await act(
        env.client, STAFF, request["request_id"], "correct", request["version"], payload=injected
    )
    assert refused.status_code == 422, refused.text  # the payload schema has no room for contract facts
    fixed = {**request["payload"], "contact2": "090-1111-2222"}
    corrected = await act(
        env.client, STAFF, request["request_id"], "correct", request["version"], payload=fixed
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["contract"] == request["contract"]


async def test_a_submission_of_an_older_producer_shows_what_is_known(env: Env) -> None:
    """No `contract` in the message (as before): the request is created; the page says what is not known and
    where to look; an 早期完済受付's payload still gives the final date."""
    await env.set_flow(False, False)
    for request_type in ("vehicle_return", "early_payoff"):
        envelope = submission(request_type, None)
        old_message = envelope.model_dump(mode="json")
        del old_message["data"]["contract"]  # the old shape: the field did not exist
        await publish(env.bootstrap, REQUEST_SUBMISSIONS, envelope.subject, old_message)
        request = await wait_request(env.client, envelope.data.request_id, STAFF, "requested")
        assert request["contract"]["recorded"] is False and request["contract"]["contractor_address"] is None
        review = await review_of(env, request["request_id"], STAFF)
        assert 'id="contract-address">―</dd>' in review and 'id="contract-vehicle">―</dd>' in review
        assert 'id="contract-not-recorded"' in review and f'href="/contracts/{envelope.subject}"' in review
        final = "2026/06/30" if request_type == "early_payoff" else "―"
        assert f'<dd id="final-date">{final}</dd>' in review
        assert 'id="final-amount"' not in review


class OldParty(BaseModel):
    user_id: str
    name: str
    role: str
    email: str | None = None


class OldRequestSubmitted(BaseModel):
    """The submission as its consumers (approvals, selection) read it before it carried the contract."""

    request_id: str
    contract_no: str
    dealer_code: str
    store_code: str
    contractor_name: str
    program: str
    submitter: OldParty
    payload: dict[str, Any]
    submitted_at: datetime
    store_name: str = ""
    contractor_name_kana: str = ""


def test_an_old_shape_consumer_reads_the_new_submissions() -> None:
    for request_type in EVENT_TYPES:
        new = submission(request_type, FACTS)
        raw = json.loads(new.model_dump_json())
        old = OldRequestSubmitted.model_validate(raw["data"])
        assert (old.request_id, old.contract_no, old.program) == (
            new.data.request_id,
            new.data.contract_no,
            "max_value_a",
        )
        assert old.payload == new.data.payload and old.submitter.user_id == STAFF
    assert Party.model_validate(raw["data"]["submitter"]).user_id == STAFF
