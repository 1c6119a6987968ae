"""The soak's faults, one kind each: the broker interrupted, a service process SIGKILLed and restarted,
PostgreSQL paused. Each returns what it did; `resume_everything` undoes any pause left (after a failure).

The broker is paused and its connections cut, never restarted: the local Tansu keeps its topics in memory
only, so a restart would lose every message by design — a fault production Kafka, which keeps its log, does
not have (docs/decisions.md, "Soak under faults")."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from random import Random
from typing import Any

import psutil

from bench.system import System
from devtools.local_postgres import EmbeddedPostgres

# The processes a service kill picks from (the Procfile's names; returns runs twice behind the gateway).
SERVICE_PROCESSES = ("search", "selection", "returns1", "returns2", "approvals", "mailer")
KINDS = ("broker", "service", "postgres")


@dataclass
class Fault:
    kind: str
    started_s: float  # seconds since the rush began
    down_s: float  # how long the broker/PostgreSQL was paused or the process was gone
    detail: dict[str, Any] = field(default_factory=dict)
    recovered_s: float | None = None  # from the end of the fault until everything flows again


def cut_connections(port: int) -> int | None:
    """Reset every TCP connection to or from `port` (ss -K, as a network failure would); how many, or
    None where `ss` cannot (not installed, or a kernel without socket destruction)."""
    if shutil.which("ss") is None:
        return None
    killed = 0
    for side in ("sport", "dport"):
        done = subprocess.run(
            ["ss", "-K", "-t", "-n", side, "=", f":{port}"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            return None
        killed += sum(1 for line in done.stdout.splitlines()[1:] if line.strip())
    return killed


class Faults:
    def __init__(self, system: System, postgres: EmbeddedPostgres, rng: Random, down_s: tuple[float, float]):
        self.system = system
        self.pg = postgres
        self.rng = rng
        self.down_s = down_s
        self._paused: list[psutil.Process] = []

    def _down(self) -> float:
        return round(self.rng.uniform(*self.down_s), 1)

    async def inject(self, kind: str, started_s: float) -> Fault:
        return await getattr(self, kind)(started_s)

    async def broker(self, started_s: float) -> Fault:
        """Tansu paused (clients time out, consumer sessions expire), then every client connection cut
        (clients reconnect to the same broker, whose memory is intact), then resumed."""
        down = self._down()
        tansu = psutil.Process(self.system.procs["broker"].pid)
        self._pause([tansu])
        await asyncio.sleep(down)
        cut = await asyncio.to_thread(cut_connections, self.system.ports["BROKER"])
        self._resume()
        return Fault("broker", started_s, down, {"connections_cut": cut})

    async def service(self, started_s: float) -> Fault:
        """SIGKILL one service process (no shutdown: in-flight requests, open transactions, uncommitted
        offsets are left as they are), start it again after a while."""
        name = self.rng.choice(SERVICE_PROCESSES)
        down = self._down()
        self.system.kill(name)
        await asyncio.sleep(down)
        self.system.start_process(name)
        return Fault("service", started_s, down, {"process": name})

    async def postgres(self, started_s: float) -> Fault:
        """The server and every backend stopped (SIGSTOP): queries hang, connections stay open."""
        down = self._down()
        postmaster = psutil.Process(self.pg.pid)
        self._pause([postmaster])  # first: no new backend is forked meanwhile
        backends = postmaster.children(recursive=True)
        self._pause(backends)
        await asyncio.sleep(down)
        self._resume()
        return Fault("postgres", started_s, down, {"processes": 1 + len(backends)})

    def _pause(self, processes: list[psutil.Process]) -> None:
        for proc in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGSTOP)
                self._paused.append(proc)

    def _resume(self) -> None:
        for proc in reversed(self._paused):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGCONT)
        self._paused.clear()

    def resume_everything(self) -> None:
        """After a failure mid-fault: nothing stays stopped (the cleanup would hang on it)."""
        self._resume()
        for proc in self.system.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)


def schedule(rng: Random, per_kind: int | None, duration_s: float) -> list[str]:
    """The kinds in the order they strike: `per_kind` of each, shuffled; or (None) shuffled rounds of all
    kinds, as many as the run has room for (the caller stops when time is up)."""
    if per_kind is not None:
        kinds = [k for k in KINDS for _ in range(per_kind)]
        rng.shuffle(kinds)
        return kinds
    rounds = []
    for _ in range(max(1, int(duration_s // 10))):
        kinds = list(KINDS)
        rng.shuffle(kinds)
        rounds.extend(kinds)
    return rounds
