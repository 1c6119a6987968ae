"""A pooled connection is pinged before use only when it sat idle (shared.db.ping_connections_idle_for):
the one that outlived its server backend is replaced without the caller noticing; one used moments ago
is not pinged (a ping is three round trips), so its loss reaches the caller once — as unavailability
(503, shared.web.database_unreachable) — and the pool is renewed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import async_url, make_engine, ping_connections_idle_for
from shared.web import database_unreachable
from tests.support import pg_admin_url, pg_dsn


@pytest.fixture
async def url(pg_database: Callable[[str], Awaitable[str]]) -> str:
    return await pg_database("ping")


async def backend_of(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(pid: int) -> None:
    admin = await asyncpg.connect(pg_dsn(pg_admin_url()))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


def engine_pinging_after(url: str, seconds: float) -> AsyncEngine:
    engine = create_async_engine(async_url(url), pool_size=1, max_overflow=0, pool_use_lifo=True)
    ping_connections_idle_for(engine, seconds)
    return engine


async def test_a_connection_idle_past_the_limit_whose_backend_died_is_replaced_unnoticed(url: str) -> None:
    engine = engine_pinging_after(url, 0.2)
    try:
        dead = await backend_of(engine)
        await terminate(dead)
        await asyncio.sleep(0.4)
        assert await backend_of(engine) != dead
    finally:
        await engine.dispose()


async def test_a_connection_used_moments_ago_is_not_pinged_so_its_loss_fails_one_use(url: str) -> None:
    engine = engine_pinging_after(url, 60)
    try:
        dead = await backend_of(engine)
        await terminate(dead)
        with pytest.raises(DBAPIError) as failed:
            await backend_of(engine)
        assert database_unreachable(failed.value)  # answered 503, retried by consumers
        assert await backend_of(engine) != dead  # the pool was renewed
    finally:
        await engine.dispose()


async def test_the_services_engines_ping_idle_connections(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        pool = engine.sync_engine.pool
        assert not pool._pre_ping  # not on every checkout
        assert pool.dispatch.checkout and pool.dispatch.checkin  # but after PING_AFTER_IDLE_S
    finally:
        await engine.dispose()
