"""Session-wide real infrastructure: one Tansu broker per test process (or KAFKA_BOOTSTRAP_SERVERS), and
one PostgreSQL per run (tests/backends.py: DATABASE_URL, else 127.0.0.1:5432, else a throwaway embedded
server, or testcontainers' Kafka and PostgreSQL where Docker is) with a fresh database per use."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

# Tansu completes a consumer-group join after about half the session timeout: keep tests quick.
os.environ.setdefault("JPASS_KAFKA_SESSION_TIMEOUT_MS", "1000")
os.environ.setdefault("JPASS_KAFKA_HEARTBEAT_INTERVAL_MS", "200")
os.environ.setdefault("JPASS_OUTBOX_POLL_INTERVAL_S", "0.2")
os.environ.setdefault("JPASS_LOG_JSON", "false")
os.environ.setdefault("JPASS_BROKER_START_TIMEOUT_S", "20")
# Two workers each run whole systems of five services on one shared PostgreSQL (max_connections 100):
# 4 + 4 connections per service process keep a run inside it (20 each ran it out under the race tests).
os.environ.setdefault("JPASS_DB_POOL_SIZE", "4")

from devtools import staff_directory
from tests import backends, support

# Every app of the run trusts the suite's test keys (tests/support.py TEST_KEYS), not a running provider.
os.environ["JPASS_JWKS_JSON"] = support.TEST_JWKS_JSON
from tests.support import Tansu, create_pg_database, drop_pg_database

_BACKEND = pytest.StashKey[backends.Backend]()


def pytest_configure(config: pytest.Config) -> None:
    """Choose the servers once per run: in the xdist controller (or the only process with -n 0), before
    the workers are spawned; they inherit the choice through the environment."""
    if hasattr(config, "workerinput"):
        return
    backend = backends.choose(os.environ)
    config.stash[_BACKEND] = backend
    backends.export(backend)


def pytest_unconfigure(config: pytest.Config) -> None:
    backend = config.stash.get(_BACKEND, None)
    if backend is not None:
        backend.close()  # the throwaway server or the containers go with the run


def pytest_report_header(config: pytest.Config) -> str | None:
    backend = config.stash.get(_BACKEND, None)
    return f"J-PASS backend: {backend.description}" if backend else None


# selection's staff directory as `make run` hands it over: the demo users' export (one file per process).
if "JPASS_STAFF_DIRECTORY" not in os.environ:
    _directory = Path(tempfile.gettempdir()) / f"jpass-test-staff-directory-{os.getpid()}.json"
    staff_directory.write(_directory)
    os.environ["JPASS_STAFF_DIRECTORY"] = str(_directory)
    atexit.register(_directory.unlink, missing_ok=True)


@pytest.fixture(autouse=True)
def fresh_tokens() -> None:
    """Module-level tokens (tests.support.auth, token_cookies) are re-minted before they can expire."""
    support.refresh_tokens()


@pytest.fixture(scope="module", autouse=True)
def own_consumer_groups(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test module's apps use consumer groups of their own on the shared broker (a group joined by
    another module's still-running app would share out the partitions between the two)."""
    previous = os.environ.get("JPASS_CONSUMER_GROUP_SUFFIX")
    os.environ["JPASS_CONSUMER_GROUP_SUFFIX"] = (
        f".{request.module.__name__.rsplit('.', 1)[-1]}.{uuid.uuid4().hex[:6]}"
    )
    yield
    if previous is None:
        os.environ.pop("JPASS_CONSUMER_GROUP_SUFFIX", None)
    else:
        os.environ["JPASS_CONSUMER_GROUP_SUFFIX"] = previous


@pytest.fixture(scope="module", autouse=True)
def consumers_start_at_module_start(request: pytest.FixtureRequest) -> Iterator[None]:
    """New consumer groups of this module's apps start where the topics ended when the module started
    (tests.support.running), not at the beginning of the session's shared broker. Before this process
    started its broker there is nothing to skip (and pure-test modules start no broker)."""
    from shared.topics import ALL_TOPICS

    support.MODULE_START_OFFSETS.clear()
    support.MODULE_START_BROKER.clear()
    if _broker_started or os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own event loop, off pytest-asyncio's
            ends = pool.submit(asyncio.run, support.topic_end_offsets(bootstrap, ALL_TOPICS)).result()
        support.MODULE_START_OFFSETS.update(ends)
        support.MODULE_START_BROKER.append(bootstrap)
    yield
    support.MODULE_START_OFFSETS.clear()
    support.MODULE_START_BROKER.clear()


_broker_started = False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    global _broker_started
    broker = Tansu()
    broker.start()
    _broker_started = True
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
async def pg_database() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Factory: `await pg_database("search")` → URL of a new empty database, dropped after the test."""
    made: list[str] = []

    async def make(prefix: str) -> str:
        url = await create_pg_database(f"t_{prefix}")
        made.append(url)
        return url

    yield make
    for url in made:
        await drop_pg_database(url)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_database(
    request: pytest.FixtureRequest, pg_database: Callable[[str], Awaitable[str]], tmp_path: Path
) -> Callable[[str], Awaitable[str]]:
    """Factory for database tests that must pass on both PostgreSQL and SQLite."""
    if request.param == "postgresql":
        return pg_database

    async def make(prefix: str) -> str:
        return f"sqlite+aiosqlite:///{tmp_path}/{prefix}.db"

    return make


# `make test-fast`: the pure and use-case tests (SQLite, no broker, no PostgreSQL), in well under a minute.
_SLOW_FIXTURES = frozenset({"kafka_bootstrap", "pg_database"})
_SLOW_DIRS = ("tests/browser/", "tests/platform/", "tests/faults/", "tests/fuzz/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("JPASS_TEST_TIER") != "fast":
        return
    keep, drop = [], []
    for item in items:
        path = item.nodeid.replace("\\", "/")
        slow = (
            bool(_SLOW_FIXTURES & set(getattr(item, "fixturenames", ())))
            or "[postgresql" in item.nodeid
            or path.startswith(_SLOW_DIRS)
        )
        (drop if slow else keep).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep
