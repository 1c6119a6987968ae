"""One returns app (real broker, real PostgreSQL, fixed clock) shared by a test module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI

from services.returns.config import ReturnsSettings
from services.returns.main import create_app
from tests.returns.factory import NOW
from tests.support import (
    auth,
    create_pg_database,
    drop_pg_database,
    eventually,
    running,
    token_cookies,
)


@dataclass
class Env:
    client: httpx.AsyncClient
    bootstrap: str
    app: FastAPI

    async def wait_eligibility(self, contract_no: str, code: str | None = None, user: str = "d1-hq") -> None:
        """Until returns' copies say the contract is eligible (code None) or refused with `code`."""

        async def check() -> Any:
            r = await self.client.get(
                "/api/v1/returns/eligibility", params={"contract_no": contract_no}, headers=auth(user)
            )
            assert r.status_code == 200, r.text
            assert r.json()["code"] == code, r.json()

        await eventually(check, timeout_s=30)


def page_cookies(user_id: str) -> dict[str, str]:
    return token_cookies(user_id)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(kafka_bootstrap: str) -> AsyncIterator[Env]:
    url = await create_pg_database("t_returns")
    settings = ReturnsSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=url,
        status_wait_s=0.3,
        mail_from="uketsuke-test@tfc.example",  # not the default: the form shows the configured sender
    )
    app = create_app(settings, clock=lambda: NOW)
    try:
        async with running(app) as client:
            yield Env(client, kafka_bootstrap, app)
    finally:
        await drop_pg_database(url)
