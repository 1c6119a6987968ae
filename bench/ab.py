"""A/B in one run: `BENCH_BASELINE_REF=<git ref>` runs the same rush against a checkout of that ref and
against the working tree, one after the other in the same invocation, and reports working tree / ref.

The ref is checked out as a temporary `git worktree` (detached, removed afterwards). Its code runs with
this virtualenv's packages: its directory is the processes' working directory and PYTHONPATH, ahead of
the editable install of the working tree (bench/system.py). That holds while the ref's dependencies are
this tree's (pyproject.toml and constraints.txt unchanged between the two): checked before anything runs.
The benchmark itself (the scenario, the probes, the data) is the working tree's for both sides.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import capacity, cost
from bench.common import ROOT, Section

if TYPE_CHECKING:
    from bench.load import LoadRun

DEPENDENCY_FILES = ("pyproject.toml", "constraints.txt")


def _git(*args: str, cwd: str = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def dependencies(pyproject: str, constraints: str) -> tuple[Any, ...]:
    """What decides the packages installed: pyproject's dependencies and extras, and the constraints."""
    project = tomllib.loads(pyproject).get("project", {})
    pins = sorted(
        line.strip() for line in constraints.splitlines() if line.strip() and not line.startswith("#")
    )
    return project.get("dependencies", []), project.get("optional-dependencies", {}), pins


def dependency_changes(ref: str) -> list[str]:
    """What differs in the dependencies between the ref and the working tree (empty: the same packages;
    the rest of pyproject.toml, the linters' settings say, may differ)."""
    ours = dependencies(*(Path(ROOT, name).read_text() for name in DEPENDENCY_FILES))
    theirs = dependencies(*(_git("show", f"{ref}:{name}") for name in DEPENDENCY_FILES))
    parts = (
        "pyproject.toml [project] dependencies",
        "pyproject.toml optional dependencies",
        "constraints.txt",
    )
    return [part for part, a, b in zip(parts, ours, theirs, strict=True) if a != b]


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[str]:
    """A detached checkout of `ref` in a temporary directory; yields its path, removes it afterwards."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()
    changed = dependency_changes(commit)
    if changed:
        raise RuntimeError(
            f"BENCH_BASELINE_REF={ref}: {', '.join(changed)} differ from the working tree's; the ref would "
            "need a virtualenv of its own (not supported: pick a ref with the same dependencies)"
        )
    path = tempfile.mkdtemp(prefix="jpass-bench-baseline-")
    _git("worktree", "add", "--detach", path, commit)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", path], cwd=ROOT, check=False)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=False)
        if Path(path).exists():
            subprocess.run(["rm", "-rf", path], check=False)


def ratios(current: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """current / baseline for every name both have (NaN where the baseline is 0 or NaN)."""
    out = {}
    for name in current.keys() & baseline.keys():
        base = baseline[name]
        out[name] = current[name] / base if base and not math.isnan(base) else math.nan
    return out


def describe(ref: str) -> str:
    """`main (cf9d363)`: the ref and the commit it named when the run started."""
    return f"{ref} ({_git('rev-parse', '--short', ref).strip()})"


def knee_users(steps: list[capacity.Step]) -> float:
    """Staff users at the knee (0 when the first step failed; the last step when none failed)."""
    found = capacity.knee(steps)
    return float(found.last_passed.staff_users) if found.last_passed else 0.0


def section(current: LoadRun, baseline: LoadRun, name: str) -> Section:
    """working tree / ref: CPU per user action (over the rush, per process; alone, per action type — the
    five most frequent in the rush must halve), p95 per action, and the capacity knee (must double)."""
    out = Section("ab", f"A/B: the working tree against {name}, the same rush one after the other")
    now, then = current.main, baseline.main
    cur = cost.by_part(cost.per_action_ms(now.cpu.seconds, now.actions))
    base = cost.by_part(cost.per_action_ms(then.cpu.seconds, then.actions))
    for part in ("total", *cost.PARTS):
        label = "J-PASS" if part == "total" else part
        out.add(
            f"{label}: CPU per user action, over the rush",
            cur[part],
            "ms",
            baseline_name=name,
            baseline=base[part],
        )
    counts = {e["name"]: e["requests"] for e in now.stats["entries"]}
    if current.solo and baseline.solo:
        common = current.solo.costs.keys() & baseline.solo.costs.keys()
        ranked = cost.top_actions(counts, common, current.solo.counts_as, n=len(common))
        for rank, unit in enumerate(ranked):
            out.add(
                f"{unit}: CPU per action, alone",
                cost.by_part(current.solo.costs[unit])["total"],
                "ms",
                baseline_name=name,
                baseline=cost.by_part(baseline.solo.costs[unit])["total"],
                target="ratio<=0.5" if rank < 5 else None,
                note=f"{counts.get(current.solo.counts_as[unit], 0)} in the rush",
            )
    before = {e["name"]: e for e in then.stats["entries"]}
    for e in now.stats["entries"]:
        if e["name"] in before:
            then_p95 = before[e["name"]]["p95_ms"]
            out.add(f"{e['name']}: p95 in the rush", e["p95_ms"], "ms", baseline_name=name, baseline=then_p95)
    if current.steps and baseline.steps:
        out.add(
            "capacity knee (staff users at p95 ≤ 1 s, 0 errors)",
            knee_users(current.steps),
            "",
            baseline_name=name,
            baseline=knee_users(baseline.steps),
            target="ratio>=2",
            note=f"working tree: {capacity.knee(current.steps).text()}; "
            f"{name}: {capacity.knee(baseline.steps).text()}",
        )
    out.details.update(
        load_average_during_rush={"working tree": now.load_average, name: then.load_average},
        rush_actions={"working tree": now.actions, name: then.actions},
    )
    out.notes.append(
        "The ref ran first, then the working tree, on fresh databases and systems of their own. Load "
        f"average during the rush: {name} {then.load_average}, working tree {now.load_average} (the machine "
        "is shared: CPU per action moves far less with it than latency does)."
    )
    return out
