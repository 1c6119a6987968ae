"""The whole local system of `make run` (the Procfile's processes) on free ports, each service on its own
PostgreSQL database. The Procfile stays the one description of the processes: its commands are run
here with the expansion honcho's shell does (`${VAR:-default}`, `${VAR:?message}`, leading `NAME=value`
assignments), each process on its own (`start_process`, `kill`: the soak SIGKILLs and restarts them)."""

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
from devtools.local_postgres import service_url_variable
from tests.support import TEST_JWKS_JSON, free_port

SERVICES = ("search", "selection", "returns", "approvals", "mailer")
_VAR = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")


def procfile(root: str = ROOT) -> dict[str, str]:
    out = {}
    for line in (Path(root) / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            out[name.strip()] = command.strip()
    return out


def expand(command: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """A Procfile command → (argv, the environment it runs with), as `sh -c` would run it."""

    def value(m: re.Match[str]) -> str:
        name, op, word = m[1], m[2], m[3] or ""
        if env.get(name):
            return env[name]
        if op == "?":
            raise RuntimeError(f"{name}: {word or 'not set'}")
        return word if op == "-" else ""

    words = shlex.split(_VAR.sub(value, command))
    own = dict(env)
    while words and _ASSIGNMENT.match(words[0]):
        name, _, assigned = words.pop(0).partition("=")
        own[name] = assigned
    return words, own


class System:
    """Start with `start()`, stop with `stop()`; `pids[name]` for the profiler. `root`: the checkout whose
    Procfile, gateway configuration and code run (another one for an A/B run, bench/ab.py: its code
    comes first on the path, before this virtualenv's editable install of the working tree)."""

    def __init__(
        self, database_urls: dict[str, str], extra_env: dict[str, str] | None = None, root: str = ROOT
    ) -> None:
        self.root = root
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
            JPASS_CADDYFILE=str(Path(root) / "deploy/Caddyfile"),
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
        # the Procfile hands each service its JPASS_<SERVICE>_DATABASE_URL as JPASS_DATABASE_URL
        env.update({service_url_variable(name): url for name, url in database_urls.items()})
        if root != ROOT:
            env["PYTHONPATH"] = root
        env.pop("JPASS_CONSUMER_GROUP_SUFFIX", None)  # the deployed group names (the test suite sets one)
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

    def start_process(self, name: str) -> subprocess.Popen[bytes]:
        """Start the Procfile's process `name` (again: after `kill`) with the system's environment."""
        argv, env = expand(procfile(self.root)[name], self.env)
        with open(self.logdir / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT
            )
        if name == "broker":
            wait_for_port(self.ports["BROKER"])
        return self.procs[name]

    def kill(self, name: str) -> None:
        """SIGKILL the process `name` (no shutdown of any kind) and reap it."""
        proc = self.procs[name]
        proc.kill()
        proc.wait()

    def start(self, timeout_s: float = 120) -> None:
        commands = procfile(self.root)
        for name in ["broker"] + [n for n in commands if n != "broker"]:
            self.start_process(name)
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
