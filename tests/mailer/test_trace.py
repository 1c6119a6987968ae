"""The e-mail send continues the trace of the event that triggered it (form → … → e-mail)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.mailer.db import Mail
from services.mailer.main import create_app
from shared.db import make_engine, make_sessionmaker
from shared.topics import REQUEST_STATUS
from tests.mailer.conftest import Smtp, mailer_settings
from tests.mailer.factories import envelope, status_changed
from tests.support import eventually, running


async def test_a_mail_row_carries_the_trace_of_its_event(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]], smtp: Smtp
) -> None:
    tag = uuid.uuid4().hex[:8]
    event = envelope(
        status_changed(
            contract_no=f"T{tag}",
            old_status=None,
            new_status="hq_pending",
            hq_approver_emails=[f"hq-{tag}@x.jp"],
        )
    )
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    database_url = await pg_database("mailtrace")
    async with running(create_app(mailer_settings(kafka_bootstrap, database_url, smtp))):
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                REQUEST_STATUS,
                event.model_dump_json().encode(),
                key=event.subject.encode(),
                headers=[("traceparent", traceparent.encode())],
            )
        finally:
            await producer.stop()
        engine = make_engine(database_url)

        async def recorded() -> str | None:
            async with make_sessionmaker(engine)() as session:
                rows = (
                    await session.execute(select(Mail.traceparent).where(Mail.contract_no == f"T{tag}"))
                ).all()
            assert rows
            return rows[0][0]

        try:
            stored = await eventually(recorded)
        finally:
            await engine.dispose()
    assert stored is not None and stored.split("-")[1] == trace_id
