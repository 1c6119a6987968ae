"""A service's runtime: database, broker, outbox relay and the FastAPI lifespan that starts/stops them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import make_engine, make_sessionmaker
from shared.messaging import ensure_topics, make_broker, make_producer
from shared.observability import CONSUMER_RESTARTS
from shared.outbox import Inbox, Outbox, unit_of_work
from shared.settings import CommonSettings

log = logging.getLogger(__name__)
STOP_GRACE_S = 5.0  # how long stop() waits for the background loops before cancelling them


async def partition_positions(
    settings: CommonSettings, subscriptions: list[tuple[str, str]]
) -> list[tuple[str, int, int, int]]:
    """(topic, partition, committed offset, end offset) of every partition each group reads."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        positions: list[tuple[str, int, int, int]] = []
        for topic, group in subscriptions:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            ends = await consumer.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            for tp in tps:
                done = committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0
                positions.append((topic, tp.partition, done, ends[tp]))
        return positions
    finally:
        await consumer.stop()
        await admin.close()


def dead_consumers(broker: Any) -> list[Any]:
    """The subscribers whose aiokafka consumer's group coordination task has ended (aiokafka keeps the
    consumer object, but it will never fetch again)."""
    dead = []
    for subscriber in getattr(broker, "subscribers", []):
        consumer = getattr(subscriber, "consumer", None)
        coordination = getattr(getattr(consumer, "_coordinator", None), "_coordination_task", None)
        if coordination is not None and coordination.done():
            dead.append(subscriber)
    return dead


class Runtime:
    """Everything a service holds for its lifetime. Built in `create_app`, never at import time."""

    def __init__(
        self,
        name: str,
        settings: CommonSettings,
        database_url: str,
        metadata: MetaData,
        outbox: Outbox,
        inbox: Inbox,
        topics: Iterable[str],
    ) -> None:
        self.name = name
        self.settings = settings
        self.metadata = metadata
        self.outbox = outbox
        outbox.service = name
        self.inbox = inbox
        self.topics = list(topics)
        self.engine = make_engine(database_url, pool_size=settings.db_pool_size)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.broker = make_broker(settings, client_id=f"jpass-{name}")
        self.subscriptions: list[tuple[str, str]] = []  # (topic, consumer group): shared.messaging.subscribe
        self.consumed: dict[str, tuple[str, ...]] = {}  # topic → the event types (or model) it handles
        self.broker_ready = False
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    async def create_schema(self) -> None:
        # Several instances (returns #1, #2) may race to create the same tables: the loser retries.
        for attempt in range(5):
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(self.metadata.create_all)
                return
            except Exception:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))

    async def wait_for_broker(self, timeout_s: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        delay = 0.2
        while True:
            try:
                await ensure_topics(self.settings, self.topics)
                return
            except Exception as e:
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(
                        f"Kafka broker at {self.settings.kafka_bootstrap_servers} unreachable: {e!r}"
                    ) from e
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def unit_of_work(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A use case's transaction, waking the outbox relay after its commit (shared.outbox.unit_of_work)."""
        return unit_of_work(self.sessionmaker, self.outbox)

    def spawn(self, coro: Any, name: str) -> None:
        """Run a background loop for the service's lifetime (cancelled on shutdown)."""
        self._tasks.append(asyncio.create_task(coro, name=f"{self.name}:{name}"))

    @property
    def stopping(self) -> asyncio.Event:
        return self._stopping

    async def start(self) -> None:
        if self.settings.auto_create_schema:
            await self.create_schema()
        await self.wait_for_broker()
        await self._start_broker()
        self.broker_ready = True
        self.spawn(
            self.outbox.run(
                self.sessionmaker, self.connect_producer, self.settings.outbox_poll_interval_s, self._stopping
            ),
            "outbox-relay",
        )
        self.spawn(self.watch_consumers(), "consumer-watchdog")

    async def _start_broker(self, attempts: int = 3) -> None:
        """Start the consumers. aiokafka waits for its partition assignment without a time limit, and a
        group join on Tansu has been seen to stall (rarely, under load): give up after a while and join
        again with fresh members instead of hanging the service's start for ever."""
        for attempt in range(1, attempts + 1):
            try:
                await asyncio.wait_for(self.broker.start(), timeout=self.settings.broker_start_timeout_s)
                return
            except TimeoutError:
                log.warning("consumers of %s did not get their partitions (attempt %d)", self.name, attempt)
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                if attempt == attempts:
                    raise

    async def watch_consumers(self) -> None:
        """Start again any consumer whose group coordination has ended. aiokafka ends it for good on an
        error it did not expect (the uvloop one in shared.messaging was one): the consumer then never
        rejoins its group, every fetch fails, and its partitions are stuck while the service looks well."""
        interval = self.settings.consumer_watchdog_interval_s
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if self._stopping.is_set():
                return
            for subscriber in dead_consumers(self.broker):
                log.error("a consumer of %s lost its group coordination: starting it again", self.name)
                try:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(subscriber.stop(), self.settings.broker_start_timeout_s)
                    await asyncio.wait_for(subscriber.start(), self.settings.broker_start_timeout_s)
                    CONSUMER_RESTARTS.labels(self.name).inc()
                except Exception:
                    log.exception(
                        "starting a consumer of %s again failed; next try in %s s", self.name, interval
                    )

    async def connect_producer(self) -> AIOKafkaProducer:
        """A fresh, started producer for the outbox relay, after making sure the topics exist."""
        await ensure_topics(self.settings, self.topics)
        producer = make_producer(self.settings, client_id=f"jpass-{self.name}")
        await producer.start()
        return producer

    async def stop(self) -> None:
        self._stopping.set()
        self.outbox.notify()
        # The loops watch `stopping`: let them end the round in progress. Cancelling one inside a
        # transaction cancels its rollback too, and SQLAlchemy prints "Exception during reset" on shutdown.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.engine.dispose()

    async def sample_metrics(self) -> None:
        """At scrape time: outbox backlog and consumer lag (end offset − committed offset per group)."""
        from shared.observability import (
            CONSUMER_COMMITTED,
            CONSUMER_LAG,
            CONSUMER_PARTITION_LAG,
            OUTBOX_BACKLOG,
        )

        try:
            async with self.sessionmaker() as session:
                OUTBOX_BACKLOG.labels(self.name).set(await self.outbox.backlog(session))
        except Exception:
            log.warning("could not read the outbox backlog")
        if not self.subscriptions or not self.broker_ready:
            return
        try:
            positions = await asyncio.wait_for(
                partition_positions(self.settings, self.subscriptions), timeout=5
            )
        except Exception:
            log.warning("could not read consumer lag")
            return
        lags: dict[str, int] = {}
        for topic, partition, committed, end in positions:
            behind = max(0, end - committed)
            lags[topic] = lags.get(topic, 0) + behind
            CONSUMER_COMMITTED.labels(self.name, topic, str(partition)).set(committed)
            CONSUMER_PARTITION_LAG.labels(self.name, topic, str(partition)).set(behind)
        for topic, lag in lags.items():
            CONSUMER_LAG.labels(self.name, topic).set(lag)

    async def database_ok(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def broker_ok(self) -> bool:
        if not self.broker_ready:
            return False
        try:
            return bool(await asyncio.wait_for(self.broker.ping(timeout=2.0), timeout=3.0))
        except Exception:
            return False

    def lifespan(self) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
        @asynccontextmanager
        async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        return _lifespan
