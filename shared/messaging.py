"""Broker factory and the consumer wrapper every service uses.

- Acknowledgement after processing (FastStream's Kafka default commits first = at-most-once).
- Bounded retries (JPASS_CONSUMER_MAX_ATTEMPTS runs) for failures that are not the message's fault; then
  the dead-letter topic (header dlq-attempts).
- Broker or database outages are waited out (the offset is not committed; the message comes back).
- Malformed messages and `PoisonMessage` go straight to `<topic>.dlq` with the reason; the
  partition keeps flowing.
- No message can stop a partition: FastStream's own decoding is switched off (its JSON decoder raises
  RecursionError/ValueError on deep nesting or huge integers before any handler runs, its parser fails on
  undecodable headers), so decoding and validation happen here, where every failure is dead-lettered.
- `subscribe()` holds the conventions of every service's consumers.py: the consumer group names, a dispatch
  table by event type, one transaction per message with the inbox.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import AIOKafkaConnection, CloseReason
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import RawEnvelope
from shared.observability import MESSAGES_CONSUMED, attach_from_headers, detach, tracer
from shared.outbox import Inbox
from shared.settings import CommonSettings
from shared.topics import REQUEST_STATUS, REQUEST_TIMEOUTS, SELECTION_EVENTS, TFC_CONTRACTS, dead_letter

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

# aiokafka's producer logs every message's key and value at DEBUG: personal data (names, addresses,
# e-mail addresses, plates) must never reach the logs, whatever the log level.
logging.getLogger("aiokafka.producer.producer").setLevel(logging.INFO)


def _closed_connection_is_a_connection_error() -> None:
    """aiokafka catches only OSError when it writes a request. On uvloop (uvicorn's loop in every service) a
    write to a connection whose handle is already closed raises RuntimeError ("the handler is closed")
    instead; raised inside a consumer's group coordination it ends that task for good — every fetch then
    fails with "Unexpected error during coordination", the consumer never rejoins and its partitions stay
    where they are (aio-libs/aiokafka#1038; the soak, issue 18). Make it the KafkaConnectionError aiokafka
    handles everywhere (mark the coordinator dead, reconnect, rejoin)."""
    original = AIOKafkaConnection.send
    if getattr(original, "jpass_guarded", False):
        return

    def send(self: AIOKafkaConnection, request: Any, expect_response: bool = True) -> Any:
        try:
            return original(self, request, expect_response)
        except RuntimeError as e:
            writer = self._writer
            if writer is None or not writer.transport.is_closing():
                raise
            self.close(reason=CloseReason.CONNECTION_BROKEN)
            raise KafkaConnectionError(f"Connection at {self.host}:{self.port} broken: {e}") from e

    send.jpass_guarded = True  # type: ignore[attr-defined]
    AIOKafkaConnection.send = send


_closed_connection_is_a_connection_error()

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    PoolTimeoutError,
    ConnectionError,
    OSError,
    TimeoutError,
    KafkaError,
)
TRANSIENT_RETRY_FOR_S = 60.0  # then let the broker redeliver (stay under max_poll_interval)


class PoisonMessage(Exception):
    """The message can never be processed (unknown type, impossible transition...): dead-letter it."""


def is_transient(e: BaseException) -> bool:
    """Not the message's fault: the database or broker is unreachable for now."""
    if isinstance(e, DBAPIError):
        return isinstance(e, OperationalError) or e.connection_invalidated
    return isinstance(e, TRANSIENT_ERRORS)


def make_broker(settings: CommonSettings, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
        allow_auto_create_topics=False,
        graceful_timeout=15.0,
        logger=logging.getLogger(f"jpass.{client_id}.broker"),
        log_level=logging.DEBUG,  # "Received"/"Processed" per message: too chatty for INFO
    )


def make_producer(settings: CommonSettings, client_id: str) -> AIOKafkaProducer:
    """The outbox relay's producer (its own connection: publishing never waits on consumers)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{client_id}-outbox",
        enable_idempotence=settings.kafka_enable_idempotence,
        acks="all",
        # Fail an in-flight send soon when the broker is gone, so the relay recreates the topics before it
        # produces again (a restarted memory-only Tansu would auto-create them, unusable for fetches).
        request_timeout_ms=settings.kafka_request_timeout_ms,
    )


async def ensure_topics(settings: CommonSettings, topics: Iterable[str]) -> None:
    """Create the topics (and their dead-letter topics) if missing. Tansu keeps nothing across restarts."""
    wanted = set()
    for t in topics:
        wanted.add(t)
        if not t.endswith(".dlq"):
            wanted.add(dead_letter(t))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = sorted(wanted - existing)
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(t, num_partitions=settings.topic_partitions, replication_factor=1)
                        for t in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


def decode_event(body: bytes, model: type[M], max_bytes: int) -> M:
    """A message's value as `model`, or PoisonMessage with the reason — whatever is wrong with the bytes.

    pydantic's JSON parser bounds nesting and number sizes and refuses invalid UTF-8 and lone surrogates;
    anything else it might raise is the message's fault too. A NUL character is refused here: PostgreSQL
    cannot store it in text, so it would fail every attempt of the handler."""
    if len(body) > max_bytes:
        raise PoisonMessage(f"message too large: {len(body)} bytes (at most {max_bytes})")
    try:
        event = model.model_validate_json(body)
        if b"\\u0000" in body and _holds_nul(from_json(body)):
            raise PoisonMessage("invalid message: NUL character in a text")
    except ValidationError as e:
        raise PoisonMessage(f"invalid message: {_short(e)}") from e
    except PoisonMessage:
        raise
    except Exception as e:
        raise PoisonMessage(f"invalid message: {type(e).__name__}: {str(e)[:200]}") from e
    return event


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def keep_raw_body(msg: Any) -> bytes:
    """FastStream decoder that never decodes (and so never raises): the handler gets the bytes."""
    return bytes(msg.body or b"")


async def lenient_parser(record: Any, parse: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream's parser with header values made decodable first: it decodes them as strict UTF-8 and
    a null or undecodable header would fail every delivery. Keys are aiokafka's (already text)."""
    headers = tuple((str(k), (v or b"").decode("utf-8", "replace").encode()) for k, v in record.headers or ())
    return await parse(dataclasses.replace(record, headers=headers))


def parse_data(envelope: RawEnvelope, model: type[M]) -> M:
    """Validate an envelope's data; a mismatch is the message's fault."""
    try:
        return model.model_validate(envelope.data)
    except ValidationError as e:
        raise PoisonMessage(f"{envelope.type}: invalid data: {_short(e)}") from e


def _short(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()[:5])


class DeadLetter(Exception):
    """Give the message up: it goes to the dead-letter topic with `reason`, after `attempts` runs."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.attempts = attempts


def _record(msg: KafkaMessage) -> ConsumerRecord:
    record = msg.raw_message
    assert not isinstance(record, tuple)  # one message per call: no batch subscribers
    return record


async def _dead_letter(
    broker: KafkaBroker, msg: KafkaMessage, e: DeadLetter, group_id: str, max_bytes: int
) -> None:
    record = _record(msg)
    body = bytes(msg.body or b"")
    headers = {
        "dlq-reason": str(e)[:2000],
        "dlq-attempts": str(e.attempts),
        "dlq-source-topic": record.topic,
        "dlq-source-partition": str(record.partition),
        "dlq-source-offset": str(record.offset),
        "dlq-consumer-group": group_id,
    }
    if len(body) > max_bytes:  # kept whole it might not fit the producer's request limit
        headers["dlq-original-bytes"] = str(len(body))
        body = body[:max_bytes]
    log.error("dead-lettered %s[%s]@%s: %s", record.topic, record.partition, record.offset, e)
    await broker.publish(body, topic=dead_letter(record.topic), key=record.key, headers=headers)


async def _until_done(
    handler: Callable[[M], Awaitable[object]], event: M, topic: str, max_attempts: int, retry_base_s: float
) -> None:
    """Run `handler` until it succeeds. A failure that is not the message's fault (is_transient) is waited
    out for TRANSIENT_RETRY_FOR_S, then raised: not committed, the message comes back later. Any other
    failure is retried until `max_attempts` runs have failed, then DeadLetter; PoisonMessage at once."""
    attempt = transient_attempt = 0
    transient_since: float | None = None
    loop = asyncio.get_running_loop()
    while True:
        try:
            await handler(event)
            return
        except PoisonMessage as e:
            raise DeadLetter(str(e), attempt + 1) from e
        except Exception as e:
            if is_transient(e):
                now = loop.time()
                transient_since = transient_since or now
                if now - transient_since > TRANSIENT_RETRY_FOR_S:
                    raise
                log.warning("transient failure on %s, retrying: %s", topic, type(e).__name__)
                await asyncio.sleep(min(retry_base_s * 2 ** min(transient_attempt, 5), 5.0))
                transient_attempt += 1
                continue
            attempt += 1
            if attempt >= max_attempts:
                raise DeadLetter(f"{type(e).__name__}: {e}"[:500], attempt) from e
            log.warning("handler failed on %s (attempt %d): %r", topic, attempt, e)
            await asyncio.sleep(retry_base_s * 2**attempt)


def consume(
    broker: KafkaBroker,
    topic: str,
    *,
    settings: CommonSettings,
    service: str,
    group_id: str,
    model: type[M],
    handler: Callable[[M], Awaitable[object]],
    retry_base_s: float = 0.2,
) -> None:
    """Register `handler` for `topic` in the consumer group `group_id`, acknowledging after processing:
    each message is decoded as `model` (or dead-lettered), then handled with the retries of `_until_done`
    (at most JPASS_CONSUMER_MAX_ATTEMPTS runs). Services call `subscribe`, which names the group."""
    max_bytes = settings.kafka_max_message_bytes

    async def handle(msg: KafkaMessage) -> str:
        try:
            try:
                event = decode_event(bytes(msg.body or b""), model, max_bytes)
            except PoisonMessage as e:
                raise DeadLetter(str(e), 0) from e
            await _until_done(handler, event, topic, settings.consumer_max_attempts, retry_base_s)
            return "processed"
        except DeadLetter as e:
            await _dead_letter(broker, msg, e, group_id, max_bytes)
            return "dead_lettered"

    async def consume_one(msg: KafkaMessage) -> None:
        headers = {k: (v or b"").decode(errors="replace") for k, v in (_record(msg).headers or ())}
        token = attach_from_headers(headers)
        try:
            with tracer().start_as_current_span(f"consume {topic}", kind=SpanKind.CONSUMER) as span:
                span.set_attribute("messaging.destination.name", topic)
                span.set_attribute("messaging.consumer.group.name", group_id)
                try:
                    outcome = await handle(msg)
                except BaseException:
                    MESSAGES_CONSUMED.labels(service, topic, "redelivered").inc()
                    raise
                MESSAGES_CONSUMED.labels(service, topic, outcome).inc()
        finally:
            detach(token)

    consume_one.__name__ = f"consume_{topic.replace('.', '_').replace('-', '_')}_{group_id}"
    broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        title=f"{group_id}:{topic}",
        parser=lenient_parser,
        decoder=keep_raw_body,
    )(consume_one)


# ---------------------------------------------------------------------------------------------
# The conventions every service's consumers.py follows

Handler = Callable[..., Awaitable[object]]
# {event type: (model of its data, handler)} for a topic of enveloped events; None: a type this consumer
# deliberately skips (any other unknown type is poison).
EventTable = Mapping[str, tuple[type[BaseModel], Handler] | None]

# Consumer groups are `<service>.<topic>`: one per (service, topic), shared by all instances of the service.
# Returns and mailer had named theirs per topic before that; a deployed group keeps its committed offsets
# only under its own name, so these keep theirs.
KEPT_GROUP_NAMES = {
    ("returns", TFC_CONTRACTS): "returns-contracts",
    ("returns", SELECTION_EVENTS): "returns-selection",
    ("returns", REQUEST_STATUS): "returns-request-status",
    ("mailer", REQUEST_STATUS): "mailer-status",
    ("mailer", REQUEST_TIMEOUTS): "mailer-timeouts",
}


def consumer_group(service: str, topic: str, settings: CommonSettings) -> str:
    """The group `service` consumes `topic` in. One group per topic: several consumers of one group
    subscribed to *different* topics can leave one of them without partitions forever on Tansu."""
    return f"{KEPT_GROUP_NAMES.get((service, topic), service)}.{topic}{settings.consumer_group_suffix}"


async def apply_event(
    session: AsyncSession, envelope: RawEnvelope, events: EventTable, inbox: Inbox | None = None
) -> bool:
    """`handler(session, data)` of the envelope's type, in the session's transaction; with `inbox`, once per
    event id. False for a duplicate or a skipped type. Invalid data is poison before anything is written."""
    if envelope.type not in events:
        raise PoisonMessage(f"unknown event type {envelope.type!r}")
    if (entry := events[envelope.type]) is None:
        return False
    model, handler = entry
    data = parse_data(envelope, model)
    if inbox is not None and not await inbox.first_time(session, envelope.id):
        return False
    await handler(session, data)
    return True


def subscribe(
    runtime: Runtime,
    topic: str,
    *,
    events: EventTable | None = None,
    model: type[BaseModel] | None = None,
    handler: Handler | None = None,
    transaction: bool = True,
    inbox: bool = False,
    after_commit: Callable[[], object] | None = None,
    group: str | None = None,
) -> None:
    """Consume `topic` for `runtime`'s service in its consumer group (consumer_group; `group` replaces the
    service's name there), acknowledging after processing, with JPASS_CONSUMER_MAX_ATTEMPTS attempts.

    Enveloped topics give `events`, the dispatch table by event type; TFC's plain topics give `model` and
    `handler`. With `transaction` (the default) each message is one transaction, handlers are called as
    `handler(session, data)` and `after_commit` runs after each commit (e.g. to wake a relay); with `inbox`
    too, an event id processed before changes nothing. Without `transaction`: `handler(data)`."""
    if events is not None:
        table, kept = events, runtime.inbox if inbox else None
        runtime.consumed[topic] = tuple(t for t, entry in table.items() if entry is not None)

        async def apply_envelope(session: AsyncSession, envelope: RawEnvelope) -> None:
            await apply_event(session, envelope, table, kept)

        model, handler = RawEnvelope, apply_envelope
    elif inbox:
        raise ValueError("subscribe: the inbox is for enveloped events (their id)")
    if model is None or handler is None:
        raise ValueError("subscribe: give either `events` or `model` and `handler`")
    runtime.consumed.setdefault(topic, (model.__name__,))
    apply, run = handler, handler
    if transaction:

        async def in_transaction(message: BaseModel) -> None:
            async with runtime.sessionmaker() as session, session.begin():
                await apply(session, message)
            if after_commit is not None:
                after_commit()

        run = in_transaction
    elif after_commit is not None:
        raise ValueError("subscribe: after_commit needs the transaction")
    group_id = consumer_group(group or runtime.name, topic, runtime.settings)
    runtime.subscriptions.append((topic, group_id))
    consume(
        runtime.broker,
        topic,
        settings=runtime.settings,
        service=runtime.name,
        group_id=group_id,
        model=model,
        handler=run,
    )
