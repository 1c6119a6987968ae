"""A real SMTP server in-process (aiosmtpd), the mailer's settings, and a quick multi-message publisher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from pydantic import BaseModel
from sqlalchemy import select

from devtools.mailcatcher import CatchingHandler
from services.mailer.config import MailerSettings
from services.mailer.db import inbox
from shared.db import make_engine
from tests.support import eventually, free_port


class RefusingHandler(CatchingHandler):
    """Keeps every message; refuses recipients whose address starts with `reject-` (550)."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("reject-"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class Smtp:
    """An SMTP server on a fixed port that tests can take down and bring back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = RefusingHandler()
        self.controller: Controller | None = None

    async def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        await asyncio.to_thread(self.controller.start)

    async def stop(self) -> None:
        if self.controller is not None:
            await asyncio.to_thread(self.controller.stop)
            self.controller = None

    def messages(self, tag: str) -> list[dict[str, Any]]:
        """Messages to this test's recipients (other tests' leftover events may be mailed here too)."""
        return [m for m in list(self.handler.messages) if any(tag in to for to in m["to"])]


@pytest.fixture
async def smtp() -> AsyncIterator[Smtp]:
    server = Smtp()
    try:
        yield server
    finally:
        await server.stop()


def mailer_settings(kafka_bootstrap: str, database_url: str, smtp: Smtp) -> MailerSettings:
    return MailerSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_timeout_s=2.0,
        mail_poll_interval_s=0.05,
        mail_retry_base_s=0.1,
        mail_retry_max_s=0.4,
        public_base_url="https://jpass.example",
    )


async def publish_all(bootstrap: str, messages: list[tuple[str, str, BaseModel]]) -> None:
    """Publish (topic, key, model) in order with one producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send_and_wait(topic, value.model_dump_json().encode(), key=key.encode())
    finally:
        await producer.stop()


async def processed(database_url: str, event_ids: list[str]) -> set[str]:
    """Which of `event_ids` the mailer's inbox holds (its consumers committed them)."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(inbox.table.c.event_id).where(inbox.table.c.event_id.in_(event_ids))
            )
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def wait_processed(database_url: str, event_ids: list[str]) -> None:
    async def done() -> None:
        assert await processed(database_url, event_ids) == set(event_ids)

    await eventually(done)
