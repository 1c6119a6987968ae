"""Stopping a service lets its background loops finish the round in progress."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, func, select

from shared.db import make_engine
from shared.outbox import Inbox, Outbox
from shared.runtime import Runtime
from shared.settings import CommonSettings


async def test_stop_lets_a_loop_commit_the_transaction_it_is_in(kafka_bootstrap: str, tmp_path: Path) -> None:
    # Cancelling a loop inside a transaction also cancels its rollback: SQLAlchemy then prints
    # "Exception during reset or similar" with a traceback while the service shuts down.
    metadata = MetaData()
    rounds = Table("rounds", metadata, Column("n", Integer, primary_key=True))
    settings = CommonSettings(kafka_bootstrap_servers=kafka_bootstrap)
    url = f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}"
    runtime = Runtime("stopper", settings, url, metadata, Outbox(metadata), Inbox(metadata), [])
    in_transaction = asyncio.Event()

    async def slow_rounds() -> None:
        n = 0
        while not runtime.stopping.is_set():
            async with runtime.sessionmaker() as session, session.begin():
                await session.execute(rounds.insert().values(n=n))
                in_transaction.set()
                await asyncio.sleep(0.2)
            n += 1

    await runtime.start()
    runtime.spawn(slow_rounds(), "slow-rounds")
    await in_transaction.wait()
    await runtime.stop()

    engine = make_engine(url)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(rounds)) == 1
    await engine.dispose()
