"""Every JSON API fuzzed from its own OpenAPI document (schemathesis): no 5xx, responses match the schema.

Each service runs under uvicorn in its own process (SQLite in a temporary folder, the test broker) and
schemathesis drives it with a valid token of a head-office user (the widest scope); bounded and derandomized
(25 examples per operation) so it stays quick and repeatable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.support import Uvicorn, figure
from tests.support import token_for

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]  # minutes per service on a busy machine

SERVICES = ["search", "selection", "returns", "approvals", "mailer"]


@pytest.mark.parametrize("service", SERVICES)
def test_api_survives_fuzzing(service: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    server = Uvicorn(
        f"services.{service}.main:create_app",
        {
            "JPASS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "JPASS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/{service}.db",
            "JPASS_LOG_JSON": "false",
            "JPASS_TODAY": "2026-05-15",
        },
        tmp_path / "server.log",
    )
    server.start()
    try:
        server.wait_ready(service)
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "run",
                f"{server.base}/openapi/{service}.json",
                "--checks",
                "not_a_server_error,response_schema_conformance,content_type_conformance",
                "--max-examples",
                "25",
                "--generation-deterministic",
                "--no-shrink",
                "--phases",
                "examples,coverage,fuzzing",
                "--workers",
                "1",  # hypothesis' source inspection is not thread-safe on CPython 3.11
                "--request-timeout",
                "10",
                "--exclude-path-regex",
                r"^/(\w+)/(healthz|readyz)$",
                "--header",
                f"Authorization: Bearer {token_for('d1-hq')}",
                "--no-color",
                "--warnings",
                "off",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        server.stop()
    summary = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, (
        f"{summary}\n--- server log ---\n{(tmp_path / 'server.log').read_text()[-4000:]}"
    )
    tested = re.search(r"Tested: (\d+)", run.stdout)
    cases = re.search(r"(\d+) generated", run.stdout)
    assert tested and cases and int(tested.group(1)) > 0, summary
    figure(
        f"fuzz {service}: {tested.group(1)} operations, {cases.group(1)} generated requests, "
        "0 server errors, "
        "0 schema violations"
    )
