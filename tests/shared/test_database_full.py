"""A PostgreSQL server that refuses new connections because it is full is unavailable (503 with
Retry-After), not a bug (500): the shared test server once ran out of connections under parallel runs."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from shared.web import database_unreachable
from tests.support import create_pg_database, drop_pg_database, pg_admin_url


async def test_too_many_connections_counts_as_unreachable() -> None:
    url = await create_pg_database("t_full")
    role = f"jpass_full_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_admin_url().replace("postgresql+asyncpg://", "postgresql://"))
    try:
        database = make_url(url).database
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT 0')  # full but for superusers
        engine = create_async_engine(
            make_url(url).set(drivername="postgresql+asyncpg", username=role, password=None)
        )
        try:
            with pytest.raises(DBAPIError) as refused:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()
        assert "53300" in repr(refused.value.orig) or "too many connections" in str(refused.value)
        assert database_unreachable(refused.value)
    finally:
        await admin.execute(f'ALTER DATABASE "{make_url(url).database}" CONNECTION LIMIT -1')
        await drop_pg_database(url)
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


def test_a_bug_is_not_unreachable() -> None:
    class Bug(Exception):
        sqlstate = "42P01"  # undefined table: our bug, a 500

    assert not database_unreachable(DBAPIError("SELECT", {}, Bug("relation does not exist")))
