"""Transactional outbox and inbox.

Outbox: a service writes the event row in the same transaction as its change; the relay publishes the
committed rows in id order and deletes exactly those once the broker acknowledged. A row whose transaction
commits later with a lower id (ids are taken at insert, not at commit) is published in the next round, after
rows numbered above it: consumers take events in any order (one key's changes are serialised anyway by the
row they change, so their ids follow their commits).
A crash between publish and delete re-publishes: consumers dedupe by event id (the inbox).

Inbox: a consumer records each processed event id in the same transaction as its own changes, so a
redelivered event has no second effect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import is_postgresql, rows_changed, upsert
from shared.events import Envelope
from shared.observability import OUTBOX_PUBLISHED, current_trace_headers
from shared.topics import EVENT_KEYS

log = logging.getLogger(__name__)

# One relay per service database drains at a time (several instances of a service may run).
_RELAY_LOCK_ID = 7_301_001


def _encode(value: BaseModel | Mapping[str, Any] | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json().encode()
    return json.dumps(value, ensure_ascii=False, default=str).encode()


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], outbox: Outbox
) -> AsyncIterator[AsyncSession]:
    """One use case's transaction: what it changes and the events it stages commit together; after the
    commit the relay is woken to send them now (nothing staged: the relay finds nothing)."""
    async with sessionmaker() as session, session.begin():
        yield session
    outbox.notify()


class Outbox:
    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "outbox",
            metadata,
            Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
            Column("topic", String(200), nullable=False),
            Column("key", String(200), nullable=False),
            Column("value", LargeBinary, nullable=False),
            Column("headers", Text, nullable=True),
            Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        )
        self._wake = asyncio.Event()
        self.service = "unknown"  # metrics label; set by the Runtime

    async def stage(
        self,
        session: AsyncSession,
        *,
        topic: str,
        key: str,
        value: BaseModel | Mapping[str, Any] | bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Stage a message in `session`'s transaction; it is sent only if that transaction commits.
        The current trace context travels with it (W3C `traceparent` header)."""
        all_headers = {**current_trace_headers(), **(headers or {})}
        await session.execute(
            self.table.insert().values(
                topic=topic,
                key=key,
                value=_encode(value),
                headers=json.dumps(all_headers) if all_headers else None,
            )
        )

    async def stage_event(self, session: AsyncSession, topic: str, event_type: str, data: BaseModel) -> None:
        """Stage one of our events on an enveloped topic: the envelope's source is this service, its subject
        (also the Kafka key, so one contract's or request's events stay in order) the data's field the topic
        is keyed by (shared.topics.EVENT_KEYS)."""
        subject = str(getattr(data, EVENT_KEYS[topic]))
        envelope = Envelope[Any](source=f"jpass/{self.service}", type=event_type, subject=subject, data=data)
        await self.stage(session, topic=topic, key=subject, value=envelope)

    def notify(self) -> None:
        """Call after a commit that staged messages: the relay sends them now instead of at its next poll."""
        self._wake.set()

    async def backlog(self, session: AsyncSession) -> int:
        return int((await session.execute(select(func.count()).select_from(self.table))).scalar_one())

    async def relay_once(
        self, sessionmaker: async_sessionmaker[AsyncSession], producer: AIOKafkaProducer, batch: int = 500
    ) -> int:
        """Publish up to `batch` staged messages in order; returns how many were sent."""
        async with sessionmaker() as session, session.begin():
            if is_postgresql(session):
                got = await session.execute(
                    text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _RELAY_LOCK_ID}
                )
                if not got.scalar_one():
                    return 0
            rows = (await session.execute(select(self.table).order_by(self.table.c.id).limit(batch))).all()
            if not rows:
                return 0
            # Pipelined, in id order: one producer keeps per-partition order. The relay only produces
            # after `connect` made sure the topics exist (see `run`).
            futures = []
            for row in rows:
                headers = (
                    [(k, v.encode()) for k, v in json.loads(row.headers).items()] if row.headers else None
                )
                futures.append(
                    await producer.send(row.topic, row.value, key=row.key.encode(), headers=headers)
                )
            await asyncio.gather(*futures)
            OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
            # Exactly the rows sent, not `id <= last`: a transaction that took a lower id but committed
            # while this batch was in flight (another instance, a slow commit) is visible to this DELETE
            # (a statement of its own, a new snapshot) and would be deleted unsent. It goes next round.
            await session.execute(delete(self.table).where(self.table.c.id.in_([row.id for row in rows])))
            return len(rows)

    async def run(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        connect: Callable[[], Awaitable[AIOKafkaProducer]],
        poll_interval_s: float,
        stopping: asyncio.Event,
        send_timeout_s: float = 30.0,
    ) -> None:
        """Drain forever; survive broker and database outages (the rows stay until sent).

        `connect` gives a started producer whose topics exist. After any failure the relay drops its
        producer and connects afresh: a restarted memory-only Tansu has forgotten its topics, acknowledges
        produce requests to missing topics without keeping them, and confuses a producer of the old run."""
        backoff = poll_interval_s
        producer: AIOKafkaProducer | None = None
        try:
            while not stopping.is_set():
                try:
                    if producer is None:
                        producer = await asyncio.wait_for(connect(), timeout=send_timeout_s)
                    sent = await asyncio.wait_for(
                        self.relay_once(sessionmaker, producer), timeout=send_timeout_s
                    )
                    backoff = poll_interval_s
                    if sent:
                        continue
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # broker or database down: keep the rows, try again later
                    log.warning("outbox relay failed, retrying: %s", type(e).__name__)
                    backoff = min(backoff * 2, 5.0)
                    if producer is not None:
                        await _close_quietly(producer)
                        producer = None
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=backoff)
                except TimeoutError:
                    pass
        finally:
            if producer is not None:
                await _close_quietly(producer)


async def _close_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), timeout=5)
    except Exception:
        log.debug("producer did not stop cleanly")


class Inbox:
    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "inbox",
            metadata,
            Column("event_id", String(200), primary_key=True),
            Column("processed_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        )

    async def first_time(self, session: AsyncSession, event_id: str) -> bool:
        """Record `event_id` in the session's transaction; False if it was processed before."""
        statement = upsert(session, self.table).values(event_id=event_id)
        return await rows_changed(session, statement.on_conflict_do_nothing(index_elements=["event_id"])) == 1
