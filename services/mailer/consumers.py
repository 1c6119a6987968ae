"""Subscribers: request status changes and reminder timeouts → pending e-mails."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.mailer import handlers
from services.mailer.config import MailerSettings
from services.mailer.render import MailRenderer
from services.mailer.sender import MailSender
from shared.events import (
    REQUEST_STATUS_CHANGED,
    REQUEST_TIMED_OUT,
    RawEnvelope,
    RequestStatusChanged,
    RequestTimedOut,
)
from shared.messaging import PoisonMessage, parse_data, subscribe
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, REQUEST_TIMEOUTS

# One consumer group per topic: two consumers of one group on different topics made Tansu's group
# join stall at start (the second consumer never got its assignment).
GROUPS = {REQUEST_STATUS: "mailer-status", REQUEST_TIMEOUTS: "mailer-timeouts"}
M = TypeVar("M", bound=BaseModel)
Record = Callable[[AsyncSession, str, M, MailRenderer, str], Awaitable[int]]


def register(runtime: Runtime, settings: MailerSettings, renderer: MailRenderer, sender: MailSender) -> None:
    def consumer(
        expected_type: str, model: type[M], record: Record[M]
    ) -> Callable[[RawEnvelope], Awaitable[None]]:
        async def on_envelope(envelope: RawEnvelope) -> None:
            if envelope.type != expected_type:
                raise PoisonMessage(f"unexpected event type {envelope.type!r}")
            event = parse_data(envelope, model)
            async with runtime.sessionmaker() as session, session.begin():
                recorded = await record(session, envelope.id, event, renderer, settings.mail_from)
            if recorded:
                sender.notify()

        return on_envelope

    for topic, expected, model, record in (
        (REQUEST_STATUS, REQUEST_STATUS_CHANGED, RequestStatusChanged, handlers.record_status_change),
        (REQUEST_TIMEOUTS, REQUEST_TIMED_OUT, RequestTimedOut, handlers.record_timeout),
    ):
        subscribe(
            runtime.broker,
            topic,
            settings=settings,
            group_id=GROUPS[topic],
            model=RawEnvelope,
            handler=consumer(expected, model, record),  # type: ignore[arg-type]
        )
