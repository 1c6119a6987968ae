"""tests/backends.py without a Docker engine: the choice between the local and the containers backend under
a fake Docker check, the containers path run with stand-ins for testcontainers' containers, and our
construction of the real testcontainers classes checked against their code (with a stand-in Docker client).
The run on real containers needs Docker (README, Tests)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests import backends
from tests.support import pg_admin_url


class FakeContainer:
    """What tests/backends.py uses of a testcontainers container, recording the calls."""

    def __init__(self, name: str, log: list[str], fail_on_start: bool = False) -> None:
        self.name, self.log, self.fail_on_start = name, log, fail_on_start
        self.env: dict[str, str] = {}
        self.kraft = False

    def with_kraft(self) -> FakeContainer:
        self.kraft = True
        return self

    def with_env(self, key: str, value: str) -> FakeContainer:
        self.env[key] = value
        return self

    def start(self) -> FakeContainer:
        if self.fail_on_start:
            raise RuntimeError(f"{self.name} did not start")
        self.log.append(f"start {self.name}")
        return self

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")

    def get_connection_url(self) -> str:
        return "postgresql://postgres:jpass@localhost:32771/test"

    def get_bootstrap_server(self) -> str:
        return "localhost:32772"


def no_docker_check() -> bool:
    raise AssertionError("Docker must not be asked when the servers are given")


def test_without_docker_the_local_backend_runs_and_the_containers_tests_say_why() -> None:
    for wanted in ("containers", "auto"):
        backend = backends.choose({"JPASS_TEST_BACKEND": wanted}, docker_available=lambda: False)
        try:
            assert backend.name == "local"
            assert backend.containers_skip_reason and "no Docker engine" in backend.containers_skip_reason
            assert backend.env["DATABASE_URL"]  # the server at the default address, or a throwaway one
        finally:
            backend.close()


def test_given_servers_or_local_are_used_without_asking_docker() -> None:
    url = pg_admin_url()
    for env in (
        {"DATABASE_URL": url},
        {"DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
        {"DATABASE_URL": url, "JPASS_TEST_BACKEND": "local"},
    ):
        backend = backends.choose(env, docker_available=no_docker_check)
        assert (backend.name, backend.env, backend.cleanups) == ("local", {"DATABASE_URL": url}, [])
    with pytest.raises(pytest.UsageError, match="auto, local or containers"):
        backends.choose({"JPASS_TEST_BACKEND": "docker"})


def test_with_docker_the_run_uses_kafka_and_postgres_containers_and_stops_them() -> None:
    log: list[str] = []
    made: dict[str, FakeContainer] = {}

    def kafka() -> Any:
        made["kafka"] = FakeContainer("kafka", log)
        return made["kafka"]

    def postgres() -> Any:
        made["postgres"] = FakeContainer("postgres", log)
        return made["postgres"]

    backend = backends.choose(
        {}, docker_available=lambda: True, containers=lambda: backends.start_containers(kafka, postgres)
    )
    assert backend.name == "containers" and backend.containers_skip_reason is None
    assert backend.env == {
        "DATABASE_URL": "postgresql://postgres:jpass@localhost:32771/test",
        "KAFKA_BOOTSTRAP_SERVERS": "localhost:32772",
    }
    assert made["kafka"].kraft and made["kafka"].env == {"KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS": "500"}
    assert "Apache Kafka" in backend.description and "localhost:32772" in backend.description
    assert "jpass@" not in backend.description  # no password in the report header
    backend.close()
    assert log == ["start postgres", "start kafka", "stop kafka", "stop postgres"]


def test_a_container_that_does_not_start_leaves_none_running() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="kafka did not start"):
        backends.start_containers(
            lambda: FakeContainer("kafka", log, fail_on_start=True), lambda: FakeContainer("postgres", log)
        )
    assert log == ["start postgres", "stop postgres"]


def test_the_export_reaches_fixtures_and_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", backends.BACKEND_ENV, backends.SKIP_REASON_ENV):
        monkeypatch.setenv(name, "")  # remembered as it was: restored (or removed) after the test
        monkeypatch.delenv(name)
    backends.export(backends.Backend("containers", {"DATABASE_URL": "postgresql://x/test"}, "d"))

    assert os.environ["DATABASE_URL"] == "postgresql://x/test"
    assert os.environ[backends.BACKEND_ENV] == "containers"
    assert backends.SKIP_REASON_ENV not in os.environ
    backends.export(backends.Backend("local", {"DATABASE_URL": "postgresql://y/test"}, "d", "no Docker"))
    assert os.environ[backends.SKIP_REASON_ENV] == "no Docker"


class StandInDockerClient:
    """Lets testcontainers build its container objects without an engine (nothing is started)."""

    def __init__(self, **_: Any) -> None:
        pass


def test_our_settings_fit_the_real_testcontainers_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    import testcontainers.core.container as tc_container

    monkeypatch.setattr(tc_container, "DockerClient", StandInDockerClient)
    kafka = backends._kafka_container().with_kraft().with_env("KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS", "500")
    assert kafka.kraft_enabled and kafka.image == backends.KAFKA_IMAGE
    kafka.configure()  # KRaft settings (what start() applies first)
    assert kafka.env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka.env["KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS"] == "500"
    postgres = backends._postgres_container()
    postgres._configure()
    assert postgres.image == backends.POSTGRES_IMAGE
    assert (postgres.username, postgres.dbname, postgres.driver) == ("postgres", "test", "")  # plain URL
    assert postgres.env["POSTGRES_USER"] == "postgres"
    for method in ("start", "stop", "get_bootstrap_server"):
        assert callable(getattr(kafka, method))
    for method in ("start", "stop", "get_connection_url"):
        assert callable(getattr(postgres, method))


@backends.containers_only()
def test_the_run_is_on_apache_kafka_and_postgresql_containers() -> None:
    """Only in a run on the containers backend: its servers are the ones the containers gave."""
    assert os.environ["KAFKA_BOOTSTRAP_SERVERS"] and "@" in os.environ["DATABASE_URL"]
    assert pg_admin_url() == os.environ["DATABASE_URL"]
