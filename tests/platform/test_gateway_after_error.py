"""One user's 500 must not break the next user's write through the gateway (issue 18, point 2).

The whole local system (honcho, Caddy, uvicorn) on free ports. A real, unexpected database error gives the
500: a trigger in the search service's SQLite database aborts one saved search's insert (nothing the code
expects, so nothing handles it). Each 500 is followed at once by another user's POST through the gateway,
which Caddy sends on the same keep-alive connection and does not retry (not idempotent)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import LocalSystem, token_for

pytestmark = pytest.mark.xdist_group("local-system")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    system = LocalSystem(tmp_path_factory.mktemp("gateway"))
    system.start()
    try:
        yield system
    finally:
        system.stop()


def test_a_500_leaves_the_next_users_write_intact(local: LocalSystem) -> None:
    with sqlite3.connect(Path(local.tmp) / "var" / "search.db") as db:
        db.execute(
            "CREATE TRIGGER IF NOT EXISTS injected_failure BEFORE INSERT ON saved_searches "
            "WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
    staff = {"Authorization": f"Bearer {token_for('d1s1-staff1')}"}
    hq = {"Authorization": f"Bearer {token_for('d1-hq')}"}
    outcomes, errors = [], []
    with httpx.Client(base_url=local.base, timeout=10) as client:
        for i in range(8):
            failed = client.post("/api/v1/saved-searches", headers=staff, json={"name": "boom", "params": {}})
            errors.append((failed.status_code, failed.text))
            body = {"name": f"次の人{i}", "params": {}}
            saved = client.post("/api/v1/saved-searches", headers=hq, json=body)
            outcomes.append(saved.status_code)
    assert outcomes == [201] * 8, outcomes
    assert {status for status, _ in errors} == {500}, errors
    assert all('"code":"internal_error"' in text for _, text in errors), errors  # our JSON error format
    listed = httpx.get(f"{local.base}/api/v1/saved-searches", headers=hq, timeout=10).json()["items"]
    assert sorted(s["name"] for s in listed) == sorted(f"次の人{i}" for i in range(8))
