"""Test helpers: real broker, real databases, apps started with their lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI
from pydantic import BaseModel

from devtools.broker import tansu_command
from devtools.demo import USERS_BY_ID
from shared.identity import issue_token
from shared.settings import DEV_SIGNING_KEY

T = TypeVar("T")
PG_ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tansu:
    """A throwaway Tansu broker on a free port (memory storage)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            tansu_command(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 15
        while time.time() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("Tansu did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def create_pg_database(prefix: str) -> str:
    """A fresh, uniquely named database on the test PostgreSQL server; returns its URL."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_pg_dsn(PG_ADMIN_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def drop_pg_database(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(PG_ADMIN_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def token_for(user_id: str, secret: str = DEV_SIGNING_KEY) -> str:
    return issue_token(USERS_BY_ID[user_id], secret)


def auth(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(user_id)}"}


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start `app` with its lifespan (broker, relay, consumers) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def publish(bootstrap: str, topic: str, key: str, value: BaseModel | bytes | dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        if isinstance(value, BaseModel):
            raw = value.model_dump_json().encode()
        elif isinstance(value, bytes):
            raw = value
        else:
            import json

            raw = json.dumps(value, ensure_ascii=False, default=str).encode()
        await producer.send_and_wait(topic, raw, key=key.encode())
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 15.0) -> list[Any]:
    """Read at least `expect` records of `topic` from the beginning (no consumer group)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records.extend(msgs)
        return records
    finally:
        await consumer.stop()


async def eventually(
    check: Callable[[], Awaitable[T]], timeout_s: float = 20.0, interval_s: float = 0.1
) -> T:
    """Retry `check` until it stops raising AssertionError (or time runs out)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(interval_s)
