"""Through the real broker, PostgreSQL and an SMTP server: every e-mail type goes out exactly once,
suppressed ones never, duplicates have no effect, HTML escapes user text, and the log is hq-only."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from services.mailer.domain import message_id_for, status_change_key
from services.mailer.main import create_app
from shared.events import Envelope
from shared.topics import REQUEST_STATUS, REQUEST_TIMEOUTS, dead_letter
from tests.mailer.conftest import Smtp, mailer_settings, publish_all, wait_processed
from tests.mailer.factories import envelope, party, status_changed, timed_out
from tests.support import auth, eventually, publish, running, token_for, wait_dead_lettered

XSS = '<script>alert("x")</script>'


async def test_every_mail_once_none_suppressed_and_the_log_scoped(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]], smtp: Smtp
) -> None:
    tag = uuid.uuid4().hex[:8]

    def addr(who: str) -> str:
        return f"{who}-{tag}@example.com"

    staff_no_mail = party("d1s1-staff1", "佐藤 健一", "staff", None)
    manager = party("d1s1-manager", "伊藤 誠", "store_manager", addr("manager"))
    hq = party("d1-hq", "森 隆之", "hq", addr("hq"))
    hq_emails = [addr("hq1"), addr("hq2")]
    contact = addr("contact")
    a = str(uuid.uuid4())

    def step(version: int, old: str | None, new: str, **kw) -> BaseModel:
        base = dict(
            request_id=a,
            contract_no=f"C{tag}",
            contractor_name=f"山田{XSS}",
            version=version,
            old_status=old,
            new_status=new,
            submitter=staff_no_mail,
            contact_email=contact,
            hq_approver_emails=hq_emails,
        )
        return envelope(status_changed(**{**base, **kw}))

    a_history = [
        step(1, None, "store_pending", action="submit", actor=staff_no_mail),
        step(2, "store_pending", "hq_pending", actor=manager),  # 承認依頼 ×2
        step(
            3,
            "hq_pending",
            "store_back",
            action="send_back",
            actor=hq,
            dealer_note=f"理由{XSS}",
            send_back_recipient=manager,
        ),  # 差戻し → 店長
        step(
            4,
            "store_back",
            "staff_back",
            action="send_back",
            actor=manager,
            send_back_recipient=staff_no_mail,
        ),  # no address: nobody mailed (the page says so)
        step(5, "staff_back", "store_pending", action="correct", actor=staff_no_mail),
        step(6, "store_pending", "hq_pending", actor=manager),  # 承認依頼 ×2 again
        step(7, "hq_pending", "requested", actor=hq),
        step(8, "requested", "tfc_processing", action="accept", actor=None),
        step(
            9,
            "tfc_processing",
            "hq_back",
            action="send_back",
            actor=None,
            tfc_message="書類不備",
            send_back_recipient=hq,
        ),  # TFC 差戻し → 本部承認者
        step(10, "hq_back", "requested", actor=hq),
        step(11, "requested", "completed", action="complete", actor=None, approvers=[manager, hq]),  # ×3
    ]
    completion = a_history[-1]
    assert isinstance(completion, Envelope)
    duplicates = [
        completion,  # the same envelope redelivered
        envelope(a_history[1].data),  # the same trigger under a new envelope id
        envelope(completion.data),
    ]
    d001 = dict(contract_no=f"C{tag}", hq_approver_emails=hq_emails, submitter=staff_no_mail)
    no_notify = envelope(
        status_changed(
            **d001,
            old_status="requested",
            new_status="completed",
            contact_email=contact,
            notify_on_completion=False,
            approvers=[hq],
        )
    )
    no_contact = envelope(
        status_changed(
            **d001, old_status="requested", new_status="completed", contact_email=None, approvers=[hq]
        )
    )
    refused = envelope(
        status_changed(
            **{**d001, "hq_approver_emails": [f"reject-{tag}@example.com"]},
            old_status="store_pending",
            new_status="hq_pending",
        )
    )
    other_dealer = envelope(
        status_changed(
            contract_no=f"D{tag}",
            dealer_code="D002",
            store_code="S0201",
            old_status=None,
            new_status="hq_pending",
            hq_approver_emails=[addr("d2hq")],
        )
    )
    status_events = [*a_history, *duplicates, no_notify, no_contact, refused, other_dealer]

    e = str(uuid.uuid4())
    waiting = dict(request_id=e, contract_no=f"E{tag}", contact_email=contact, status="store_pending")
    e1 = envelope(timed_out(**waiting, period_no=1))
    f = dict(
        request_id=str(uuid.uuid4()), contract_no=f"F{tag}", status="hq_pending", hq_approver_emails=hq_emails
    )
    timeout_events = [
        e1,
        e1,  # redelivered
        envelope(e1.data),  # the same period again under a new id
        envelope(timed_out(**waiting, period_no=2)),  # the next period: again
        envelope(timed_out(**f, kind="hq_approval_status_check")),
        envelope(timed_out(**f, kind="submitter_status_check", contact_email=None)),  # no 連絡先3
        envelope(
            timed_out(
                request_id=a,
                contract_no=f"C{tag}",
                status="hq_pending",
                version=6,
                kind="hq_approval_status_check",
                hq_approver_emails=hq_emails,
            )
        ),  # stale
        envelope(timed_out(**{**waiting, "status": "requested"}, period_no=3)),  # not a waiting status
    ]
    bogus = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "x",
        "type": "jpass.bogus",
        "subject": tag,
        "time": "2026-01-01T00:00:00Z",
        "data": {},
    }

    database_url = await pg_database("mailer")
    await smtp.start()
    async with running(create_app(mailer_settings(kafka_bootstrap, database_url, smtp))) as client:
        await publish(kafka_bootstrap, REQUEST_STATUS, tag, bogus)
        for topic, events in ((REQUEST_STATUS, status_events), (REQUEST_TIMEOUTS, timeout_events)):
            # Status changes first: the stale reminder must arrive after the change that made it stale.
            await publish_all(kafka_bootstrap, [(topic, ev.subject, ev) for ev in events])
            last_per_key = {ev.subject: ev.id for ev in events}  # processed last ⇒ the key's others were
            await wait_processed(database_url, list(last_per_key.values()))

        hq1 = auth("d1-hq")

        async def delivered() -> list[dict]:
            log = (await client.get("/api/v1/mail-log", params={"limit": 500}, headers=hq1)).json()["items"]
            mine = [i for i in log if tag in i["to"]]
            assert mine and all(i["status"] != "pending" for i in mine), mine
            return mine

        log = await eventually(delivered)
        messages = smtp.messages(tag)

    expected = Counter(
        {
            (addr("hq1"), f"【J-PASS】承認依頼（ご契約番号：C{tag}）"): 2,  # v2 and v6
            (addr("hq2"), f"【J-PASS】承認依頼（ご契約番号：C{tag}）"): 2,
            (addr("manager"), f"【J-PASS】差戻しのお知らせ（ご契約番号：C{tag}）"): 1,
            (addr("hq"), f"【J-PASS】差戻しのお知らせ（ご契約番号：C{tag}）"): 1,
            (contact, f"【J-PASS】手続完了のお知らせ（ご契約番号：C{tag}）"): 1,
            (addr("manager"), f"【J-PASS】手続完了のお知らせ（ご契約番号：C{tag}）"): 1,
            (addr("hq"), f"【J-PASS】手続完了のお知らせ（ご契約番号：C{tag}）"): 1,
            (addr("d2hq"), f"【J-PASS】承認依頼（ご契約番号：D{tag}）"): 1,
            (contact, f"【J-PASS】手続状況確認のお願い（ご契約番号：E{tag}）"): 2,
            (addr("hq1"), f"【J-PASS】承認状況確認のお願い（ご契約番号：F{tag}）"): 1,
            (addr("hq2"), f"【J-PASS】承認状況確認のお願い（ご契約番号：F{tag}）"): 1,
        }
    )
    got = Counter((m["to"][0], m["subject"]) for m in messages)
    assert got == expected
    assert all(len(m["to"]) == 1 and m["from"] == "j-pass_uketsuke@jpass.example" for m in messages)
    assert len({m["message_id"] for m in messages}) == len(messages)

    # Message-ID from the idempotency key; the link and the escaping in the send-back to the manager
    send_back = next(m for m in messages if m["to"] == [addr("manager")] and "差戻し" in m["subject"])
    assert send_back["message_id"] == message_id_for(
        status_change_key(a, 3, "send_back", addr("manager")), "j-pass_uketsuke@jpass.example"
    )
    assert f"https://jpass.example/requests/{a}" in send_back["text"]
    assert f"山田{XSS}" in send_back["text"] and f"理由{XSS}" in send_back["text"]
    assert "<script>" not in send_back["html"]
    assert "山田&lt;script&gt;" in send_back["html"] and "理由&lt;script&gt;" in send_back["html"]

    # the log: every mail of the dealer once, the refused one failed after one attempt, D002's not here
    assert len(log) == sum(expected.values())  # D002's one is not in D001's log; the refused one is
    by_to = Counter(i["to"] for i in log)
    assert by_to[addr("d2hq")] == 0 and by_to[f"reject-{tag}@example.com"] == 1
    rejected = next(i for i in log if i["to"].startswith("reject-"))
    assert rejected["status"] == "failed" and rejected["attempts"] == 1 and "550" in rejected["last_error"]
    assert rejected["status_label"] == "送信失敗"
    assert all(i["status"] == "sent" and i["attempts"] == 1 for i in log if i is not rejected)
    assert {i["kind"] for i in log} == {
        "approval_request",
        "send_back",
        "completion",
        "status_check",
        "approval_status_check",
    }
    assert all(i["request_url"] == f"https://jpass.example/requests/{i['request_id']}" for i in log)

    await wait_dead_lettered(
        kafka_bootstrap, dead_letter(REQUEST_STATUS), lambda r: bogus["id"].encode() in r.value
    )


async def test_mail_log_is_for_hq_of_the_own_dealer_only(
    kafka_bootstrap: str, any_database: Callable[[str], Awaitable[str]], smtp: Smtp
) -> None:
    tag = uuid.uuid4().hex[:8]
    database_url = await any_database("mailer")  # the local run uses SQLite
    await smtp.start()
    d1 = envelope(
        status_changed(
            contract_no=f"C{tag}",
            old_status=None,
            new_status="hq_pending",
            contractor_name=f"山田{XSS}",
            hq_approver_emails=[f"hq-{tag}@example.com"],
        )
    )
    d2 = envelope(
        status_changed(
            contract_no=f"D{tag}",
            dealer_code="D002",
            store_code="S0201",
            old_status=None,
            new_status="hq_pending",
            hq_approver_emails=[f"d2-{tag}@example.com"],
        )
    )
    async with running(create_app(mailer_settings(kafka_bootstrap, database_url, smtp))) as client:
        await publish_all(kafka_bootstrap, [(REQUEST_STATUS, ev.subject, ev) for ev in (d1, d2)])

        async def both_sent() -> None:
            assert len(smtp.messages(tag)) == 2

        await eventually(both_sent)

        async def log_of(user_id: str) -> list[dict]:
            r = await client.get("/api/v1/mail-log", params={"limit": 500}, headers=auth(user_id))
            assert r.status_code == 200, r.text
            return [i for i in r.json()["items"] if tag in i["to"]]

        async def logged() -> None:
            assert [i["contract_no"] for i in await log_of("d1-hq")] == [f"C{tag}"]
            assert [i["contract_no"] for i in await log_of("d2-hq")] == [f"D{tag}"]

        await eventually(logged)
        one = (await log_of("d1-hq"))[0]
        assert one["request_id"] == d1.subject and one["kind_label"] == "承認依頼メール"
        assert one["status_label"] == "送信済み" and one["sent_at"]
        r = await client.get("/api/v1/mail-log", params={"request_id": d2.subject}, headers=auth("d1-hq"))
        assert r.json() == {"total": 0, "items": []}

        for user_id in ("d1s1-staff1", "d1s1-manager", "d2s1-staff1"):
            r = await client.get("/api/v1/mail-log", headers=auth(user_id))
            assert r.status_code == 403 and r.json()["code"] == "forbidden"
            page = await client.get("/mail-log", cookies={"jpass_token": token_for(user_id)})
            assert page.status_code == 403
        assert (await client.get("/api/v1/mail-log")).status_code == 401
        assert (await client.get("/mail-log")).status_code == 303

        page = await client.get("/mail-log", cookies={"jpass_token": token_for("d1-hq")})
        assert page.status_code == 200 and "メール送信履歴" in page.text
        assert f"hq-{tag}@example.com" in page.text and f"d2-{tag}@example.com" not in page.text
        assert "承認依頼メール" in page.text and "送信済み" in page.text
        assert f'href="/requests/{d1.subject}"' in page.text
        assert "<script>" not in page.text.split("<main>")[1]
