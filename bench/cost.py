"""CPU per user action: the arithmetic and its tables (pure; the measuring is in load.py and solo_cost.py).

Two views of the same cost, both from the processes' CPU counters (/proc, via bench.common.CpuUse):

- **per process, over the rush**: each process's CPU seconds during the rush divided by the user actions
  locust made (exact; mixes every action type, as the rush does);
- **per action type, alone** (solo_cost.py): a batch of one action type on the otherwise quiet system,
  CPU counters before and after the batch and its events' settling, minus what the same processes use
  idle in as long. What remains per action is that action's whole cost, its events' consumers included.

The two are checked against each other: the solo costs times the rush's counts, plus the idle use over
the rush, against the CPU the rush took.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SERVICE_PROCESSES = ("search", "selection", "returns1", "returns2", "approvals", "mailer")
POSTGRES_PREFIX = "PostgreSQL "
# the columns of the per-action tables: J-PASS's processes, returns' two instances together, and the
# backends of the services' databases together
PARTS = ("search", "selection", "returns", "approvals", "mailer", "gateway", "broker", "PostgreSQL")


def postgres_group(service: str) -> str:
    """The group of the backends serving a service's database."""
    return f"{POSTGRES_PREFIX}({service} db)"


def part_of(group: str) -> str | None:
    """The column a process group counts in, or None for what is not J-PASS (the load client, the
    benchmark's own probes and their backends, devtools, other work on the machine)."""
    if group in ("returns1", "returns2"):
        return "returns"
    if group in SERVICE_PROCESSES or group in ("gateway", "broker"):
        return group
    if group.startswith(POSTGRES_PREFIX) and group.endswith(" db)"):
        return "PostgreSQL"
    return None


def by_part(values: Mapping[str, float]) -> dict[str, float]:
    """Per-group values summed per part (PARTS order), with their `total`."""
    out = dict.fromkeys(PARTS, 0.0)
    for group, value in values.items():
        part = part_of(group)
        if part is not None:
            out[part] += value
    out["total"] = sum(out[p] for p in PARTS)
    return out


def per_action_ms(cpu_seconds: Mapping[str, float], actions: int) -> dict[str, float]:
    """CPU milliseconds per user action of each group: its CPU seconds over the rush / the actions."""
    if actions <= 0:
        raise ValueError("no user actions: nothing to divide the CPU by")
    return {group: 1000 * seconds / actions for group, seconds in cpu_seconds.items()}


def solo_cost_ms(
    used_s: Mapping[str, float], idle_per_s: Mapping[str, float], elapsed_s: float, actions: int
) -> dict[str, float]:
    """CPU milliseconds per action of each group for a batch of `actions` done alone: the CPU the
    group used over the batch (and its settling), less its idle use over as long. Noise can make a
    group slightly negative; it is kept, not clipped, so the totals stay unbiased."""
    if actions <= 0:
        raise ValueError("an empty batch has no cost per action")
    groups = set(used_s) | set(idle_per_s)
    return {
        g: 1000 * (used_s.get(g, 0.0) - idle_per_s.get(g, 0.0) * elapsed_s) / actions for g in sorted(groups)
    }


def mean_rates(first: Mapping[str, float], second: Mapping[str, float]) -> dict[str, float]:
    """The mean of two idle measurements, group by group (a group missing from one counts 0 there)."""
    return {g: (first.get(g, 0.0) + second.get(g, 0.0)) / 2 for g in sorted(set(first) | set(second))}


@dataclass(frozen=True)
class Reconciliation:
    predicted_s: float  # solo costs × the rush's counts + idle use over the rush
    measured_s: float  # what J-PASS's processes used during the rush
    idle_s: float
    uncounted: tuple[str, ...]  # rush actions without a solo cost (left out of the prediction)

    @property
    def ratio(self) -> float:
        return self.measured_s / self.predicted_s if self.predicted_s else float("nan")


def reconcile(
    solo_total_ms: Mapping[str, float],
    counts_as: Mapping[str, str],
    rush_counts: Mapping[str, int],
    measured_s: float,
    idle_per_s: float,
    duration_s: float,
) -> Reconciliation:
    """How much of the rush's CPU the solo costs explain. `counts_as[unit]` names the rush action whose
    count stands for the unit (a unit of two requests, e.g. a selection and its detail, counts once)."""
    counted = set(counts_as.values())
    predicted = sum(cost * rush_counts.get(counts_as[unit], 0) / 1000 for unit, cost in solo_total_ms.items())
    idle = idle_per_s * duration_s
    uncounted = tuple(sorted(name for name in rush_counts if name not in counted))
    return Reconciliation(predicted + idle, measured_s, idle, uncounted)


def _ms(value: float) -> str:
    return f"{value:.1f}"


def rush_markdown(cpu_seconds: Mapping[str, float], elapsed_s: float, actions: int) -> str:
    """Per process: cores busy and CPU ms per user action over the rush; J-PASS's total first."""
    per_action = per_action_ms(cpu_seconds, actions)
    ours = [g for g in cpu_seconds if part_of(g) is not None]
    rest = [g for g in cpu_seconds if part_of(g) is None]
    total_s = sum(cpu_seconds[g] for g in ours)
    lines = [
        "| process | cores busy | CPU ms per user action |",
        "|---|---:|---:|",
        f"| **J-PASS (services, gateway, broker, their databases)** | **{total_s / elapsed_s:.2f}** | "
        f"**{_ms(1000 * total_s / actions)}** |",
    ]
    for group in sorted(ours, key=lambda g: -cpu_seconds[g]):
        lines.append(f"| {group} | {cpu_seconds[group] / elapsed_s:.2f} | {_ms(per_action[group])} |")
    for group in sorted(rest, key=lambda g: -cpu_seconds[g]):
        lines.append(
            f"| *{group}* (not J-PASS) | {cpu_seconds[group] / elapsed_s:.2f} | {_ms(per_action[group])} |"
        )
    return "\n".join(lines) + "\n"


def solo_markdown(
    solo: Mapping[str, Mapping[str, float]], rush_counts: Mapping[str, int] | None = None
) -> str:
    """Per action type alone: CPU ms per action, total and per part."""
    head = "| action (alone) | total | " + " | ".join(PARTS) + " |"
    lines = [head, "|---" * (len(PARTS) + 2) + "|"]
    for unit, groups in sorted(solo.items(), key=lambda kv: -by_part(kv[1])["total"]):
        parts = by_part(groups)
        cells = " | ".join(_ms(parts[p]) for p in PARTS)
        lines.append(f"| {unit} | **{_ms(parts['total'])}** | {cells} |")
    return "\n".join(lines) + "\n"


def top_actions(
    rush_counts: Mapping[str, int], units: Iterable[str], counts_as: Mapping[str, str], n: int = 5
) -> list[str]:
    """The n units whose rush actions were the most frequent."""
    return sorted(units, key=lambda u: -rush_counts.get(counts_as.get(u, u), 0))[:n]
