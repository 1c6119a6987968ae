"""No Docker engine runs here: check docker-compose.yml, the Dockerfile and the Caddyfile statically."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("search", "selection", "returns", "approvals", "mailer")
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_fields(service: str) -> set[str]:
    config = importlib.import_module(f"services.{service}.config")
    cls = next(v for k, v in vars(config).items() if k.endswith("Settings") and k != "CommonSettings")
    return {f"JPASS_{name.upper()}" for name in cls.model_fields}


def test_every_image_is_pinned() -> None:
    images = [s["image"] for s in COMPOSE["services"].values() if "image" in s]
    assert images
    for image in images:
        _, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), image
    base = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and re.search(r":\d", base.group(1))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_the_settings_it_reads(service: str) -> None:
    spec = COMPOSE["services"][service]
    env = spec["environment"]
    assert env["JPASS_SERVICE"] == service
    known = settings_fields(service) | {"JPASS_SERVICE"}
    for key in env:
        assert key in known, f"{service}: {key} is not a setting of the service"
    for required in ("JPASS_DATABASE_URL", "JPASS_KAFKA_BOOTSTRAP_SERVERS", "JPASS_JWT_SECRET"):
        assert env.get(required), f"{service}: {required} missing"
    assert env["JPASS_DATABASE_URL"].endswith(f"/jpass_{service}")
    assert env["JPASS_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert spec["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert spec["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_one_database_per_service_is_created() -> None:
    init = (ROOT / "deploy/postgres/init.sql").read_text()
    for service in SERVICES:
        assert f"CREATE DATABASE jpass_{service};" in init


def test_infrastructure_has_health_checks() -> None:
    for name in ("kafka", "postgres", "mailpit", "gateway"):
        assert COMPOSE["services"][name]["healthcheck"]["test"], name
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()


def test_the_reminder_settings_pass_through_to_approvals() -> None:
    env = COMPOSE["services"]["approvals"]["environment"]
    for key in ("JPASS_SWEEP_INTERVAL_S", "JPASS_REMINDER_SUBMITTER_AFTER_S", "JPASS_REMINDER_HQ_AFTER_S"):
        assert key in env


def test_gateway_upstreams_match_the_caddyfile() -> None:
    caddyfile = (ROOT / "deploy/Caddyfile").read_text()
    placeholders = set(re.findall(r"\{\$([A-Z_]+)(?::[^}]*)?\}", caddyfile))
    gateway_env = set(COMPOSE["services"]["gateway"]["environment"])
    assert placeholders == gateway_env
    for key, upstream in COMPOSE["services"]["gateway"]["environment"].items():
        if key.startswith("JPASS_GATEWAY_"):  # its own port and bind address
            continue
        host = upstream.split(":")[0]
        assert host in COMPOSE["services"], (key, upstream)


def test_compose_publishes_ports_on_this_machine_only() -> None:
    """The demo IdP, TFC console and mail catcher are open to whoever reaches them (issue 18)."""
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_dockerfile_copies_what_exists() -> None:
    for src in re.findall(r"^COPY (\S+)", (ROOT / "Dockerfile").read_text(), re.M):
        for part in src.split():
            assert (ROOT / part).exists(), part


def test_caddyfile_is_valid_for_caddy() -> None:
    caddy = shutil.which("caddy") or str(Path(__file__).resolve().parents[2] / ".venv/bin/caddy")
    result = subprocess.run(
        [caddy, "adapt", "--config", str(ROOT / "deploy/Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert '"reverse_proxy"' in result.stdout
