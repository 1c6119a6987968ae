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
    for required in ("JPASS_DATABASE_URL", "JPASS_KAFKA_BOOTSTRAP_SERVERS", "JPASS_OIDC_ISSUER"):
        assert env.get(required), f"{service}: {required} missing"
    assert "JPASS_JWT_SECRET" not in env  # no service holds a signing key (SPEC §9.3)
    assert env["JPASS_DATABASE_URL"].endswith(f"/jpass_{service}")
    assert env["JPASS_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert spec["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert spec["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert spec["depends_on"]["keycloak"]["condition"] == "service_healthy"


def test_one_database_per_service_is_created() -> None:
    init = (ROOT / "deploy/postgres/init.sql").read_text()
    for service in SERVICES:
        assert f"CREATE DATABASE jpass_{service};" in init


def test_infrastructure_has_health_checks() -> None:
    for name in ("kafka", "postgres", "mailpit", "keycloak", "gateway"):
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


REALM_FILE = ROOT / "deploy/keycloak/jpass-realm.json"


def test_the_services_trust_keycloak_through_the_gateway() -> None:
    """The issuer is Keycloak's front-channel URL (KC_HOSTNAME, through the gateway's /realms/ route);
    discovery and keys come over the compose network; the realm file is the one Keycloak imports."""
    keycloak = COMPOSE["services"]["keycloak"]
    env = COMPOSE["services"]["search"]["environment"]
    hostname = keycloak["environment"]["KC_HOSTNAME"]
    assert env["JPASS_OIDC_ISSUER"] == f"{hostname}/realms/jpass"
    assert env["JPASS_OIDC_DISCOVERY_URL"] == (
        "http://keycloak:8080/realms/jpass/.well-known/openid-configuration"
    )
    assert keycloak["environment"]["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"
    assert "--import-realm" in keycloak["command"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in keycloak["volumes"]}
    assert mounted["./deploy/keycloak/jpass-realm.json"].startswith("/opt/keycloak/data/import/")
    caddyfile = (ROOT / "deploy/Caddyfile").read_text()
    assert re.search(r"@keycloak path /realms/\* /resources/\*", caddyfile)
    assert COMPOSE["services"]["gateway"]["environment"]["KEYCLOAK_UPSTREAM"] == "keycloak:8080"


def test_the_realm_export_is_what_devtools_makes_of_the_demo_users() -> None:
    from devtools.keycloak_realm import render

    assert REALM_FILE.read_text() == render(), (
        "deploy/keycloak/jpass-realm.json is stale: "
        "python -m devtools.keycloak_realm > deploy/keycloak/jpass-realm.json"
    )


def test_the_realm_gives_the_claims_j_pass_authorizes_with() -> None:
    import json

    from devtools.demo import DEMO_USERS
    from shared.identity import MAX_TOKEN_TTL_S

    realm = json.loads(REALM_FILE.read_text())
    assert realm["realm"] == "jpass" and realm["accessTokenLifespan"] <= MAX_TOKEN_TTL_S
    assert realm["defaultSignatureAlgorithm"] in ("RS256", "ES256")
    (client,) = realm["clients"]
    assert client["clientId"] == "jpass-pages" and client["publicClient"] is True
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["redirectUris"] == ["http://localhost:8080/login/callback"]
    assert client["attributes"]["post.logout.redirect.uris"] == "http://localhost:8080/login/logged-out"
    assert "basic" in client["defaultClientScopes"]  # `sub` (Keycloak 25+)
    claims = {m["config"].get("claim.name") for m in client["protocolMappers"]}
    assert {"user_id", "name", "role", "dealer_code", "store_code", "email"} <= claims
    (audience,) = [m for m in client["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper"]
    assert audience["config"]["included.custom.audience"] == "jpass"
    users = {u["username"]: u for u in realm["users"]}
    assert set(users) == {u.user_id for u in DEMO_USERS}
    for user in DEMO_USERS:
        attributes = users[user.user_id]["attributes"]
        assert attributes["role"] == [user.role] and attributes["dealer_code"] == [user.dealer_code]
        assert attributes.get("store_code") == ([user.store_code] if user.store_code else None)
        assert attributes["display_name"] == [user.name]
    profile = json.loads(
        realm["components"]["org.keycloak.userprofile.UserProfileProvider"][0]["config"][
            "kc.user.profile.config"
        ][0]
    )
    declared = {a["name"] for a in profile["attributes"]}
    assert {"display_name", "role", "dealer_code", "store_code"} <= declared
