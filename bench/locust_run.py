"""The month-end rush as locust users (library mode, headless, in-process `Environment`; no web UI).

    python -m bench.locust_run PLAN.json OUT.json

Run by `bench.load` in a process of its own (locust monkey-patches for gevent; the orchestrator is
asyncio). PLAN.json gives the gateway, the tokens, the stores and the contract pools; OUT.json gets
per-action counts, failures, p50/p95/p99 and throughput, the same over all actions, and the contracts
taken through 車両返却 (the next rush on the same system must not take them again). The users behave
like the pages do: after a selection the detail opens with the consistency token (`?after=`); a return
is submitted once returns says the contract is eligible. The event lags are measured apart, precisely,
by `bench.load`'s probe.
"""

from gevent import monkey

monkey.patch_all()

import itertools  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust import FastHttpUser, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from bench.load_scenario import HQ_SEARCHES, STAFF_SEARCHES, pick  # noqa: E402

PLAN: dict[str, Any] = {}
ELIGIBLE_WITHIN_S = 15.0
_store_counter = itertools.count()
_manager_counter = itertools.count()
_hq_counter = itertools.count()
USED_RETURNS: list[str] = []  # contracts taken through 車両返却 in this run (each can be submitted once)


def think() -> float:
    return random.uniform(PLAN["think_s"][0], PLAN["think_s"][1])


class Rush(FastHttpUser):
    abstract = True
    user_id = ""

    def wait_time(self) -> float:
        return think()

    def headers(self, user_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {PLAN['tokens'][user_id or self.user_id]}"}

    def expect(self, response: Any, status: int) -> dict[str, Any] | None:
        if response.status_code != status:
            response.failure(f"{response.status_code}: {response.text[:200]}")
            return None
        response.success()
        return response.json()

    def call(
        self, method: str, url: str, name: str, status: int = 200, user_id: str | None = None, **kw: Any
    ) -> dict[str, Any] | None:
        with self.client.request(
            method, url, headers=self.headers(user_id), name=name, catch_response=True, **kw
        ) as r:
            return self.expect(r, status)


class Staff(Rush):
    """営業スタッフ at one store: searches, opens details, records selections, submits returns."""

    def on_start(self) -> None:
        n = next(_store_counter)
        self.store = PLAN["stores"][n % len(PLAN["stores"])]
        self.user_id = f"bench-{self.store}-staff{1 + (n // len(PLAN['stores'])) % 2}"
        self.rng = random.Random(n)
        self.today = date.fromisoformat(PLAN["today"])
        self.seen: list[str] = list(PLAN["detail_pool"][self.store])

    @task(6)
    def search(self) -> None:
        name, params = pick(STAFF_SEARCHES, self.rng)
        body = self.call("GET", "/api/v1/contracts", name, params=params(self.rng, self.today))
        if body and body["items"]:
            self.seen = [i["contract_no"] for i in body["items"][:20]]

    @task(4)
    def open_detail(self) -> None:
        self.call("GET", f"/api/v1/contracts/{self.rng.choice(self.seen)}", "open detail")

    @task(2)
    def record_selection(self) -> None:
        """進捗・結果入力, then the detail page with the consistency token (as the page redirects)."""
        no = self.rng.choice(PLAN["selection_pool"][self.store])
        replaced = self.rng.random() < 0.5
        body = {
            "category": self.rng.choice(["early_payoff", "cash", "refinance"]),
            "replacement": "yes" if replaced else "no",
            "replacement_model": "プリウス" if replaced else None,
            "confirmation_received_on": PLAN["today"],
        }
        written = self.call("PUT", f"/api/v1/contracts/{no}/selection", "record selection", json=body)
        if written:
            token = written["consistency_token"]
            self.call("GET", f"/api/v1/contracts/{no}?after={token}", "open detail after a write (?after=)")

    @task(1)
    def submit_return(self) -> None:
        """車両返却: the selection, then (after reading the form) the submission and 進捗一覧."""
        pool = PLAN["return_pool"][self.store]
        if not pool:
            return
        no = pool.pop()
        USED_RETURNS.append(no)
        body = {"category": "vehicle_return", "replacement": "no", "confirmation_received_on": PLAN["today"]}
        if (
            self.call("PUT", f"/api/v1/contracts/{no}/selection", "record selection (車両返却)", json=body)
            is None
        ):
            return
        started = time.monotonic()
        while True:
            gevent.sleep(min(think(), 1.0))  # filling in the form
            state = self.call(
                "GET", f"/api/v1/returns/eligibility?contract_no={no}", "return form (eligibility)"
            )
            if state is None or state["eligible"]:
                break
            if time.monotonic() - started > ELIGIBLE_WITHIN_S:
                events.request.fire(
                    request_type="CHECK",
                    name="return form (eligibility)",
                    response_time=0,
                    response_length=0,
                    exception=RuntimeError(f"{no}: {state['code']}"),
                    context={},
                )
                return
        if state is None:
            return
        submission = {
            "contract_no": no,
            "contact1": "03-1234-5678",
            "contact3_email": f"{self.user_id}@dealer.example.jp",
            "notify_on_completion": True,
            "result": "returned",
            "returned_on": PLAN["today"],
        }
        if self.call("POST", "/api/v1/returns", "submit return", status=202, json=submission):
            self.call("GET", f"/api/v1/requests?contract_no={no}", "progress list")


class Manager(Rush):
    """店長 of several stores (one user per store, round robin): approves the store step."""

    fixed_count = 5

    def on_start(self) -> None:
        n = next(_manager_counter)
        self.stores = PLAN["stores"][n :: self.fixed_count]
        self.turn = itertools.cycle(self.stores)

    @task
    def approve_pending(self) -> None:
        uid = f"bench-{next(self.turn)}-manager"
        with self.client.get(
            "/api/v1/requests?status=store_pending",
            headers=self.headers(uid),
            name="list store_pending",
            catch_response=True,
        ) as r:
            body = self.expect(r, 200)
        for item in (body or {}).get("items", [])[:10]:
            with self.client.post(
                f"/api/v1/requests/{item['request_id']}/approve",
                json={"version": item["version"]},
                headers=self.headers(uid),
                name="approve (store)",
                catch_response=True,
            ) as r:
                self.expect(r, 200)


class Hq(Rush):
    """本部: approves the head-office step (two users split the requests) and searches the whole dealer."""

    fixed_count = 2

    def on_start(self) -> None:
        self.n = next(_hq_counter) % self.fixed_count
        self.user_id = f"bench-hq{self.n + 1}"
        self.rng = random.Random(1000 + self.n)
        self.today = date.fromisoformat(PLAN["today"])

    @task(3)
    def approve_pending(self) -> None:
        with self.client.get(
            "/api/v1/requests?status=hq_pending",
            headers=self.headers(),
            name="list hq_pending",
            catch_response=True,
        ) as r:
            body = self.expect(r, 200)
        mine = [i for i in (body or {}).get("items", []) if int(i["request_id"][-2:], 16) % 2 == self.n]
        for item in mine[:10]:
            with self.client.post(
                f"/api/v1/requests/{item['request_id']}/approve",
                json={"version": item["version"]},
                headers=self.headers(),
                name="approve (hq)",
                catch_response=True,
            ) as r:
                self.expect(r, 200)

    @task(1)
    def search(self) -> None:
        name, params = pick(HQ_SEARCHES, self.rng)
        with self.client.get(
            "/api/v1/contracts",
            params=params(self.rng, self.today),
            headers=self.headers(),
            name=name,
            catch_response=True,
        ) as r:
            self.expect(r, 200)


def summary(env: Environment, duration_s: float) -> dict[str, Any]:
    entries = []
    for (name, method), e in sorted(env.stats.entries.items()):
        if not e.num_requests:
            continue
        entries.append(
            {
                "name": name,
                "method": method,
                "requests": e.num_requests,
                "failures": e.num_failures,
                "p50_ms": e.get_response_time_percentile(0.50),
                "p95_ms": e.get_response_time_percentile(0.95),
                "p99_ms": e.get_response_time_percentile(0.99),
                "avg_ms": e.avg_response_time,
                "max_ms": e.max_response_time,
                "per_s": e.num_requests / duration_s,
            }
        )
    total = env.stats.total
    errors = [
        {"name": e.name, "method": e.method, "error": str(e.error)[:300], "occurrences": e.occurrences}
        for e in env.stats.errors.values()
    ]
    return {
        "duration_s": duration_s,
        "entries": entries,
        "total": {
            "requests": total.num_requests,
            "failures": total.num_failures,
            "p50_ms": total.get_response_time_percentile(0.50),
            "p95_ms": total.get_response_time_percentile(0.95),
        },
        "errors": errors,
        "used_returns": USED_RETURNS,
    }


def main() -> None:
    plan_path, out_path = sys.argv[1], sys.argv[2]
    with open(plan_path, encoding="utf-8") as f:
        PLAN.update(json.load(f))
    Staff.fixed_count = PLAN["staff_users"]
    Manager.fixed_count = PLAN["managers"]
    env = Environment(user_classes=[Staff, Manager, Hq], host=PLAN["host"], events=events)
    runner = env.create_local_runner()
    users = PLAN["staff_users"] + PLAN["managers"] + Hq.fixed_count
    runner.start(users, spawn_rate=PLAN["spawn_rate"])
    started = time.monotonic()
    gevent.spawn_later(PLAN["duration_s"], runner.quit)
    runner.greenlet.join()
    elapsed = time.monotonic() - started
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(summary(env, elapsed), f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
