"""CPU per action type: each action of the month-end rush done alone, in a batch, on the quiet system.

For every action type (the names of the rush's report): the CPU counters of all processes, a batch of
`n` such actions one after the other through the gateway, a pause for their events to be consumed
(the search detail, returns' copy, approvals' request, the mails …), the counters again. Less what the
same processes use idle over as long (measured first), divided by `n`: the action's whole cost, every
process it touches, bench.cost.solo_cost_ms. Done before the rush, on contracts kept for it.

A selection and the detail the page then opens with the consistency token are one unit (the detail's
read-your-writes wait polls the database while the event is on its way: that is part of its cost).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from bench.common import CpuUse
from bench.cost import by_part, mean_rates, solo_cost_ms
from bench.load_scenario import HQ_SEARCHES, STAFF_SEARCHES

READ_SETTLE_S = 0.3
WRITE_SETTLE_S = 1.0
IDLE_WINDOW_S = 1.5
SETTLE_LIMIT_S = 15.0
QUIET_MARGIN = 1.25


@dataclass
class SoloCosts:
    n: int
    idle_per_s: dict[str, float]  # CPU seconds per second of each group, idle
    costs: dict[str, dict[str, float]] = field(default_factory=dict)  # unit → group → CPU ms per action
    counts_as: dict[str, str] = field(default_factory=dict)  # unit → the rush action counting it
    failures: list[str] = field(default_factory=list)


class _Actions:
    """The rush's actions, one at a time, as the locust users make them (bench/locust_run.py)."""

    def __init__(self, client: httpx.AsyncClient, plan: dict[str, Any], today: date) -> None:
        self.client, self.plan, self.today = client, plan, today
        self.rng = random.Random(11)
        self.stores: list[str] = plan["stores"]
        self.submitted: list[str] = []  # request ids of the calibration's returns
        self.versions: dict[str, int] = {}  # request id → the version its pending list showed

    def headers(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.plan['tokens'][user_id]}"}

    async def call(self, method: str, url: str, user_id: str, status: int = 200, **kw: Any) -> Any:
        r = await self.client.request(method, url, headers=self.headers(user_id), **kw)
        if r.status_code != status:
            raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:200]}")
        return r.json()

    def staff(self, i: int) -> tuple[str, str]:
        store = self.stores[i % len(self.stores)]
        return store, f"bench-{store}-staff1"

    def search(
        self, params: Callable[[random.Random, date], dict[str, str]], hq: bool
    ) -> Callable[[int], Any]:
        async def one(i: int) -> None:
            user = "bench-hq1" if hq else self.staff(i)[1]
            await self.call("GET", "/api/v1/contracts", user, params=params(self.rng, self.today))

        return one

    async def open_detail(self, i: int) -> None:
        store, user = self.staff(i)
        pool = self.plan["detail_pool"][store]
        await self.call("GET", f"/api/v1/contracts/{pool[i % len(pool)]}", user)

    async def selection_then_detail(self, i: int) -> None:
        no = self.plan["calibration_selection"][i % len(self.plan["calibration_selection"])]
        user = f"bench-{self.plan['store_of'][no]}-staff1"
        body = {
            "category": ["early_payoff", "cash", "refinance"][i % 3],
            "replacement": "no",
            "confirmation_received_on": self.today.isoformat(),
        }
        written = await self.call("PUT", f"/api/v1/contracts/{no}/selection", user, json=body)
        await self.call("GET", f"/api/v1/contracts/{no}?after={written['consistency_token']}", user)

    def returns_user(self, i: int) -> tuple[str, str]:
        no = self.plan["calibration_returns"][i]
        return no, f"bench-{self.plan['store_of'][no]}-staff1"

    async def vehicle_return_selection(self, i: int) -> None:
        no, user = self.returns_user(i)
        body = {
            "category": "vehicle_return",
            "replacement": "no",
            "confirmation_received_on": self.today.isoformat(),
        }
        await self.call("PUT", f"/api/v1/contracts/{no}/selection", user, json=body)

    async def eligibility(self, i: int) -> None:
        no, user = self.returns_user(i)
        state = await self.call("GET", f"/api/v1/returns/eligibility?contract_no={no}", user)
        if not state["eligible"]:
            raise RuntimeError(f"{no} not eligible after the selection's settling: {state['code']}")

    async def submit(self, i: int) -> None:
        no, user = self.returns_user(i)
        body = {
            "contract_no": no,
            "contact1": "03-1234-5678",
            "contact3_email": f"{user}@dealer.example.jp",
            "notify_on_completion": True,
            "result": "returned",
            "returned_on": self.today.isoformat(),
        }
        self.submitted.append(
            (await self.call("POST", "/api/v1/returns", user, 202, json=body))["request_id"]
        )

    async def progress_list(self, i: int) -> None:
        no, user = self.returns_user(i)
        await self.call("GET", f"/api/v1/requests?contract_no={no}", user)

    async def list_store_pending(self, i: int) -> None:
        no, _ = self.returns_user(i)
        manager = f"bench-{self.plan['store_of'][no]}-manager"
        self.note_versions(await self.call("GET", "/api/v1/requests?status=store_pending", manager))

    async def approve_store(self, i: int) -> None:
        no, _ = self.returns_user(i)
        await self.approve(f"bench-{self.plan['store_of'][no]}-manager", self.submitted[i])

    async def list_hq_pending(self, i: int) -> None:
        self.note_versions(await self.call("GET", "/api/v1/requests?status=hq_pending", "bench-hq1"))

    async def approve_hq(self, i: int) -> None:
        await self.approve("bench-hq1", self.submitted[i])

    def note_versions(self, listed: dict[str, Any]) -> None:
        """As a manager does: approve what the list showed, with the version it showed."""
        self.versions.update({item["request_id"]: item["version"] for item in listed["items"]})

    async def approve(self, user: str, request_id: str) -> None:
        if request_id not in self.versions:
            raise RuntimeError(f"{request_id} was not in the pending list before its approval")
        version = self.versions.pop(request_id)
        await self.call("POST", f"/api/v1/requests/{request_id}/approve", user, json={"version": version})


Unit = tuple[str, str, Callable[[int], Awaitable[None]], float]  # name, counts as, one action, settle


def units(actions: _Actions) -> list[Unit]:
    out: list[Unit] = [
        (name, name, actions.search(params, hq=False), READ_SETTLE_S) for name, _, params in STAFF_SEARCHES
    ]
    out += [(name, name, actions.search(params, hq=True), READ_SETTLE_S) for name, _, params in HQ_SEARCHES]
    return [
        *out,
        ("open detail", "open detail", actions.open_detail, READ_SETTLE_S),
        (
            "record selection + open detail (?after=)",
            "record selection",
            actions.selection_then_detail,
            WRITE_SETTLE_S,
        ),
        (
            "record selection (車両返却)",
            "record selection (車両返却)",
            actions.vehicle_return_selection,
            WRITE_SETTLE_S,
        ),
        ("return form (eligibility)", "return form (eligibility)", actions.eligibility, READ_SETTLE_S),
        ("submit return", "submit return", actions.submit, WRITE_SETTLE_S),
        ("progress list", "progress list", actions.progress_list, READ_SETTLE_S),
        ("list store_pending", "list store_pending", actions.list_store_pending, READ_SETTLE_S),
        ("approve (store)", "approve (store)", actions.approve_store, WRITE_SETTLE_S),
        ("list hq_pending", "list hq_pending", actions.list_hq_pending, READ_SETTLE_S),
        ("approve (hq)", "approve (hq)", actions.approve_hq, 2 * WRITE_SETTLE_S),
    ]


async def idle_rate(cpu: CpuUse, seconds: float) -> dict[str, float]:
    """CPU seconds a second of each group over `seconds` of nothing asked of the system."""
    before, started = await asyncio.to_thread(cpu.sample), time.monotonic()
    await asyncio.sleep(seconds)
    used = CpuUse.used(before, await asyncio.to_thread(cpu.sample))
    elapsed = time.monotonic() - started
    return {group: s / elapsed for group, s in used.items()}


async def settle(
    cpu: CpuUse, quiet_per_s: float, window_s: float = 0.5, limit_s: float = SETTLE_LIMIT_S
) -> None:
    """Wait until J-PASS's processes are back to about their idle use (within QUIET_MARGIN of `quiet_per_s`
    CPU seconds a second over `window_s`), at most `limit_s`: an action's events (a TFC answer, mails)
    can keep them busy for seconds on a loaded machine, and what spills into the next idle window would
    be taken off the next action's cost."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        rate = by_part(await idle_rate(cpu, window_s))["total"]
        if rate <= quiet_per_s * QUIET_MARGIN:
            return


async def measure(
    base_url: str, plan: dict[str, Any], today: date, cpu: CpuUse, idle_per_s: dict[str, float], n: int
) -> SoloCosts:
    """Every unit's batch of `n` (the approvals act on the batch's own returns) and its settling (until
    J-PASS is about as quiet as `idle_per_s`), each between two idle windows of IDLE_WINDOW_S whose mean
    rate is taken off: the processes' idle use drifts on a shared machine (a single idle measurement
    before all the units moved cheap reads' costs by half)."""
    n = min(n, len(plan["calibration_returns"]))
    result = SoloCosts(n, idle_per_s)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        actions = _Actions(client, plan, today)
        idle_before = await idle_rate(cpu, IDLE_WINDOW_S)
        for name, counts_as, one, settle_s in units(actions):
            before, started = await asyncio.to_thread(cpu.sample), time.monotonic()
            done = 0
            try:
                for i in range(n):
                    await one(i)
                    done += 1
            except Exception as e:  # reported; the unit's cost is left out (a later unit may need it)
                result.failures.append(f"{name}: {type(e).__name__}: {e}"[:300])
            await asyncio.sleep(settle_s)
            await settle(cpu, by_part(idle_per_s)["total"])
            after, elapsed = await asyncio.to_thread(cpu.sample), time.monotonic() - started
            idle_after = await idle_rate(cpu, IDLE_WINDOW_S)
            if done == n:
                idle = mean_rates(idle_before, idle_after)
                result.costs[name] = solo_cost_ms(CpuUse.used(before, after), idle, elapsed, n)
                result.counts_as[name] = counts_as
            idle_before = idle_after
    return result
