"""A machine without PostgreSQL: the embedded server (devtools/local_postgres.py) and `make test`'s fallback
to it when DATABASE_URL is not given and nothing answers on the default address."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import psutil
import pytest
from sqlalchemy.engine import make_url

from devtools.local_postgres import EmbeddedPostgres, answers, ensure_databases
from tests.support import free_port, pg_admin_url

ROOT = Path(__file__).resolve().parents[2]
REPORT_ENV = "JPASS_TEST_SERVER_REPORT"


async def _server_facts(url: str) -> dict[str, object]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # the search service's bigram index
        await conn.execute("CREATE TABLE t (name text)")
        await conn.execute("INSERT INTO t VALUES ('山田 太郎'), ('佐藤 花子')")
        found = await conn.fetchval("SELECT name FROM t WHERE name % '山田太郎'")
        return {
            "found": found,
            "data_directory": await conn.fetchval("SELECT current_setting('data_directory')"),
            "started": str(await conn.fetchval("SELECT pg_postmaster_start_time()")),
        }
    finally:
        await conn.close()


def test_the_embedded_server_starts_takes_databases_and_goes_away() -> None:
    server = EmbeddedPostgres(tempfile.mkdtemp(prefix="jpass-pg-test-"))
    try:
        url = server.start()
        assert answers(url)
        urls = asyncio.run(ensure_databases(url, ["jpass_one", "jpass_two"]))
        assert asyncio.run(ensure_databases(url, ["jpass_one"])) == {"jpass_one": urls["jpass_one"]}  # kept
        facts = asyncio.run(_server_facts(urls["jpass_one"]))
        assert facts["found"] == "山田 太郎"
        assert facts["data_directory"] == str(server.data_dir)
        owner = psutil.Process(server.pid).username()
        assert owner == ("embedded_postgres" if os.geteuid() == 0 else psutil.Process().username())
        pid = server.pid
    finally:
        server.destroy()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not server.data_dir.exists()
    assert not answers(url)


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")


@pytest.mark.parametrize("n", [1, 2])
async def test_the_suite_server_takes_a_database_and_answers(
    n: int, pg_database: Callable[[str], Awaitable[str]]
) -> None:
    """On whatever server this run uses. Run by the test below in a nested pytest on the fallback, it
    reports which server each xdist worker used."""
    url = await pg_database(f"fallback{n}")
    facts = await _server_facts(url.replace("postgresql+asyncpg://", "postgresql://"))
    assert facts["found"] == "山田 太郎"
    report = os.environ.get(REPORT_ENV)
    if report:
        facts["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
        facts["admin_url"] = pg_admin_url()
        await asyncio.to_thread(_append_line, Path(report), json.dumps(facts))


@pytest.mark.timeout(900)  # a nested `pytest -n 2`: minutes on a busy machine (300 s would end the worker)
def test_without_a_server_make_test_starts_one_for_the_run_and_removes_it(tmp_path: Path) -> None:
    """`pytest -n 2` with no DATABASE_URL and nothing on the default address (moved to a closed port): one
    embedded server, shared by both workers, gone after the run; the outbox/inbox tests pass on it."""
    closed = free_port()  # bound and released: nothing listens there
    report = tmp_path / "servers.jsonl"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTEST_XDIST_WORKER")}
    env.update(
        JPASS_DEFAULT_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed}/test",
        JPASS_TEST_BACKEND="local",
        **{REPORT_ENV: str(report)},
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'nested'}",
            "tests/platform/test_embedded_postgres.py::test_the_suite_server_takes_a_database_and_answers",
            "tests/shared/test_outbox_inbox.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "J-PASS backend: local: PostgreSQL = a throwaway embedded PostgreSQL" in out, out[:2000]
    assert f"nothing answered at postgresql://postgres@127.0.0.1:{closed}/test" in out
    facts = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(facts) == 2
    # one server for the whole run, whichever worker asked
    assert len({(f["data_directory"], f["started"], f["admin_url"]) for f in facts}) == 1
    data_dir = Path(facts[0]["data_directory"])
    assert data_dir.name.startswith("jpass-pg-")
    assert make_url(facts[0]["admin_url"]).query["host"] == str(data_dir)  # its Unix socket
    assert not data_dir.exists()  # removed after the run…
    assert not answers(facts[0]["admin_url"])  # …and stopped
