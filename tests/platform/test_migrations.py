"""Migrating an empty database up gives exactly the models' schema, per service, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import make_engine
from shared.migrations import SERVICES_DIR, upgrade

SERVICES = sorted(p.parent.parent.name for p in SERVICES_DIR.glob("*/migrations/env.py"))


def test_every_service_has_migrations() -> None:
    assert SERVICES == ["approvals", "mailer", "returns", "search", "selection"]


@pytest.mark.parametrize("service", SERVICES)
async def test_upgrade_from_empty_gives_the_models_schema(
    service: str, any_database: Callable[[str], Awaitable[str]]
) -> None:
    url = await any_database(f"mig_{service}")
    await asyncio.to_thread(upgrade, service, url)
    metadata: MetaData = importlib.import_module(f"services.{service}.db").Base.metadata
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert {"outbox", "inbox", "alembic_version"} <= tables
    # PostgreSQL-only DDL the models add by event (search's bigram indexes) is not in the metadata.
    diff = [d for d in diff if not (d[0] == "remove_index" and d[1].name.startswith("ix_contracts_bigram_"))]
    assert diff == []
    # The migrated tables take writes the way the service makes them (server defaults included).
    module = importlib.import_module(f"services.{service}.db")
    engine = make_engine(url)
    try:
        async with engine.begin() as conn, AsyncSession(bind=conn) as session:
            await module.outbox.stage(session, topic="t", key="k", value={"n": 1})
            assert await module.inbox.first_time(session, "event-1")
            assert await module.outbox.backlog(session) == 1
    finally:
        await engine.dispose()
    if service == "search" and url.startswith("postgresql"):
        engine = make_engine(url)
        async with engine.connect() as conn:
            indexes = await conn.run_sync(lambda c: {i["name"] for i in inspect(c).get_indexes("contracts")})
        await engine.dispose()
        bigram = {f"ix_contracts_bigram_{c}" for c in ("search_name", "search_plate", "search_model")}
        assert bigram <= indexes
        assert not any(name.startswith("ix_contracts_trgm_") for name in indexes)
