from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest_asyncio
from fastapi import FastAPI

from services.approvals.config import ApprovalsSettings
from services.approvals.main import create_app
from tests.support import auth, create_pg_database, drop_pg_database, running


@dataclass
class Env:
    client: httpx.AsyncClient
    bootstrap: str
    app: FastAPI

    async def set_flow(
        self, store: bool, hq: bool, emails: list[str] | None = None, user: str = "d1-hq"
    ) -> None:
        r = await self.client.put(
            "/api/v1/approval-flow",
            json={"store_approval": store, "hq_approval": hq, "hq_approver_emails": emails or []},
            headers=auth(user),
        )
        assert r.status_code == 200, r.text


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(kafka_bootstrap: str) -> AsyncIterator[Env]:
    """One approvals service on PostgreSQL and the real broker, shared by a module's tests."""
    url = await create_pg_database("t_approvals")
    settings = ApprovalsSettings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=url, sweep_interval_s=3600
    )
    app = create_app(settings)
    try:
        async with running(app) as client:
            yield Env(client, kafka_bootstrap, app)
    finally:
        await drop_pg_database(url)
