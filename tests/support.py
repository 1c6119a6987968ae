"""Test helpers: real broker, real databases, apps started with their lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from fastapi import FastAPI
from pydantic import BaseModel

from devtools.broker import tansu_command
from devtools.demo import USERS_BY_ID
from devtools.keys import fixed_key_ring, token_claims
from devtools.local_postgres import SERVICES, database_url, default_server_url, service_url_variable
from shared.identity import MAX_TOKEN_TTL_S, User
from shared.settings import CommonSettings

T = TypeVar("T")


def pg_admin_url() -> str:
    """The suite's PostgreSQL server. Chosen once per run by tests/backends.py (in the xdist controller,
    before the workers start): DATABASE_URL, a server at the default address, a throwaway embedded one, or
    a container; the workers inherit the choice through DATABASE_URL."""
    return os.environ.get("DATABASE_URL") or default_server_url()


def free_port() -> int:
    """A free port below the kernel's ephemeral range (32768+): a port the OS handed out as "free" could
    meanwhile be taken as the source port of any outgoing connection, before our server binds it."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


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

    def pause(self) -> None:
        """The broker stops answering (SIGSTOP) but keeps its data, as a production Kafka that is down
        for a while keeps its log. A stop and start of this memory-only broker instead forgets every topic
        and its offsets start again at 0: a consumer whose position was N then silently skips the first N
        messages produced after the restart — a fault production never has."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc:
            self.proc.send_signal(signal.SIGCONT)  # a paused broker cannot act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


def pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def create_pg_database(prefix: str) -> str:
    """A fresh, uniquely named database on the test PostgreSQL server; returns its URL."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(pg_dsn(pg_admin_url()))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url(pg_admin_url(), name)


async def drop_pg_database(url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(pg_dsn(pg_admin_url()))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


# The suite's identity provider: a key ring whose public keys every app of the run trusts through
# JPASS_JWKS_JSON (set by tests/conftest.py), so no test needs a running devtools.
TEST_KEYS = fixed_key_ring()
TEST_JWKS_JSON = TEST_KEYS.jwks_json()


def sign_token(user: User, ttl_s: int = MAX_TOKEN_TTL_S, sid: str | None = None, **claims: Any) -> str:
    """A token for `user` as the provider signs it (issuer and audience of the default settings);
    `claims` replace or add claims (None removes one)."""
    defaults = CommonSettings.model_fields
    merged = token_claims(
        user, defaults["oidc_issuer"].default, defaults["oidc_audience"].default, time.time(), ttl_s, sid
    )
    merged.update(claims)
    return TEST_KEYS.sign({k: v for k, v in merged.items() if v is not None})


def token_for(user_id: str, **claims: Any) -> str:
    return sign_token(USERS_BY_ID[user_id], **claims)


def sign_in(client: httpx.Client, user_id: str, next_path: str = "/") -> httpx.Response:
    """The page login through a running gateway as a browser does it: /login → the local provider's
    authorization endpoint (its demo user list, or at once with a provider session) → /login/callback,
    which sets the `jpass_token` cookie in `client`. Returns the callback's answer."""
    from urllib.parse import parse_qsl, urlsplit

    to_provider = client.get("/login", params={"next": next_path})
    assert to_provider.status_code == 303, to_provider.text
    authorize = to_provider.headers["location"]
    params = dict(parse_qsl(urlsplit(authorize).query))
    answer = client.get(authorize)
    if answer.status_code == 200:  # the demo user list
        answer = client.post(authorize.split("?")[0], data={**params, "user_id": user_id})
    assert answer.status_code == 303, answer.text
    return client.get(answer.headers["location"])


class FreshTokens(dict[str, str]):
    """Headers or cookies carrying a signed token, kept fresh for module-level constants: a token lives
    at most 15 minutes (MAX_TOKEN_TTL_S), a full run takes longer than that, and a constant minted when
    the module was collected had expired by the time its tests ran. tests/conftest.py calls
    `refresh_tokens()` before every test, which re-mints any older than REFRESH_AFTER_S."""

    REFRESH_AFTER_S = 5 * 60

    def __init__(self, mint: Callable[[], dict[str, str]]) -> None:
        super().__init__(mint())
        self._mint = mint
        self._minted_at = time.monotonic()
        _FRESH_TOKENS[id(self)] = self

    def refresh(self, now: float) -> None:
        if now - self._minted_at >= self.REFRESH_AFTER_S:
            self.update(self._mint())
            self._minted_at = now


_FRESH_TOKENS: weakref.WeakValueDictionary[int, FreshTokens] = weakref.WeakValueDictionary()


def refresh_tokens() -> None:
    now = time.monotonic()
    for tokens in list(_FRESH_TOKENS.values()):
        tokens.refresh(now)


def auth(user_id: str) -> dict[str, str]:
    return FreshTokens(lambda: {"Authorization": f"Bearer {token_for(user_id)}"})


def token_cookies(user_id: str) -> dict[str, str]:
    """The page login cookie for `user_id` (kept fresh like `auth`)."""
    return FreshTokens(lambda: {"jpass_token": token_for(user_id)})


# Where each topic ended when the current test module started (set by conftest's module fixture): a
# module's new consumer groups start there instead of replaying every earlier module's messages on the
# session's shared broker (thousands of snapshots: under load a new group then took longer than a test's
# 30 s wait to reach its own contract).
MODULE_START_OFFSETS: dict[tuple[str, int], int] = {}
MODULE_START_BROKER: list[str] = []  # the broker those offsets belong to (a test's own broker has its own)


async def topic_end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        existing = await consumer.topics()
        partitions = [
            TopicPartition(t, p)
            for t in topics
            if t in existing
            for p in consumer.partitions_for_topic(t) or ()
        ]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def start_groups_at_module_start(bootstrap: str, subscriptions: Iterable[tuple[str, str]]) -> None:
    """Commit MODULE_START_OFFSETS for each (topic, group) that has no committed offset yet (a group that
    already consumed — an app restarted within the module — keeps its own)."""
    for topic, group_id in subscriptions:
        offsets = {
            TopicPartition(t, p): o for (t, p), o in MODULE_START_OFFSETS.items() if t == topic and o > 0
        }
        if not offsets:
            continue
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            fresh = {
                tp: OffsetAndMetadata(o, "")
                for tp, o in offsets.items()
                if await consumer.committed(tp) is None
            }
            if fresh:
                await consumer.commit(fresh)
        finally:
            await consumer.stop()


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start `app` with its lifespan (broker, relay, consumers) and give an HTTP client to it."""
    runtime = getattr(app.state, "runtime", None)
    bootstrap = runtime.settings.kafka_bootstrap_servers if runtime is not None else None
    if MODULE_START_OFFSETS and bootstrap in MODULE_START_BROKER:
        await start_groups_at_module_start(bootstrap, runtime.subscriptions)
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


# --------------------------------------------------------------------------------------------
# The whole `make run` system (honcho + Procfile) on free ports in a temporary directory.

SERVICE_NAMES = SERVICES
_SYSTEM_PORTS = (
    "GATEWAY",
    "BROKER",
    "SEARCH",
    "SELECTION",
    "RETURNS1",
    "RETURNS2",
    "APPROVALS",
    "MAILER",
    "DEVTOOLS",
    "SMTP_CATCHER",
)


def local_system_env(tmp: Any, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for `make run`'s `python -m devtools.run` with every port free (never the fixed defaults).
    No service database is given: devtools.run starts its embedded PostgreSQL in `tmp`/var/postgres."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    ports = {name: free_port() for name in _SYSTEM_PORTS}
    env = {k: v for k, v in os.environ.items() if k not in {service_url_variable(s) for s in SERVICES}}
    env.pop("JPASS_JWKS_JSON", None)  # the system trusts its own provider (devtools), not the suite's keys
    env.update({f"JPASS_{k}_PORT": str(v) for k, v in ports.items()})
    gateway = f"http://127.0.0.1:{ports['GATEWAY']}"
    env.update(
        JPASS_OIDC_ISSUER=gateway,
        JPASS_PUBLIC_BASE_URL=gateway,
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
        JPASS_CADDYFILE=str(root / "deploy/Caddyfile"),
        JPASS_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{ports['BROKER']}",
        JPASS_SMTP_PORT=str(ports["SMTP_CATCHER"]),
        SEARCH_UPSTREAM=f"127.0.0.1:{ports['SEARCH']}",
        SELECTION_UPSTREAM=f"127.0.0.1:{ports['SELECTION']}",
        RETURNS_UPSTREAMS=f"127.0.0.1:{ports['RETURNS1']} 127.0.0.1:{ports['RETURNS2']}",
        APPROVALS_UPSTREAM=f"127.0.0.1:{ports['APPROVALS']}",
        MAILER_UPSTREAM=f"127.0.0.1:{ports['MAILER']}",
        DEVTOOLS_UPSTREAM=f"127.0.0.1:{ports['DEVTOOLS']}",
    )
    env.update(extra or {})
    (Path(tmp) / "var").mkdir(exist_ok=True)
    return env


def _run_coroutine(coroutine: Awaitable[T]) -> T:
    """Run `coroutine` to its end from sync code, even where pytest-asyncio's loop runs in this thread."""
    from concurrent.futures import ThreadPoolExecutor

    async def main() -> T:
        return await coroutine

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


class LocalSystem:
    """`make run`'s system (`python -m devtools.run`: migrations, then the Procfile under honcho) in `tmp`
    with `local_system_env`, its five databases fresh ones on the suite's PostgreSQL; `base` is the
    gateway's URL."""

    def __init__(self, tmp: Any, extra_env: dict[str, str] | None = None) -> None:
        from pathlib import Path

        self.root = Path(__file__).resolve().parents[1]
        self.tmp = Path(tmp)
        self.env = local_system_env(self.tmp, extra_env)
        self.base = f"http://127.0.0.1:{self.env['JPASS_GATEWAY_PORT']}"
        self.bootstrap = self.env["JPASS_KAFKA_BOOTSTRAP_SERVERS"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.tmp / "system.log"
        self.databases: list[str] = []

    def start(self, timeout_s: float = 90) -> None:
        import sys

        for service in SERVICES:
            url = _run_coroutine(create_pg_database(f"t_sys_{service}"))
            self.databases.append(url)
            self.env[service_url_variable(service)] = url
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devtools.run"],
            cwd=self.tmp,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(SERVICE_NAMES)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.base}/{name}/readyz", timeout=2).status_code == 200:
                        pending.discard(name)
            time.sleep(0.3)
        if pending:
            raise RuntimeError(f"not ready: {pending}\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        import signal

        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C, as a person would
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self._log.close()
            self.proc = None
        for url in self.databases:
            _run_coroutine(drop_pg_database(url))
        self.databases.clear()


async def wait_dead_lettered(
    bootstrap: str, topic: str, matches: Callable[[Any], bool], timeout_s: float = 20.0
) -> list[Any]:
    """Wait until a record of `topic` that `matches` is there. Dead-letter topics are shared with other
    tests on the session broker, so read all of it each time rather than the first records."""

    async def found() -> list[Any]:
        records = [r for r in await read_topic(bootstrap, topic, expect=10**9, timeout_s=1.0) if matches(r)]
        assert records, f"nothing matching on {topic}"
        return records

    return await eventually(found, timeout_s=timeout_s)
