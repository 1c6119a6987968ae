"""Database helpers: one async engine per service, PostgreSQL in production/tests, SQLite locally."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Executable


def async_url(url: str) -> str:
    """Accept plain `postgresql://` / `sqlite:///` URLs and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_use_lifo=True)
    ping_connections_idle_for(engine, PING_AFTER_IDLE_S)
    return engine


# A pooled connection idle longer than this is pinged before use (docs/decisions.md: not every checkout —
# asyncpg's ping is BEGIN, a statement and ROLLBACK, three round trips, half of a primary-key lookup's).
PING_AFTER_IDLE_S = 5.0


def ping_connections_idle_for(engine: AsyncEngine, seconds: float) -> None:
    """Pessimistic disconnect handling for the connections that need it: one that sat in the pool longer
    than `seconds` (through a database restart, say) is pinged on checkout; a dead one invalidates the
    pool and the checkout gets a new connection (SQLAlchemy retries it). A connection checked in moments
    ago — under load, the most recently used one (the pool is LIFO) — is used at once: should the server
    have gone meanwhile, the statement fails, SQLAlchemy invalidates the pool, the request answers 503
    and a consumer retries (shared.messaging.is_transient)."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _ping_when_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < seconds:
            return  # new, or back in the pool only moments ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as e:
            if dialect.is_disconnect(e, dbapi_connection, None):
                raise exc.InvalidatePoolError() from e
            raise


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_postgresql(session: AsyncSession) -> bool:
    """Most statements read the same on both; row locks and upserts do not."""
    return session.get_bind().dialect.name == "postgresql"


def upsert(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT (DO NOTHING / DO UPDATE) in the session's database's dialect."""
    return (postgresql.insert if is_postgresql(session) else sqlite.insert)(table)


async def rows_changed(session: AsyncSession, statement: Executable) -> int:
    """How many rows an INSERT, UPDATE or DELETE changed (its cursor's row count)."""
    result = await session.execute(statement)
    assert isinstance(result, CursorResult)  # what DML gives, typed as any Result
    return result.rowcount
