"""The month-end rush as locust users (library mode, headless, in-process `Environment`; no web UI).

    python -m bench.locust_run PLAN.json OUT.json

Run by `bench.load` in a process of its own (locust monkey-patches for gevent; the orchestrator is
asyncio). PLAN.json gives the gateway, the tokens, the stores and the contract pools; OUT.json gets
per-action counts, failures, p50/p95/p99 and throughput, and the event lags measured by the users:

- `lag: selection → search detail`: from the selection PUT's response (committed, event in the outbox)
  until search's detail shows that seq (polled back to back);
- `lag: selection → returns eligibility`: until returns knows the contract is 車両返却 (it may submit);
- `lag: submit → progress list`: from the return POST's response until the request is in 進捗一覧.
"""

from __future__ import annotations

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
from locust import FastHttpUser, between, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from bench.load_scenario import HQ_SEARCHES, STAFF_SEARCHES, pick  # noqa: E402

PLAN: dict[str, Any] = {}
LAG_TIMEOUT_S = 15.0
_store_counter = itertools.count()
_manager_counter = itertools.count()
_hq_counter = itertools.count()


def lag(name: str, started: float, error: Exception | None = None) -> None:
    events.request.fire(
        request_type="LAG",
        name=name,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=0,
        exception=error,
        context={},
    )


class Rush(FastHttpUser):
    abstract = True
    user_id = ""

    def headers(self, user_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {PLAN['tokens'][user_id or self.user_id]}"}

    def expect(self, response: Any, status: int) -> dict[str, Any] | None:
        if response.status_code != status:
            response.failure(f"{response.status_code}: {response.text[:200]}")
            return None
        response.success()
        return response.json()

    def poll(self, name: str, started: float, url: str, visible: Any, user_id: str | None = None) -> bool:
        """GET `url` back to back until `visible(json)`; report the lag since `started`."""
        while time.perf_counter() - started < LAG_TIMEOUT_S:
            with self.client.get(
                url, headers=self.headers(user_id), name=f"poll: {name}", catch_response=True
            ) as r:
                body = self.expect(r, 200)
            if body is not None and visible(body):
                lag(f"lag: {name}", started)
                return True
        lag(f"lag: {name}", started, TimeoutError(f"not visible after {LAG_TIMEOUT_S}s"))
        return False


class Staff(Rush):
    """営業スタッフ at one store: searches, opens details, records selections, submits returns."""

    weight = 10
    wait_time = between(0.5, 2.0)

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
        with self.client.get(
            "/api/v1/contracts",
            params=params(self.rng, self.today),
            headers=self.headers(),
            name=name,
            catch_response=True,
        ) as r:
            body = self.expect(r, 200)
        if body and body["items"]:
            self.seen = [i["contract_no"] for i in body["items"][:20]]

    @task(4)
    def open_detail(self) -> None:
        no = self.rng.choice(self.seen)
        with self.client.get(
            f"/api/v1/contracts/{no}", headers=self.headers(), name="open detail", catch_response=True
        ) as r:
            self.expect(r, 200)

    @task(2)
    def record_selection(self) -> None:
        no = self.rng.choice(PLAN["selection_pool"][self.store])
        replaced = self.rng.random() < 0.5
        body = {
            "category": self.rng.choice(["early_payoff", "cash", "refinance"]),
            "replacement": "yes" if replaced else "no",
            "replacement_model": "プリウス" if replaced else None,
            "confirmation_received_on": PLAN["today"],
        }
        with self.client.put(
            f"/api/v1/contracts/{no}/selection",
            json=body,
            headers=self.headers(),
            name="record selection",
            catch_response=True,
        ) as r:
            written = self.expect(r, 200)
        if written is None or not written["changed"]:
            return
        started, seq = time.perf_counter(), written["seq"]
        self.poll("selection → search detail", started, f"/api/v1/contracts/{no}", lambda d: d["seq"] >= seq)

    @task(1)
    def submit_return(self) -> None:
        pool = PLAN["return_pool"][self.store]
        if not pool:
            return
        no = pool.pop()
        body = {"category": "vehicle_return", "replacement": "no", "confirmation_received_on": PLAN["today"]}
        with self.client.put(
            f"/api/v1/contracts/{no}/selection",
            json=body,
            headers=self.headers(),
            name="record selection (車両返却)",
            catch_response=True,
        ) as r:
            if self.expect(r, 200) is None:
                return
        started = time.perf_counter()
        if not self.poll(
            "selection → returns eligibility",
            started,
            f"/api/v1/returns/eligibility?contract_no={no}",
            lambda d: d["eligible"],
        ):
            return
        submission = {
            "contract_no": no,
            "contact1": "03-1234-5678",
            "contact3_email": f"{self.user_id}@dealer.example.jp",
            "notify_on_completion": True,
            "result": "returned",
            "returned_on": PLAN["today"],
        }
        with self.client.post(
            "/api/v1/returns",
            json=submission,
            headers=self.headers(),
            name="submit return",
            catch_response=True,
        ) as r:
            if self.expect(r, 202) is None:
                return
        started = time.perf_counter()
        self.poll(
            "submit → progress list",
            started,
            f"/api/v1/requests?contract_no={no}",
            lambda d: bool(d["items"]),
        )


class Manager(Rush):
    """店長 of several stores (one user per store, round robin): approves the store step."""

    fixed_count = 5
    wait_time = between(1.0, 2.0)

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
    wait_time = between(1.0, 2.0)

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
        "total": {"requests": total.num_requests, "failures": total.num_failures},
        "errors": errors,
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
