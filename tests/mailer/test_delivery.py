"""SMTP down, then up: every recorded mail goes out exactly once — also across a restart of the mailer."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

from services.mailer.main import create_app
from shared.topics import REQUEST_STATUS, REQUEST_TIMEOUTS
from tests.mailer.conftest import Smtp, mailer_settings, publish_all, wait_processed
from tests.mailer.factories import envelope, status_changed, timed_out
from tests.support import auth, eventually, running

HQ = auth("d1-hq")


async def test_mails_wait_for_smtp_and_go_out_once_even_across_a_restart(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]], smtp: Smtp
) -> None:
    tag = uuid.uuid4().hex[:8]
    hq_emails = [f"hq1-{tag}@example.com", f"hq2-{tag}@example.com"]
    contact = f"contact-{tag}@example.com"
    approval = envelope(
        status_changed(
            contract_no=f"A{tag}", old_status=None, new_status="hq_pending", hq_approver_emails=hq_emails
        )
    )
    reminder = envelope(timed_out(contract_no=f"R{tag}", contact_email=contact))
    completion = envelope(
        status_changed(
            contract_no=f"C{tag}", old_status="tfc_processing", new_status="completed", contact_email=contact
        )
    )
    database_url = await pg_database("mailer")
    settings = mailer_settings(kafka_bootstrap, database_url, smtp)  # nothing listens on smtp.port yet

    async def log(client) -> list[dict]:
        r = await client.get("/api/v1/mail-log", params={"limit": 500}, headers=HQ)
        return [i for i in r.json()["items"] if tag in i["to"]]

    async with running(create_app(settings)) as client:
        await publish_all(
            kafka_bootstrap,
            [(REQUEST_STATUS, approval.subject, approval), (REQUEST_TIMEOUTS, reminder.subject, reminder)],
        )

        async def retried_while_down() -> None:
            items = await log(client)
            assert len(items) == 3 and all(i["status"] == "pending" and i["attempts"] >= 2 for i in items)
            assert all(i["last_error"] and i["status_label"].startswith("再送待ち") for i in items)

        await eventually(retried_while_down)
        metrics = (await client.get("/mailer/metrics")).text
        assert 'jpass_emails_total{kind="approval_request",outcome="retried"}' in metrics
        await smtp.start()

        async def all_sent() -> None:
            assert all(i["status"] == "sent" for i in await log(client))

        await eventually(all_sent)
        assert sorted(m["to"][0] for m in smtp.messages(tag)) == sorted([*hq_emails, contact])

        # SMTP goes down again; a mail is recorded but cannot go out before the mailer stops.
        await smtp.stop()
        await publish_all(kafka_bootstrap, [(REQUEST_STATUS, completion.subject, completion)])

        async def completion_waiting() -> None:
            waiting = [i for i in await log(client) if i["kind"] == "completion"]
            assert len(waiting) == 1 and waiting[0]["status"] == "pending" and waiting[0]["attempts"] >= 1

        await eventually(completion_waiting)

    await smtp.start()
    async with running(create_app(settings)) as client:
        # the same triggers again under new envelope ids, after the restart: no new mail
        again = [envelope(approval.data), envelope(completion.data)]
        await publish_all(kafka_bootstrap, [(REQUEST_STATUS, ev.subject, ev) for ev in again])
        await wait_processed(database_url, [ev.id for ev in again])

        async def delivered_after_restart() -> list[dict]:
            items = await log(client)
            assert len(items) == 4 and all(i["status"] == "sent" for i in items)
            return items

        await eventually(delivered_after_restart)

    got = Counter(m["to"][0] for m in smtp.messages(tag))
    assert got == Counter([*hq_emails, contact, contact])  # reminder + completion to 連絡先3
    assert len({m["message_id"] for m in smtp.messages(tag)}) == 4
