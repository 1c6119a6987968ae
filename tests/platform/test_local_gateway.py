"""The local run's gateway (issue 18): one user's 500 must not break the next user's write (point 2), and
nothing of the local run listens beyond this machine (point 6).

The whole local system (honcho, Caddy, uvicorn) on free ports. A real, unexpected database error gives the
500: a trigger in the search service's database aborts one saved search's insert (nothing the code
expects, so nothing handles it). Each 500 is followed at once by another user's POST through the gateway,
which Caddy sends on the same keep-alive connection and does not retry (not idempotent)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from devtools.local_postgres import service_url_variable
from tests.support import LocalSystem

pytestmark = pytest.mark.xdist_group("local-system")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    system = LocalSystem(tmp_path_factory.mktemp("gateway"))
    system.start()
    try:
        yield system
    finally:
        system.stop()


async def inject_failure(database_url: str) -> None:
    """Inserting a saved search named 'boom' fails inside the database."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.name = 'boom' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER injected_failure BEFORE INSERT ON saved_searches "
            "FOR EACH ROW EXECUTE FUNCTION injected_failure()"
        )
    finally:
        await conn.close()


def provider_token(local: LocalSystem, user_id: str) -> dict[str, str]:
    """A token from the local system's own provider (devtools): its services trust its keys."""
    answer = httpx.post(f"{local.base}/auth/token", json={"user_id": user_id}, timeout=10)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_a_500_leaves_the_next_users_write_intact(local: LocalSystem) -> None:
    await inject_failure(local.env[service_url_variable("search")])
    staff, hq = provider_token(local, "d1s1-staff1"), provider_token(local, "d1-hq")
    outcomes, errors = [], []
    async with httpx.AsyncClient(base_url=local.base, timeout=10) as client:
        for i in range(8):
            boom = {"name": "boom", "params": {}}
            failed = await client.post("/api/v1/saved-searches", headers=staff, json=boom)
            errors.append((failed.status_code, failed.text))
            body = {"name": f"次の人{i}", "params": {}}
            saved = await client.post("/api/v1/saved-searches", headers=hq, json=body)
            outcomes.append(saved.status_code)
        got = await client.get("/api/v1/saved-searches", headers=hq)
        assert got.status_code == 200, (got.status_code, got.text[:300])
        listed = got.json()["items"]
    assert outcomes == [201] * 8, outcomes
    assert {status for status, _ in errors} == {500}, errors
    assert all('"code":"internal_error"' in text for _, text in errors), errors  # our JSON error format
    assert sorted(s["name"] for s in listed) == sorted(f"次の人{i}" for i in range(8))


def listening() -> dict[int, set[str]]:
    """Port → addresses of every listening TCP socket on this machine (Linux /proc/net)."""
    found: dict[int, set[str]] = {}
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":  # LISTEN
                continue
            address, port = local.split(":")
            raw = bytes.fromhex(address)
            # /proc shows each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.setdefault(int(port, 16), set()).add(socket.inet_ntop(family, words))
    return found


def test_the_local_run_listens_on_this_machine_only(local: LocalSystem) -> None:
    """The gateway serves /auth/token, /tfc and /dev/mail: anyone on the network could issue tokens and
    answer as TFC if it listened on every interface."""
    ports = {k: int(v) for k, v in local.env.items() if k.startswith("JPASS_") and k.endswith("_PORT")}
    sockets = listening()
    open_ = {name: sockets.get(port, set()) for name, port in ports.items()}
    assert open_["JPASS_GATEWAY_PORT"], "the gateway is not listening"
    wide = {name: addrs for name, addrs in open_.items() if addrs - {"127.0.0.1", "::1"}}
    assert not wide, wide
