"""Metrics by route template (no ids or names in labels) and one trace from an HTTP write to a consumer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from opentelemetry import trace
from pydantic import BaseModel
from sqlalchemy import MetaData

from services.search.config import SearchSettings
from services.search.main import create_app
from shared.messaging import consume, ensure_topics, make_broker
from shared.observability import setup_tracing, tracer
from shared.outbox import Inbox, Outbox
from shared.runtime import Runtime
from shared.settings import CommonSettings
from shared.topics import TFC_CONTRACTS
from tests.e2e.test_walking_skeleton import contract
from tests.support import auth, eventually, publish, running


async def test_metrics_use_route_templates_and_count_messages(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    settings = SearchSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=await pg_database("obs"))
    no = f"M{uuid.uuid4().hex[:8].upper()}"
    async with running(create_app(settings)) as client:
        await publish(kafka_bootstrap, TFC_CONTRACTS, no, contract(no, contractor_name="秘密 花子"))

        async def visible() -> None:
            assert (
                await client.get(f"/api/v1/contracts/{no}", headers=auth("d1s1-staff1"))
            ).status_code == 200

        await eventually(visible)
        text = (await client.get("/search/metrics")).text
    assert 'route="/api/v1/contracts/{contract_no}"' in text
    assert no not in text and "秘密" not in text  # no ids or personal data in labels
    assert (
        'jpass_messages_consumed_total{outcome="processed",service="search",topic="tfc.contracts.v1"}' in text
    )
    assert 'jpass_outbox_backlog{service="search"}' in text
    assert 'jpass_consumer_lag{service="search",topic="tfc.contracts.v1"}' in text


class Traced(BaseModel):
    n: int


async def test_a_trace_continues_from_the_writer_through_the_outbox_to_the_consumer(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    setup_tracing("trace-test")  # the SDK tracer provider, as every service installs
    topic = f"test.trace.{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(kafka_bootstrap_servers=kafka_bootstrap)
    await ensure_topics(settings, [topic])
    metadata = MetaData()
    outbox = Outbox(metadata)
    runtime = Runtime(
        "tracer", settings, await pg_database("trace"), metadata, outbox, Inbox(metadata), [topic]
    )
    seen: list[int] = []
    consumer = make_broker(settings, "trace-consumer")

    async def handler(_: Traced) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)

    consume(
        consumer,
        topic,
        settings=settings,
        service="test",
        group_id=f"g-{topic}",
        model=Traced,
        handler=handler,
    )
    await runtime.start()
    await consumer.start()
    try:
        with tracer().start_as_current_span("HTTP PUT /something") as span:
            written = span.get_span_context().trace_id
            async with runtime.sessionmaker() as session, session.begin():
                await outbox.stage(session, topic=topic, key="k", value={"n": 1})
        outbox.notify()

        async def consumed() -> None:
            assert seen

        await eventually(consumed)
    finally:
        await consumer.stop()
        await runtime.stop()
    assert seen == [written]
