"""The whole local system of `make run` (the Procfile's processes) on free ports, each service on its own
PostgreSQL database. The Procfile stays the one description of the processes: its commands are run
here with the same `${VAR:-default}` expansion honcho's shell does, but with an environment per process
(honcho gives every process the same one, and the services all read JPASS_DATABASE_URL)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import ROOT, wait_for_port
from tests.support import TEST_JWKS_JSON, free_port

SERVICES = ("search", "selection", "returns", "approvals", "mailer")
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")
PROCESS_SERVICE = {"returns1": "returns", "returns2": "returns"}


def procfile() -> dict[str, str]:
    out = {}
    for line in (Path(ROOT) / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            out[name.strip()] = command.strip()
    return out


def expand(command: str, env: dict[str, str]) -> list[str]:
    return shlex.split(_VAR.sub(lambda m: env.get(m[1], m[2] or ""), command))


class System:
    """Start with `start()`, stop with `stop()`; `pids[name]` for the profiler."""

    def __init__(self, database_urls: dict[str, str], extra_env: dict[str, str] | None = None) -> None:
        ports = (
            "GATEWAY",
            "BROKER",
            "SEARCH",
            "SELECTION",
            "RETURNS1",
            "RETURNS2",
            "APPROVALS",
            "MAILER",
            "DEVTOOLS",
            "SMTP_CATCHER",
        )
        self.ports = {name: free_port() for name in ports}
        bin_dir = str(Path(sys.executable).parent)
        env = dict(os.environ)
        env.update({f"JPASS_{k}_PORT": str(v) for k, v in self.ports.items()})
        env.update(
            PATH=f"{bin_dir}:{env['PATH']}",
            JPASS_AUTO_CREATE_SCHEMA="false",  # migrated before (as `make run`)
            JPASS_CADDYFILE=str(Path(ROOT) / "deploy/Caddyfile"),
            JPASS_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{self.ports['BROKER']}",
            JPASS_KAFKA_SESSION_TIMEOUT_MS="3000",
            JPASS_KAFKA_HEARTBEAT_INTERVAL_MS="500",
            JPASS_SMTP_PORT=str(self.ports["SMTP_CATCHER"]),
            JPASS_SEED_ON_START="false",
            JPASS_JWKS_JSON=TEST_JWKS_JSON,  # the load's tokens are signed with the test keys
            JPASS_LOG_JSON="false",
            SEARCH_UPSTREAM=f"127.0.0.1:{self.ports['SEARCH']}",
            SELECTION_UPSTREAM=f"127.0.0.1:{self.ports['SELECTION']}",
            RETURNS_UPSTREAMS=f"127.0.0.1:{self.ports['RETURNS1']} 127.0.0.1:{self.ports['RETURNS2']}",
            APPROVALS_UPSTREAM=f"127.0.0.1:{self.ports['APPROVALS']}",
            MAILER_UPSTREAM=f"127.0.0.1:{self.ports['MAILER']}",
            DEVTOOLS_UPSTREAM=f"127.0.0.1:{self.ports['DEVTOOLS']}",
        )
        env.update(extra_env or {})
        self.env = env
        self.database_urls = database_urls
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logdir = Path(tempfile.mkdtemp(prefix="jpass-bench-system-"))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['GATEWAY']}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['BROKER']}"

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def env_for(self, name: str) -> dict[str, str]:
        service = PROCESS_SERVICE.get(name, name)
        if service in self.database_urls:
            return {**self.env, "JPASS_DATABASE_URL": self.database_urls[service]}
        return self.env

    def start(self, timeout_s: float = 120) -> None:
        commands = procfile()
        order = ["broker"] + [n for n in commands if n != "broker"]
        for name in order:
            env = self.env_for(name)
            log = open(self.logdir / f"{name}.log", "wb")
            self.procs[name] = subprocess.Popen(
                expand(commands[name], env), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
            if name == "broker":
                wait_for_port(self.ports["BROKER"])
        deadline = time.monotonic() + timeout_s
        pending = set(SERVICES)
        while pending:
            for name in list(pending):
                try:
                    if httpx.get(f"{self.base_url}/{name}/readyz", timeout=2).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited: see {self.logdir / (name + '.log')}")
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not ready: {sorted(pending)} (logs in {self.logdir})")
            time.sleep(0.3)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.logdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""
