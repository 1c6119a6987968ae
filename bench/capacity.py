"""The capacity curve: the month-end rush at growing numbers of staff users, the knee, and its plot.

`BENCH_CAPACITY_STEPS=10,25,50,100` runs the rush (bench/load.py) at each number of staff users — the
same think times, the same 5 managers and 2 hq users — for `BENCH_CAPACITY_STEP_S` seconds each, on the
same system, and stops after the first step that fails: p95 over all user actions above 1 s, or any
error (a failed request, a refused probe, a dead letter). The knee is the last step that passed.
This module is the pure part: the steps' figures, the knee, the tables and the SVG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

P95_LIMIT_MS = 1000.0


@dataclass
class Step:
    """One step of the curve: the rush at `staff_users` staff users."""

    staff_users: int
    p50_ms: float  # over every user action
    p95_ms: float
    errors: int
    actions_per_s: float
    cpu_ms_per_action: float  # J-PASS's processes (bench.cost.part_of)
    cpu_ms_per_action_beyond_idle: float  # the same less their idle use over the step
    cores_busy: float  # J-PASS's processes
    machine_cores_busy: float  # everything on the machine, the load client and other work included
    actions: dict[str, tuple[float, float]] = field(default_factory=dict)  # name → (p50, p95) ms
    hops: dict[str, tuple[float, float]] = field(default_factory=dict)  # event hop → (p50, p95) ms
    bare_round_trip: tuple[float, float] = (math.nan, math.nan)  # produce → consume (p50, p95) ms
    busiest: tuple[str, float] = ("", math.nan)  # the J-PASS part (bench.cost.PARTS) using most cores
    load_average: str = ""  # the machine's 1-minute load average before → after (it is shared)

    @property
    def passed(self) -> bool:
        return self.p95_ms <= P95_LIMIT_MS and self.errors == 0


@dataclass(frozen=True)
class Knee:
    last_passed: Step | None  # None: the first step already failed
    first_failed: Step | None  # None: every step passed (the knee is beyond the last step)

    def text(self) -> str:
        if self.last_passed is None:
            first = self.first_failed
            return f"below {first.staff_users} staff users (the first step failed)" if first else "no steps"
        if self.first_failed is None:
            return f"≥ {self.last_passed.staff_users} staff users (every step passed)"
        return f"{self.last_passed.staff_users} staff users (failed at {self.first_failed.staff_users})"


def knee(steps: Sequence[Step]) -> Knee:
    """The last step that passed before the first that failed (steps in the order they ran)."""
    last = None
    for step in steps:
        if not step.passed:
            return Knee(last, step)
        last = step
    return Knee(last, None)


def parse_steps(text: str) -> list[int]:
    """`"10,25,50"` → [10, 25, 50]; increasing, positive."""
    steps = [int(part) for part in text.replace(" ", "").split(",") if part]
    if any(n <= 0 for n in steps) or steps != sorted(set(steps)):
        raise ValueError(f"BENCH_CAPACITY_STEPS must be increasing positive numbers: {text!r}")
    return steps


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.0f}"


def markdown(steps: Sequence[Step]) -> str:
    """Per step: the totals, then p50 / p95 of every action and every event hop."""
    head = "| | " + " | ".join(f"{s.staff_users} staff users" for s in steps) + " |"
    rule = "|---" + "|---:" * len(steps) + "|"
    rows = [
        ("p50 / p95, all user actions (ms)", [f"{_ms(s.p50_ms)} / {_ms(s.p95_ms)}" for s in steps]),
        ("errors", [str(s.errors) for s in steps]),
        ("passed (p95 ≤ 1 s, 0 errors)", ["✅" if s.passed else "❌" for s in steps]),
        ("user actions / s", [f"{s.actions_per_s:.1f}" for s in steps]),
        ("J-PASS CPU ms per user action", [f"{s.cpu_ms_per_action:.1f}" for s in steps]),
        ("… beyond J-PASS's idle use", [f"{s.cpu_ms_per_action_beyond_idle:.1f}" for s in steps]),
        (
            "cores busy: J-PASS / whole machine",
            [f"{s.cores_busy:.2f} / {s.machine_cores_busy:.2f}" for s in steps],
        ),
        ("busiest J-PASS process (cores)", [f"{s.busiest[0]} {s.busiest[1]:.2f}" for s in steps]),
        ("load average of the machine", [s.load_average for s in steps]),
        (
            "bare produce → consume p50 / p95",
            [f"{_ms(s.bare_round_trip[0])} / {_ms(s.bare_round_trip[1])}" for s in steps],
        ),
    ]
    for kind, attr in (("lag", "hops"), ("", "actions")):
        names = sorted({name for s in steps for name in getattr(s, attr)})
        for name in names:
            cells = []
            for s in steps:
                p50, p95 = getattr(s, attr).get(name, (math.nan, math.nan))
                cells.append(f"{_ms(p50)} / {_ms(p95)}")
            rows.append((f"{kind + ': ' if kind else ''}{name} p50 / p95", cells))
    lines = [head, rule] + [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines) + "\n"


def write_svg(
    path: Path,
    steps: Sequence[Step],
    title: str,
    baseline: Sequence[Step] | None = None,
    baseline_label: str = "baseline",
    top: int = 6,
) -> Path:
    """The curve as an SVG: p95 of the slowest actions and of all actions against staff users
    (left), the event hops' p95 beside the bare produce → consume (right); the 1 s line and the knee.
    With `baseline`, its all-actions p95 (dashed) for comparison. Text stays text (searchable)."""
    import matplotlib
    from matplotlib import font_manager

    from shared.pdf import japanese_font_path  # the IPAex Gothic font the PDFs embed: 車両返却 renders

    font_manager.fontManager.addfont(str(japanese_font_path()))
    style: Any = {"svg.fonttype": "none", "svg.hashsalt": "jpass", "font.family": "IPAexGothic"}
    with matplotlib.rc_context(style):
        _draw(path, steps, title, baseline, baseline_label, top)
    return path


def _draw(
    path: Path,
    steps: Sequence[Step],
    title: str,
    baseline: Sequence[Step] | None,
    baseline_label: str,
    top: int,
) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator

    users = [s.staff_users for s in steps]
    fig = Figure(figsize=(11, 4.6))
    left, right = fig.subplots(1, 2)
    slowest = sorted(
        {n for s in steps for n in s.actions}, key=lambda n: -max(s.actions.get(n, (0, 0))[1] for s in steps)
    )[:top]
    for name in slowest:
        left.plot(
            users, [s.actions.get(name, (math.nan, math.nan))[1] for s in steps], marker=".", lw=1, label=name
        )
    left.plot(users, [s.p95_ms for s in steps], color="black", lw=2.5, marker="o", label="all user actions")
    if baseline:
        left.plot(
            [s.staff_users for s in baseline],
            [s.p95_ms for s in baseline],
            color="black",
            lw=1.5,
            ls="--",
            marker="o",
            label=f"all user actions, {baseline_label}",
        )
    left.axhline(P95_LIMIT_MS, color="red", lw=1, ls=":", label="1 s")
    found = knee(steps)
    if found.last_passed is not None:
        left.axvline(
            found.last_passed.staff_users, color="green", lw=1, ls="--", label=f"knee: {found.text()}"
        )
    left.set(xlabel="staff users", ylabel="p95 (ms)", yscale="log", title="user actions, p95")
    left.legend(fontsize=7, loc="best")
    for hop in sorted({n for s in steps for n in s.hops}):
        right.plot(users, [s.hops.get(hop, (math.nan, math.nan))[1] for s in steps], marker=".", label=hop)
    right.plot(
        users, [s.bare_round_trip[1] for s in steps], color="black", lw=2, label="bare produce → consume"
    )
    right.set(xlabel="staff users", ylabel="p95 (ms)", yscale="log", title="event hops, p95")
    right.legend(fontsize=7, loc="best")
    plain = FuncFormatter(lambda value, _: f"{value:,.0f}")
    for axes in (left, right):
        axes.yaxis.set_major_formatter(plain)
        axes.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axes.yaxis.set_minor_formatter(plain)
        axes.tick_params(axis="y", which="minor", labelsize=6)
        axes.grid(True, which="both", lw=0.3, alpha=0.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None})
