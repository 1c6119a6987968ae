"""Selection test fixtures: one running app per module on a fresh PostgreSQL database and the real broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI

from services.selection import domain
from services.selection.config import SelectionSettings
from services.selection.main import create_app
from shared.events import ContractSnapshot
from shared.topics import SELECTION_EVENTS, TFC_CONTRACTS
from tests.factories import contract_snapshot
from tests.support import (
    auth,
    create_pg_database,
    drop_pg_database,
    eventually,
    publish,
    running,
    token_cookies,
)


def months_after(day: date, months: int) -> date:
    return domain.months_before(day, -months)


def new_contract_no() -> str:
    return f"SEL{uuid.uuid4().hex[:9].upper()}"


# Selection's cases: final payment 2026-04-30, first registration May 2021.
snapshot = partial(
    contract_snapshot, final_payment_date=date(2026, 4, 30), first_registration_date="2021-05-10"
)


def cookies(user_id: str) -> dict[str, str]:
    return token_cookies(user_id)


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    bootstrap: str

    def set_today(self, today: date) -> None:
        self.app.state.clock = lambda: today

    async def add_contract(self, snap: ContractSnapshot, *, seen_by: str = "d1-hq") -> None:
        """Publish a TFC snapshot and wait until this service has it."""
        await publish(self.bootstrap, TFC_CONTRACTS, snap.contract_no, snap)

        async def seen() -> None:
            r = await self.client.get(
                f"/api/v1/contracts/{snap.contract_no}/selection", headers=auth(seen_by)
            )
            assert r.status_code == 200, r.text

        await eventually(seen)

    async def events(self, contract_no: str, expect: int) -> list[dict[str, Any]]:
        """The envelopes on SELECTION_EVENTS keyed `contract_no`, once at least `expect` arrived."""

        async def arrived() -> list[dict[str, Any]]:
            records = await read_all(self.bootstrap, SELECTION_EVENTS)
            mine = [json.loads(r.value) for r in records if r.key == contract_no.encode()]
            assert len(mine) >= expect, f"{len(mine)} of {expect} events"
            return mine

        return await eventually(arrived, timeout_s=20)


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of `topic` up to its current end (all partitions), in partition order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            await consumer.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                records.extend(batch.get(tp, []))
        return records
    finally:
        await consumer.stop()


async def start_service(
    bootstrap: str, database_url: str, today: date = date(2026, 1, 10)
) -> tuple[FastAPI, SelectionSettings]:
    settings = SelectionSettings(
        kafka_bootstrap_servers=bootstrap,
        database_url=database_url,
        consumer_group=f"selection-test-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings, clock=lambda: today)
    return app, settings


@pytest.fixture(scope="module")
async def pg_service(kafka_bootstrap: str) -> AsyncIterator[Service]:
    url = await create_pg_database("t_selection")
    try:
        app, _ = await start_service(kafka_bootstrap, url)
        async with running(app) as client:
            yield Service(app, client, kafka_bootstrap)
    finally:
        await drop_pg_database(url)


@pytest.fixture
def svc(pg_service: Service) -> Service:
    pg_service.set_today(date(2026, 1, 10))
    return pg_service
