"""The fixed cost of a request: CPU per contract-number lookup in the search service, idle.

    .venv/bin/python -m bench.request_cost [--profile DIR]

A contract-number lookup (`GET /api/v1/contracts?mode=individual&contract_no=…`) is a primary-key read
of one row: what it costs beyond its SQL is the cost every request pays (HTTP, middlewares, the token,
FastAPI's parameters, the ORM, JSON, tracing). Search alone under uvicorn (search_bench's service, its
own broker and database), the lookups one after the other; measured:

- CPU milliseconds per request of the search process and of its database's backends (CPU counters over
  each batch, less their idle use over as long), wall p50 / p95;
- the same for `/search/healthz` (the HTTP stack and the middlewares, nothing else): the floor;
- with `--profile`, a py-spy profile of the search process during the lookups (1,000 samples a second).

Several variants (the working tree and `BENCH_BASELINE_REF`'s checkout, bench/__main__.py) run side by
side and take turns, batch after batch: whatever else the shared machine does at the time weighs on each
alike (measured one after the other, the same code moved by 20 % between runs minutes apart). The
per-round ratios give the spread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy.engine import make_url

from bench import search_bench
from bench.common import ROOT, Section, pct, postgres_database, postgres_server
from bench.profiling import PY_SPY, summarise
from tests.support import create_pg_database, drop_pg_database, sign_token

LOOKUP = {"mode": "individual", "contract_no": "B000000123"}
IDLE_S = 3.0


@dataclass
class Variant:
    """One search service to measure: a checkout (`root`) and environment of its own."""

    label: str
    root: str = ROOT
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestCost:
    label: str
    cpu_ms: float  # the search process, per lookup, idle use taken off
    db_cpu_ms: float  # its database's backends, per lookup
    p50_ms: float
    p95_ms: float
    health_cpu_ms: float
    health_p50_ms: float
    rounds_cpu_ms: list[float]  # per round, for the spread
    profile: dict[str, Any] | None = None


def cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def backends(database: str) -> list[int]:
    out = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        if (proc.info["name"] or "").startswith("postgres"):
            if postgres_database(" ".join(proc.info["cmdline"] or [])) == database:
                out.append(proc.info["pid"])
    return out


class _Running:
    """A started variant: its service, client and counters."""

    def __init__(self, variant: Variant, url: str, service: search_bench.Service) -> None:
        self.variant, self.url, self.service = variant, url, service
        self.database = make_url(url).database or ""
        self.client = httpx.AsyncClient(base_url=service.base_url, timeout=30)
        self.headers = {"Authorization": f"Bearer {sign_token(search_bench.users()['staff'])}"}
        self.idle = (0.0, 0.0)
        self.spent = {"lookup": [0.0, 0.0, 0], "health": [0.0, 0.0, 0]}  # service s, db s, requests
        self.times: dict[str, list[float]] = {"lookup": [], "health": []}
        self.rounds: list[float] = []

    async def requests(self, kind: str, n: int) -> list[float]:
        url, params, headers = (
            ("/api/v1/contracts", LOOKUP, self.headers) if kind == "lookup" else ("/search/healthz", {}, {})
        )
        times = []
        for _ in range(n):
            started = time.perf_counter()
            r = await self.client.get(url, params=params, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            r.raise_for_status()
        return times

    def counters(self) -> tuple[float, float, float]:
        return cpu_s([self.service.pid]), cpu_s(backends(self.database)), time.monotonic()

    async def batch(self, kind: str, n: int) -> None:
        service, db, started = self.counters()
        self.times[kind] += await self.requests(kind, n)
        service_after, db_after, ended = self.counters()
        elapsed = ended - started
        used = (service_after - service - self.idle[0] * elapsed, db_after - db - self.idle[1] * elapsed)
        spent = self.spent[kind]
        spent[0], spent[1], spent[2] = spent[0] + used[0], spent[1] + used[1], int(spent[2]) + n
        if kind == "lookup":
            self.rounds.append(1000 * used[0] / n)

    def result(self) -> RequestCost:
        (service_s, db_s, n), (health_s, _, health_n) = self.spent["lookup"], self.spent["health"]
        return RequestCost(
            self.variant.label,
            1000 * service_s / n,
            1000 * db_s / n,
            pct(self.times["lookup"], 50),
            pct(self.times["lookup"], 95),
            1000 * health_s / health_n,
            pct(self.times["health"], 50),
            self.rounds,
        )


async def measure(
    variants: list[Variant], rounds: int = 12, per_round: int = 50, contracts: int = 20_000, profile: str = ""
) -> list[RequestCost]:
    """Every variant started side by side, then `rounds` turns of `per_round` lookups (and as many
    healthz) each, variant after variant; idle use measured first, for all at once."""
    today = date.today()
    running: list[_Running] = []
    try:
        for variant in variants:
            url = await create_pg_database("bench_request")
            service = search_bench.Service(url, today, root=variant.root, env=variant.env)
            running.append(_Running(variant, url, service))
            await asyncio.to_thread(_migrate, url, variant.root)
            await search_bench.seed(url, contracts, today)
            await asyncio.to_thread(service.start)
        for r in running:  # warm: connections, statement caches
            await r.requests("lookup", 50)
            await r.requests("health", 50)
        before = [r.counters() for r in running]
        await asyncio.sleep(IDLE_S)
        for r, (service, db, started) in zip(running, before, strict=True):
            after = r.counters()
            r.idle = ((after[0] - service) / (after[2] - started), (after[1] - db) / (after[2] - started))
        for turn in range(rounds):
            for r in running if turn % 2 == 0 else reversed(running):
                await r.batch("lookup", per_round)
                await r.batch("health", per_round)
        results = [r.result() for r in running]
        if profile:
            for r, result in zip(running, results, strict=True):
                path = Path(profile) / f"search-lookup-{_slug(r.variant.label)}.txt"
                result.profile = await _profile(r, path)
        return results
    finally:
        for r in running:
            await r.client.aclose()
            await asyncio.to_thread(r.service.stop)
            await drop_pg_database(r.url)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).strip("-")[:40]


async def _profile(r: _Running, path: Path) -> dict[str, Any]:
    """py-spy at 1,000 Hz on the service while it answers lookups back to back for about 8 s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spy = await asyncio.create_subprocess_exec(
        PY_SPY,
        "record",
        "--pid",
        str(r.service.pid),
        "--rate",
        "1000",
        "--duration",
        "8",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    while spy.returncode is None:
        await r.requests("lookup", 20)
        try:
            await asyncio.wait_for(spy.wait(), 0.001)
        except TimeoutError:
            pass
    collapsed = await asyncio.to_thread(lambda: path.read_text() if path.exists() else "")
    if spy.returncode != 0 or not collapsed:
        return {"error": ((await spy.stderr.read()) if spy.stderr else b"").decode()[-300:]}
    return {"file": str(path), **summarise(collapsed, top=25)}


def _migrate(url: str, root: str) -> None:
    env = {**os.environ, "JPASS_DATABASE_URL": url, **({"PYTHONPATH": root} if root != ROOT else {})}
    subprocess.run([sys.executable, "-m", "services.search.migrate"], cwd=root, env=env, check=True)


def spread(current: RequestCost, baseline: RequestCost) -> str:
    """Median and range of the per-round ratios current / baseline of CPU per lookup."""
    ratios = [c / b for c, b in zip(current.rounds_cpu_ms, baseline.rounds_cpu_ms, strict=True) if b > 0]
    if not ratios:
        return ""
    return f"per round {statistics.median(ratios):.2f}× (rounds {min(ratios):.2f}–{max(ratios):.2f}×)"


def section(current: RequestCost, baseline: RequestCost | None = None) -> Section:
    out = Section("request", "The fixed cost of a request: search, a contract-number lookup, idle")
    base = baseline
    rows = (
        ("lookup: search process CPU per request", current.cpu_ms, base and base.cpu_ms),
        ("lookup: its database's CPU per request", current.db_cpu_ms, base and base.db_cpu_ms),
        ("lookup: p50", current.p50_ms, base and base.p50_ms),
        ("lookup: p95", current.p95_ms, base and base.p95_ms),
        ("/search/healthz: CPU per request", current.health_cpu_ms, base and base.health_cpu_ms),
        ("/search/healthz: p50", current.health_p50_ms, base and base.health_p50_ms),
    )
    for name, value, then in rows:
        note = spread(current, base) if base and name.startswith("lookup: search process") else ""
        out.add(name, value, "ms", baseline_name=base.label if base else "", baseline=then, note=note)
    for cost in (current, baseline):
        if cost is not None and cost.profile and "self_top" in cost.profile:
            profile = cost.profile
            own = "; ".join(f"{f['function']} {f['percent']}%" for f in profile["own_code_inclusive_top"][:8])
            leaf = "; ".join(f"{f['function']} {f['percent']}%" for f in profile["self_top"][:10])
            out.notes.append(
                f"py-spy, {cost.label} ({profile['samples']} samples): our code inclusive: {own}. "
                f"Self time: {leaf}."
            )
            out.details[f"profile {cost.label}"] = profile
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=12, help="turns of 50 lookups (default 12)")
    parser.add_argument("--profile", default="", help="a directory for the py-spy profile of the lookups")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:NAME=VALUE,…",
        help="also measure the working tree with these environment variables (side by side)",
    )
    args = parser.parse_args()
    from bench.common import section_markdown

    variants = [Variant("working tree")]
    for text in args.variant:
        label, _, assignments = text.partition(":")
        env = dict(a.split("=", 1) for a in assignments.split(",") if a)
        variants.append(Variant(label, env=env))
    with postgres_server():
        results = asyncio.run(measure(variants, rounds=args.rounds, profile=args.profile))
    for result in results[1:]:
        print(section_markdown(section(result, results[0])))
    if len(results) == 1:
        print(section_markdown(section(results[0])))


if __name__ == "__main__":
    main()
