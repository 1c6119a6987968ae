"""The fixed cost of a request: CPU per contract-number lookup in the search service, idle.

    .venv/bin/python -m bench.request_cost [--profile DIR]

A contract-number lookup (`GET /api/v1/contracts?mode=individual&contract_no=…`) is a primary-key read
of one row: what it costs beyond its SQL is the cost every request pays (HTTP, middlewares, the token,
FastAPI's parameters, the ORM, JSON, tracing, logging). Search alone under uvicorn (search_bench's
service, its own broker and database), the lookups one after the other; measured:

- CPU milliseconds per request of the search process and of its database backends (CPU counters over
  the batch, less their idle use over as long), wall p50 / p95;
- the same for `/search/healthz` (the HTTP stack and the middlewares, nothing else): the floor;
- with `--profile`, a py-spy profile of the search process during the lookups (1,000 samples a second).

`BENCH_BASELINE_REF` (bench/__main__.py) runs it against the ref's search service too, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
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
class RequestCost:
    label: str
    cpu_ms: float  # the search process, per request, idle use taken off
    db_cpu_ms: float  # its database's backends, per request
    p50_ms: float
    p95_ms: float
    health_cpu_ms: float
    health_p50_ms: float
    profile: dict[str, Any] | None


def _cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _backends(database: str) -> list[int]:
    out = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        if (proc.info["name"] or "").startswith("postgres"):
            if postgres_database(" ".join(proc.info["cmdline"] or [])) == database:
                out.append(proc.info["pid"])
    return out


async def _batch(
    client: httpx.AsyncClient, url: str, params: dict[str, str], headers: dict[str, str], n: int
) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        r = await client.get(url, params=params, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        r.raise_for_status()
    return times


class _Meter:
    """CPU of the service and of its database's backends over a batch, less their idle rate."""

    def __init__(self, pid: int, database: str, idle: tuple[float, float]) -> None:
        self.pid, self.database, self.idle = pid, database, idle

    @classmethod
    async def idle_rate(cls, pid: int, database: str) -> _Meter:
        backends = _backends(database)
        service, db, started = _cpu_s([pid]), _cpu_s(backends), time.monotonic()
        await asyncio.sleep(IDLE_S)
        elapsed = time.monotonic() - started
        return cls(pid, database, ((_cpu_s([pid]) - service) / elapsed, (_cpu_s(backends) - db) / elapsed))

    async def per_request_ms(self, run: Any, n: int) -> tuple[float, float, list[float]]:
        backends = _backends(self.database)
        service, db, started = _cpu_s([self.pid]), _cpu_s(backends), time.monotonic()
        times = await run(n)
        elapsed = time.monotonic() - started
        service_s = _cpu_s([self.pid]) - service - self.idle[0] * elapsed
        db_s = _cpu_s(backends) - db - self.idle[1] * elapsed
        return 1000 * service_s / n, 1000 * db_s / n, times


async def measure(
    root: str = ROOT, label: str = "working tree", n: int = 400, contracts: int = 20_000, profile: str = ""
) -> RequestCost:
    today = date.today()
    url = await create_pg_database("bench_request")
    service = search_bench.Service(url, today, root=root)
    try:
        await asyncio.to_thread(_migrate, url, root)
        await search_bench.seed(url, contracts, today)
        await asyncio.to_thread(service.start)
        user = search_bench.users()["staff"]
        headers = {"Authorization": f"Bearer {sign_token(user)}"}
        async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:

            async def lookups(k: int) -> list[float]:
                return await _batch(client, "/api/v1/contracts", LOOKUP, headers, k)

            async def health(k: int) -> list[float]:
                return await _batch(client, "/search/healthz", {}, {}, k)

            await lookups(50)  # warm: connections, statement caches
            await health(50)
            meter = await _Meter.idle_rate(service.pid, make_url(url).database or "")
            health_cpu, _, health_times = await meter.per_request_ms(health, n)
            cpu, db_cpu, times = await meter.per_request_ms(lookups, n)
            found = None
            if profile:
                found = await _profile(
                    service.pid, Path(profile) / f"search-lookup-{_slug(label)}.txt", lookups
                )
    finally:
        await asyncio.to_thread(service.stop)
        await drop_pg_database(url)
    return RequestCost(
        label, cpu, db_cpu, pct(times, 50), pct(times, 95), health_cpu, pct(health_times, 50), found
    )


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).strip("-")[:40]


async def _profile(pid: int, path: Path, lookups: Any) -> dict[str, Any]:
    """py-spy at 1,000 Hz on the service while it answers lookups back to back for about 8 s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spy = await asyncio.create_subprocess_exec(
        PY_SPY,
        "record",
        "--pid",
        str(pid),
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
        await lookups(20)
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


def section(current: RequestCost, baseline: RequestCost | None = None) -> Section:
    out = Section("request", "The fixed cost of a request: search, a contract-number lookup, idle")
    base = baseline
    for name, value, unit, then in (
        ("lookup: search process CPU per request", current.cpu_ms, "ms", base and base.cpu_ms),
        ("lookup: its database's CPU per request", current.db_cpu_ms, "ms", base and base.db_cpu_ms),
        ("lookup: p50", current.p50_ms, "ms", base and base.p50_ms),
        ("lookup: p95", current.p95_ms, "ms", base and base.p95_ms),
        ("/search/healthz: CPU per request", current.health_cpu_ms, "ms", base and base.health_cpu_ms),
        ("/search/healthz: p50", current.health_p50_ms, "ms", base and base.health_p50_ms),
    ):
        out.add(name, value, unit, baseline_name=base.label if base else "", baseline=then)
    for cost in (current, baseline):
        if cost is not None and cost.profile and "self_top" in cost.profile:
            own = "; ".join(
                f"{f['function']} {f['percent']}%" for f in cost.profile["own_code_inclusive_top"][:8]
            )
            leaf = "; ".join(f"{f['function']} {f['percent']}%" for f in cost.profile["self_top"][:10])
            out.notes.append(
                f"py-spy, {cost.label} ({cost.profile['samples']} samples): our code inclusive: {own}. "
                f"Self time: {leaf}."
            )
            out.details[f"profile {cost.label}"] = cost.profile
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=400, help="timed requests of each kind (default 400)")
    parser.add_argument("--profile", default="", help="a directory for the py-spy profile of the lookups")
    args = parser.parse_args()
    from bench.common import section_markdown

    with postgres_server():
        result = asyncio.run(measure(n=args.n, profile=args.profile))
    print(section_markdown(section(result)))


if __name__ == "__main__":
    main()
