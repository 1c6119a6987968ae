"""JPASS_CONSUMER_MAX_ATTEMPTS holds for every consumer of every service: a message the database refuses on
every attempt (not the message's fault as far as the consumer can tell, not a transient outage) is tried that
many times, then dead-lettered with the count, by each consumer group of the five services."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.approvals.main import create_app as approvals_app
from services.mailer.main import create_app as mailer_app
from services.returns.main import create_app as returns_app
from services.search.main import create_app as search_app
from services.selection.main import create_app as selection_app
from shared.events import REQUEST_STATUS_CHANGED, REQUEST_TIMED_OUT, Envelope, RequestUpdate
from shared.runtime import Runtime
from shared.settings import CommonSettings
from shared.topics import (
    REQUEST_STATUS,
    REQUEST_SUBMISSIONS,
    REQUEST_TIMEOUTS,
    SELECTION_EVENTS,
    TFC_CONTRACTS,
    TFC_REQUEST_UPDATES,
    dead_letter,
)
from tests.approvals.support import submission
from tests.mailer.factories import status_changed, timed_out
from tests.search.factories import selection, snapshot
from tests.support import publish, running, wait_dead_lettered

ATTEMPTS = 2  # not the default (3)

# Every table of a service refuses a row that carries the marker: the marker goes into each message's first
# write (the inbox row of its event id, or the row of its contract or request).
REFUSE_MARKED_ROWS = (
    "CREATE SEQUENCE refusals",  # counts the refusals: sequences are not rolled back with the transaction
    """
CREATE FUNCTION refuse_marked_rows() RETURNS trigger AS $$
BEGIN
    IF to_jsonb(NEW)::text LIKE '%{marker}%' THEN
        PERFORM nextval('refusals');
        RAISE EXCEPTION 'row refused by the test';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
""",
    """
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
        EXECUTE format('CREATE TRIGGER refuse_marked_rows BEFORE INSERT OR UPDATE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION refuse_marked_rows()', t);
    END LOOP;
END $$
""",
)


def marked_messages(marker: str) -> list[tuple[str, str, Any]]:
    """(topic, key, value): one message of each consumed topic that carries the marker."""
    no, request_id = f"{marker}C", f"{marker}R"
    submitted = submission(request_id=request_id, contract_no=no)
    return [
        (TFC_CONTRACTS, no, snapshot(no)),
        (SELECTION_EVENTS, no, selection(no, 1).model_copy(update={"id": f"{marker}-selection"})),
        (
            REQUEST_STATUS,
            request_id,
            Envelope[Any](
                id=f"{marker}-status",
                source="tests",
                type=REQUEST_STATUS_CHANGED,
                subject=request_id,
                data=status_changed(request_id=request_id, contract_no=no),
            ),
        ),
        (REQUEST_SUBMISSIONS, no, submitted.model_copy(update={"id": f"{marker}-submission"})),
        (
            TFC_REQUEST_UPDATES,
            request_id,
            RequestUpdate(request_id=request_id, action="accept", at=datetime.now(UTC), update_id=marker),
        ),
        (
            REQUEST_TIMEOUTS,
            request_id,
            Envelope[Any](
                id=f"{marker}-timeout",
                source="tests",
                type=REQUEST_TIMED_OUT,
                subject=request_id,
                data=timed_out(request_id=request_id, contract_no=no),
            ),
        ),
    ]


def marked_by(marker: str, group: str) -> Callable[[Any], bool]:
    """Dead letters of the marked message from the consumer group `group`."""

    def matches(record: Any) -> bool:
        from_group = dict(record.headers).get("dlq-consumer-group") == group.encode()
        return from_group and marker.encode() in (record.value or b"")

    return matches


async def refuse_marked_rows(runtime: Runtime, marker: str) -> None:
    """Install the trigger on every table of the running service. CREATE TRIGGER's lock can deadlock with
    the service's own transactions (its relay and consumers are running): PostgreSQL then aborts ours,
    which changed nothing, and we try again."""
    for attempt in range(10):
        try:
            async with runtime.engine.begin() as conn:
                for statement in REFUSE_MARKED_ROWS:
                    await conn.execute(text(statement.replace("{marker}", marker)))
            return
        except DBAPIError as e:
            if "deadlock" not in str(e) or attempt == 9:
                raise
            await asyncio.sleep(0.2)


async def test_every_consumer_makes_the_configured_attempts_then_dead_letters(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JPASS_CONSUMER_MAX_ATTEMPTS", str(ATTEMPTS))
    monkeypatch.setenv("JPASS_KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("JPASS_SWEEP_INTERVAL_S", "3600")  # approvals: no reminders meanwhile
    marker = f"ATTEMPTS{uuid.uuid4().hex[:8].upper()}"
    apps: list[FastAPI] = []
    for name, create_app in (
        ("search", search_app),
        ("selection", selection_app),
        ("returns", returns_app),
        ("approvals", approvals_app),
        ("mailer", mailer_app),
    ):
        monkeypatch.setenv("JPASS_DATABASE_URL", await pg_database(f"attempts_{name}"))
        apps.append(create_app())
    runtimes: list[Runtime] = [app.state.runtime for app in apps]
    assert {r.settings.consumer_max_attempts for r in runtimes} == {ATTEMPTS}
    assert CommonSettings().consumer_max_attempts == ATTEMPTS

    async with contextlib.AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(running(app))
        for runtime in runtimes:
            await refuse_marked_rows(runtime, marker)
        for topic, key, value in marked_messages(marker):
            await publish(kafka_bootstrap, topic, key, value)

        for runtime in runtimes:
            assert runtime.subscriptions, runtime.name
            for topic, group in runtime.subscriptions:
                dead = await wait_dead_lettered(kafka_bootstrap, dead_letter(topic), marked_by(marker, group))
                headers = {k: v.decode() for k, v in dead[0].headers}
                assert len(dead) == 1, (runtime.name, topic, len(dead))
                assert headers["dlq-attempts"] == str(ATTEMPTS), (runtime.name, topic, headers)
                assert "row refused by the test" in headers["dlq-reason"], headers["dlq-reason"]
            async with runtime.engine.connect() as conn:
                refusals = (await conn.execute(text("SELECT last_value FROM refusals"))).scalar_one()
            assert refusals == ATTEMPTS * len(runtime.subscriptions), runtime.name
