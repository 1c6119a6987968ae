"""Incoming messages: submissions (idempotent, poison → DLQ) and TFC updates (poison, duplicates)."""

from __future__ import annotations

import uuid

from shared.events import Envelope
from shared.topics import RETURN_SUBMISSIONS, TFC_REQUEST_UPDATES, dead_letter
from tests.approvals.conftest import Env
from tests.approvals.support import payload, submission, submit, tfc, wait_request
from tests.support import auth, eventually, publish, read_topic

STAFF = "d1s1-staff1"


async def dead_letters(bootstrap: str, topic: str, key: str, expect: int) -> list[str]:
    async def check() -> list[str]:
        records = await read_topic(bootstrap, dead_letter(topic), expect=10**6, timeout_s=1.0)
        reasons = [dict(r.headers)["dlq-reason"].decode() for r in records if r.key == key.encode()]
        assert len(reasons) >= expect, reasons
        return reasons

    return await eventually(check, timeout_s=20)


async def test_submissions_are_idempotent_and_poison_is_dead_lettered(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(False, False)
    envelope = submission(STAFF)
    rid = envelope.data.request_id
    await publish(b, RETURN_SUBMISSIONS, envelope.subject, envelope)
    await publish(b, RETURN_SUBMISSIONS, envelope.subject, envelope)  # redelivery: same event id
    again = Envelope(source="test", type=envelope.type, subject=envelope.subject, data=envelope.data)
    await publish(b, RETURN_SUBMISSIONS, envelope.subject, again)  # a new event, same request_id

    bad_contract = f"BAD{uuid.uuid4().hex[:6]}"
    invalid = submission(STAFF, contract_no=bad_contract, body=payload(result="returned", returned_on=None))
    await publish(b, RETURN_SUBMISSIONS, bad_contract, invalid)
    unknown_type = Envelope(source="test", type="jpass.return.exploded", subject=bad_contract, data={})
    await publish(b, RETURN_SUBMISSIONS, bad_contract, unknown_type)
    await publish(b, RETURN_SUBMISSIONS, bad_contract, b"{not json")
    sentinel = await submit(b, c, STAFF)  # the partition keeps flowing

    r = await wait_request(c, rid, STAFF)
    assert r["version"] == 1 and len(r["history"]) == 1 and r["status"] == "requested"
    assert sentinel["status"] == "requested"
    reasons = await dead_letters(b, RETURN_SUBMISSIONS, bad_contract, expect=3)
    assert any("invalid vehicle_return payload" in x for x in reasons), reasons
    assert any("unknown event type" in x for x in reasons), reasons
    assert any("invalid message" in x for x in reasons), reasons
    missing = await c.get(f"/api/v1/requests/{invalid.data.request_id}", headers=auth("d1-hq"))
    assert missing.status_code == 404


async def test_tfc_updates_poison_duplicates_and_order(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(False, False)
    r = await submit(b, c, STAFF)
    rid = r["request_id"]
    assert r["status"] == "requested"

    await tfc(b, rid, "complete")  # not accepted yet: out of order
    await tfc(b, rid, "resume")
    await publish(b, TFC_REQUEST_UPDATES, rid, b'{"request_id": "%s", "action": "explode"}' % rid.encode())
    await publish(b, TFC_REQUEST_UPDATES, rid, b"{oops")
    await tfc(b, rid, "accept", update_id="u-1")
    await tfc(b, rid, "accept", update_id="u-1")  # same update twice
    await tfc(b, rid, "accept")  # the same action again: already applied
    await tfc(b, rid, "message", None)  # a message needs text
    unknown = str(uuid.uuid4())
    await tfc(b, unknown, "accept")
    await tfc(b, rid, "message", "ご連絡事項", update_id="u-2")
    await tfc(b, rid, "message", "ご連絡事項")  # same text again: no effect
    await tfc(b, rid, "hold")

    r = await wait_request(c, rid, STAFF, "tfc_on_hold")
    assert r["version"] == 4, [h["action"] for h in r["history"]]
    assert [h["action"] for h in r["history"]] == ["submit", "accept", "message", "hold"]
    assert r["tfc_message"] == "ご連絡事項"

    reasons = await dead_letters(b, TFC_REQUEST_UPDATES, rid, expect=5)
    joined = "\n".join(reasons)
    assert "invalid_tfc_transition" in joined and "「依頼中」" in joined
    assert "message_required" in joined
    assert joined.count("invalid message") == 2
    assert len(reasons) == 5, reasons
    unknown_reasons = await dead_letters(b, TFC_REQUEST_UPDATES, unknown, expect=1)
    assert unknown_reasons == [f"unknown request {unknown}"]

    # completion is final: a late send-back is refused and changes nothing
    await tfc(b, rid, "complete")
    await wait_request(c, rid, STAFF, "completed")
    await tfc(b, rid, "send_back")
    await tfc(b, rid, "complete")  # duplicate completion: no effect, no dead letter
    await dead_letters(b, TFC_REQUEST_UPDATES, rid, expect=6)
    r = await wait_request(c, rid, STAFF, "completed")
    assert r["version"] == 5


async def test_health_docs_and_asyncapi(env: Env) -> None:
    c = env.client
    assert (await c.get("/approvals/healthz")).json()["status"] == "ok"
    assert (await c.get("/approvals/readyz")).status_code == 200
    paths = (await c.get("/openapi/approvals.json")).json()["paths"]
    assert "/api/v1/requests/{request_id}/approve" in paths
    doc = (await c.get("/asyncapi/approvals.json")).json()
    text = str(doc)
    topics = ("jpass.returns.v1", "tfc.request-updates.v1", "jpass.requests.v1", "jpass.request-status.v1")
    for topic in topics:
        assert topic in text, topic
    assert (await c.get("/asyncapi/approvals")).status_code == 200
