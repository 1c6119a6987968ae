"""The soak's load: the month-end rush of `make bench` (bench/locust_run.py's users, here as asyncio tasks
in the soak's own process so that every accepted write can be written down), TFC's back office and
contract feed, and poison messages.

Every write the system accepted goes into the `Ledger`: a 200/202 answered to a user, or for TFC a message
the broker acknowledged (acks=all). A write that failed or got no answer is not in it (the user was told
it failed, or saw nothing): the checks then only require that it left no duplicate behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench import load_data
from bench.load_scenario import HQ_SEARCHES, STAFF_SEARCHES, pick
from shared.topics import (
    JPASS_REQUESTS,
    REQUEST_STATUS,
    REQUEST_SUBMISSIONS,
    SELECTION_EVENTS,
    TFC_CONTRACTS,
    TFC_REQUEST_UPDATES,
)
from tests.support import sign_token

HQ_APPROVERS = "hq-approvers@dealer.example.jp"
# Poison goes to every topic the services consume, in turn: bytes no consumer can decode.
POISON_TOPICS = (TFC_CONTRACTS, TFC_REQUEST_UPDATES, SELECTION_EVENTS, REQUEST_SUBMISSIONS, REQUEST_STATUS)
POISON_VALUES = (b'{"contract_no": ', b"\xff\xfe not UTF-8", b"[" * 5000, b'{"type": 42}')
POISON_KEY = "soak-poison-"
TFC_GROUP = "soak-tfc"  # TFC's back office (not one of ours: left out of the partition checks)
RETRYABLE = {500, 502, 503, 504}


def book(stores: list[str], per_store: int, today: date, seed: int) -> list[dict[str, Any]]:
    """The dealer's contracts in the rush: the bench's snapshots, made workable (車両返却 allowed, final
    payment 2–8 months ahead) and spread over the stores of the run."""
    rng = Random(seed)
    out = []
    for n, s in enumerate(load_data.snapshots(len(stores) * per_store, today, seed)):
        store = stores[n % len(stores)]
        s.update(
            store_code=store,
            store_name=load_data.store_name(store),
            staff_code=load_data.staff_code(store, 1 + n % 2),
            final_payment_date=today + timedelta(days=rng.randint(60, 240)),
            program=rng.choice(load_data.RETURNABLE),
            contract_kind="installment",
            status="active",
            tfc_handling=None,
        )
        assert load_data.workable(s, today), s
        out.append(s)
    return out


@dataclass
class Plan:
    stores: list[str]
    today: date
    return_pool: dict[str, list[str]]  # popped: each contract is returned once
    selection_pool: dict[str, list[str]]
    probe: str  # the contract the recovery probe writes on (store stores[0])

    @classmethod
    def of(cls, contracts: list[dict[str, Any]], stores: list[str], today: date) -> Plan:
        by_store: dict[str, list[str]] = defaultdict(list)
        for s in contracts:
            by_store[s["store_code"]].append(s["contract_no"])
        probe = by_store[stores[0]].pop()
        returns = {st: by_store[st][: len(by_store[st]) // 2] for st in stores}
        selection = {st: by_store[st][len(by_store[st]) // 2 :] for st in stores}
        return cls(stores, today, returns, selection, probe)


@dataclass
class Ledger:
    selections: list[tuple[str, int]] = field(default_factory=list)  # (contract_no, seq)
    memos: list[tuple[str, int, str]] = field(default_factory=list)  # (contract_no, seq, text)
    returns: dict[str, dict[str, str]] = field(default_factory=dict)  # request_id → contract, submitter
    approvals: list[tuple[str, int, str]] = field(default_factory=list)  # (request_id, version, user)
    tfc_answers: list[tuple[str, str, str]] = field(default_factory=list)  # (request_id, action, update_id)
    contract_versions: dict[str, tuple[int, int]] = field(default_factory=dict)  # no → (version, amount)
    poison: list[tuple[str, str]] = field(default_factory=list)  # (topic, key)

    def counts(self) -> dict[str, int]:
        return {
            "selections": len(self.selections),
            "memos": len(self.memos),
            "returns": len(self.returns),
            "approvals": len(self.approvals),
            "tfc_answers": len(self.tfc_answers),
            "contract_updates": sum(v - 1 for v, _ in self.contract_versions.values()),
        }


@dataclass
class Stats:
    actions: Counter[str] = field(default_factory=Counter)
    failures: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def failed(self, name: str, reason: str) -> None:
        self.failures[name][reason] += 1


class Tokens:
    """Bench-signed tokens (the system trusts the bench keys), minted again before their 15 minutes end."""

    REFRESH_S = 300.0

    def __init__(self) -> None:
        self.users = load_data.users()
        self._cache: dict[str, tuple[float, str]] = {}

    def headers(self, user_id: str) -> dict[str, str]:
        minted = self._cache.get(user_id)
        if minted is None or time.monotonic() - minted[0] > self.REFRESH_S:
            minted = (time.monotonic(), sign_token(self.users[user_id]))
            self._cache[user_id] = minted
        return {"Authorization": f"Bearer {minted[1]}"}


class Rush:
    def __init__(
        self,
        base_url: str,
        bootstrap: str,
        plan: Plan,
        contracts: list[dict[str, Any]],
        seed: int,
        think_s: tuple[float, float],
    ) -> None:
        self.base_url = base_url
        self.bootstrap = bootstrap
        self.plan = plan
        self.contracts = {s["contract_no"]: s for s in contracts}
        self.seed = seed
        self.think_s = think_s
        self.ledger = Ledger()
        self.stats = Stats()
        self.tokens = Tokens()
        self.users_stop = asyncio.Event()  # staff stop writing (the rush is over; approvals drain)
        self.all_stop = asyncio.Event()
        self.draining = False
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=30,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self.producer: AIOKafkaProducer | None = None
        self._memo_n = 0
        self._probe_n = 0

    # ------------------------------------------------------------------------------------------
    # plumbing

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", request_timeout_ms=5000, linger_ms=5
        )
        await self.producer.start()

    async def close(self) -> None:
        await self.http.aclose()
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), 10)

    async def think(self, rng: Random) -> None:
        low, high = (0.3, 0.8) if self.draining else self.think_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_stop.wait(), rng.uniform(low, high))

    async def call(
        self, name: str, method: str, url: str, user: str, expect: int = 200, **kw: Any
    ) -> httpx.Response | None:
        """One user action; None if it was not answered with `expect` (counted by reason)."""
        self.stats.actions[name] += 1
        headers = {**self.tokens.headers(user), **kw.pop("headers", {})}
        try:
            r = await self.http.request(method, url, headers=headers, **kw)
        except httpx.HTTPError as e:
            self.stats.failed(name, type(e).__name__)
            return None
        if r.status_code != expect:
            self.stats.failed(name, str(r.status_code))
            return None
        return r

    async def produce(self, topic: str, key: str, value: bytes) -> None:
        """Send until the broker acknowledges it (TFC retries; a resend may duplicate the message)."""
        assert self.producer is not None
        while True:
            try:
                await asyncio.wait_for(self.producer.send_and_wait(topic, value, key=key.encode()), 15)
                return
            except Exception:
                await asyncio.sleep(0.5)

    # ------------------------------------------------------------------------------------------
    # 営業スタッフ

    async def staff(self, i: int) -> None:
        stores = self.plan.stores
        store = stores[i % len(stores)]
        user = f"bench-{store}-staff{1 + (i // len(stores)) % 2}"
        rng = Random(f"{self.seed}-staff-{i}")
        seen = list(self.plan.selection_pool[store])
        actions = [
            (self.search, 6),
            (self.open_detail, 4),
            (self.select, 2),
            (self.memo, 1),
            (self.submit, 1),
        ]
        while not self.users_stop.is_set():
            action = rng.choices([a for a, _ in actions], weights=[w for _, w in actions])[0]
            await action(user, store, rng, seen)
            await self.think(rng)

    async def search(self, user: str, store: str, rng: Random, seen: list[str]) -> None:
        name, params = pick(STAFF_SEARCHES, rng)
        r = await self.call(name, "GET", "/api/v1/contracts", user, params=params(rng, self.plan.today))
        if r is not None and r.json()["items"]:
            seen[:] = [i["contract_no"] for i in r.json()["items"][:20]]

    async def open_detail(self, user: str, store: str, rng: Random, seen: list[str]) -> None:
        await self.call("open detail", "GET", f"/api/v1/contracts/{rng.choice(seen)}", user)

    async def select(self, user: str, store: str, rng: Random, seen: list[str]) -> None:
        """進捗・結果入力, then the detail with the consistency token (as the page redirects)."""
        no = rng.choice(self.plan.selection_pool[store])
        replaced = rng.random() < 0.5
        body = {
            "category": rng.choice(["early_payoff", "cash", "refinance"]),
            "replacement": "yes" if replaced else "no",
            "replacement_model": "プリウス" if replaced else None,
            "confirmation_received_on": self.plan.today.isoformat(),
        }
        r = await self.call("record selection", "PUT", f"/api/v1/contracts/{no}/selection", user, json=body)
        if r is not None:
            if r.json()["changed"]:
                self.ledger.selections.append((no, r.json()["seq"]))
            token = r.json()["consistency_token"]
            await self.call(
                "open detail after a write (?after=)", "GET", f"/api/v1/contracts/{no}?after={token}", user
            )

    async def memo(self, user: str, store: str, rng: Random, seen: list[str]) -> None:
        no = rng.choice(self.plan.selection_pool[store])
        self._memo_n += 1
        text = f"soak {self.seed} メモ {self._memo_n}: 月末に来店予定"
        r = await self.call("memo", "PUT", f"/api/v1/contracts/{no}/memo", user, json={"text": text})
        if r is not None:
            self.ledger.memos.append((no, r.json()["seq"], text))

    async def submit(self, user: str, store: str, rng: Random, seen: list[str]) -> None:
        """車両返却: the selection, the form once returns says the contract may be returned, the
        submission (retried with its Idempotency-Key while unanswered), then 進捗一覧."""
        pool = self.plan.return_pool[store]
        if not pool:
            return
        no = pool.pop()
        body = {
            "category": "vehicle_return",
            "replacement": "no",
            "confirmation_received_on": self.plan.today.isoformat(),
        }
        r = await self.call(
            "record selection (車両返却)", "PUT", f"/api/v1/contracts/{no}/selection", user, json=body
        )
        if r is None:
            return
        if r.json()["changed"]:
            self.ledger.selections.append((no, r.json()["seq"]))
        deadline = time.monotonic() + 60
        while True:
            await asyncio.sleep(1.0)
            state = await self.call(
                "return form (eligibility)",
                "GET",
                "/api/v1/returns/eligibility",
                user,
                params={"contract_no": no},
            )
            if state is not None and state.json()["eligible"]:
                break
            if time.monotonic() > deadline or self.users_stop.is_set():
                self.stats.failed("return form (eligibility)", "not eligible in time")
                return
        submission = {
            "contract_no": no,
            "contact1": "03-1234-5678",
            "contact3_email": f"{user}@dealer.example.jp",
            "notify_on_completion": True,
            "result": "returned",
            "returned_on": self.plan.today.isoformat(),
        }
        key = uuid.uuid4().hex
        deadline = time.monotonic() + 60
        while True:
            self.stats.actions["submit return"] += 1
            try:
                answer = await self.http.post(
                    "/api/v1/returns",
                    json=submission,
                    headers={**self.tokens.headers(user), "Idempotency-Key": key},
                )
                status = answer.status_code
            except httpx.HTTPError as e:
                status, answer = 0, None
                self.stats.failed("submit return", type(e).__name__)
            if status == 202 and answer is not None:
                self.ledger.returns[answer.json()["request_id"]] = {"contract_no": no, "submitter": user}
                break
            if status:
                self.stats.failed("submit return", str(status))
            if (status and status not in RETRYABLE) or time.monotonic() > deadline:
                return
            await asyncio.sleep(1.0)
        await self.call("progress list", "GET", "/api/v1/requests", user, params={"contract_no": no})

    # ------------------------------------------------------------------------------------------
    # 店長 and 本部

    async def manager(self, m: int, managers: int) -> None:
        stores = self.plan.stores[m::managers]
        rng = Random(f"{self.seed}-manager-{m}")
        turn = 0
        while not self.all_stop.is_set():
            user = f"bench-{stores[turn % len(stores)]}-manager"
            turn += 1
            await self.approve_listed(user, "store_pending", "approve (store)", lambda rid: True)
            await self.think(rng)

    async def hq(self, n: int) -> None:
        user = f"bench-hq{n + 1}"
        rng = Random(f"{self.seed}-hq-{n}")
        while not self.all_stop.is_set():
            await self.approve_listed(
                user, "hq_pending", "approve (hq)", lambda rid: int(rid[-2:], 16) % 2 == n
            )
            if not self.users_stop.is_set() and rng.random() < 0.3:
                name, params = pick(HQ_SEARCHES, rng)
                await self.call(name, "GET", "/api/v1/contracts", user, params=params(rng, self.plan.today))
            await self.think(rng)

    async def approve_listed(self, user: str, status: str, name: str, mine: Any) -> None:
        listed = await self.call(f"list {status}", "GET", "/api/v1/requests", user, params={"status": status})
        if listed is None:
            return
        for item in [i for i in listed.json()["items"] if mine(i["request_id"])][:10]:
            rid = item["request_id"]
            r = await self.call(
                name, "POST", f"/api/v1/requests/{rid}/approve", user, json={"version": item["version"]}
            )
            if r is not None:
                self.ledger.approvals.append((rid, int(r.json()["version"]), user))

    # ------------------------------------------------------------------------------------------
    # TFC

    async def tfc(self) -> None:
        """TFC's back office: accepts and completes every request that reaches 依頼中, once per
        (request, version) however often the message arrives; an answer counts once acknowledged."""
        consumer = AIOKafkaConsumer(
            JPASS_REQUESTS,
            bootstrap_servers=self.bootstrap,
            group_id=TFC_GROUP,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
        )
        await consumer.start()
        answered: set[tuple[str, int]] = set()
        try:
            while not self.all_stop.is_set():
                try:
                    batches = await consumer.getmany(timeout_ms=300)
                except Exception:
                    await asyncio.sleep(0.5)
                    continue
                for records in batches.values():
                    for record in records:
                        message = json.loads(record.value)
                        ask = (message["request_id"], int(message["version"]))
                        if message.get("event") != "requested" or ask in answered:
                            continue
                        for action in ("accept", "complete"):
                            update_id = f"{ask[0]}-v{ask[1]}-{action}"
                            update = {
                                "request_id": ask[0],
                                "action": action,
                                "at": datetime.now(UTC).isoformat(),
                                "update_id": update_id,
                            }
                            await self.produce(TFC_REQUEST_UPDATES, ask[0], json.dumps(update).encode())
                            self.ledger.tfc_answers.append((ask[0], action, update_id))
                        answered.add(ask)
                if batches:
                    with contextlib.suppress(Exception):
                        await consumer.commit()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)

    async def contract_feed(self) -> None:
        """TFC's contract feed goes on during the rush: a new version of some contract every few seconds."""
        rng = Random(f"{self.seed}-feed")
        nos = sorted(self.contracts)
        while not self.users_stop.is_set():
            no = rng.choice(nos)
            s = self.contracts[no]
            s["version"] += 1
            s["final_payment_amount"] += 10_000
            value = json.dumps(s, ensure_ascii=False, default=str).encode()
            await self.produce(TFC_CONTRACTS, no, value)
            self.ledger.contract_versions[no] = (s["version"], s["final_payment_amount"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.users_stop.wait(), rng.uniform(1.0, 3.0))

    async def poison(self, n: int) -> None:
        topic = POISON_TOPICS[n % len(POISON_TOPICS)]
        key = f"{POISON_KEY}{n}"
        await self.produce(topic, key, POISON_VALUES[n % len(POISON_VALUES)])
        self.ledger.poison.append((topic, key))

    # ------------------------------------------------------------------------------------------
    # the recovery probe

    async def probe_write(self, deadline: float) -> tuple[str, int] | None:
        """A selection on the probe contract through the gateway, retried until accepted: (no, seq)."""
        no = self.plan.probe
        user = f"bench-{self.plan.stores[0]}-staff1"
        while time.monotonic() < deadline:
            self._probe_n += 1
            body = {
                "category": ["cash", "early_payoff", "refinance"][self._probe_n % 3],
                "replacement": "no",
                "confirmation_received_on": self.plan.today.isoformat(),
            }
            r = await self.call(
                "recovery probe (selection)", "PUT", f"/api/v1/contracts/{no}/selection", user, json=body
            )
            if r is not None and r.json()["changed"]:
                seq = int(r.json()["seq"])
                self.ledger.selections.append((no, seq))
                return no, seq
            await asyncio.sleep(0.5)
        return None
