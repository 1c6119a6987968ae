"""End-to-end load: a dealer with 50 stores and many contracts in its month-end rush.

    .venv/bin/python -m bench.load --contracts 100000 --duration 60

1. Five fresh PostgreSQL databases (one per service), migrated like `make run` does.
2. The dealer's book: `--live` contracts are produced to `tfc.contracts.v1` and built by the services'
   own consumers (the real path, timed); the rest is COPYed straight into search's, selection's and
   returns' tables as those consumers would have written them (a million messages one transaction each
   through the local broker would take hours here). The copied rows are checked against the
   consumer-built ones of the live sample.
3. The system of the Procfile on free ports (gateway, broker, five services with returns twice, devtools
   for the mail catcher); the dealer's flow: store approval and head-office approval on.
4. Locust (bench/locust_run.py, its own process): staff of every store search, open details, record
   selections and submit returns; store managers and hq approve; TFC (here, consuming
   `jpass.requests.v1`) accepts and completes on `tfc.request-updates.v1`.
5. Meanwhile, on the same machine at the same time, the baselines: the same searches as raw SQL on
   search's database, and a bare produce → consume round trip on the same broker. Optionally py-spy
   profiles the services.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bench import capacity, cost, load_data, solo_cost
from bench.common import ROOT, CpuUse, Section, databases, pct, postgres_database, postgres_server
from bench.load_scenario import HQ_SEARCHES, STAFF_SEARCHES
from bench.profiling import Profiler
from bench.system import SERVICES, System
from services.search import queries, rules
from services.search.db import Contract as SearchContract
from services.search.db import MemoHistory
from shared.identity import User
from shared.messaging import ensure_topics
from shared.settings import CommonSettings
from shared.topics import ALL_TOPICS, JPASS_REQUESTS, TFC_CONTRACTS, TFC_REQUEST_UPDATES, dead_letter
from tests.support import pg_dsn

TABLES = {"search": "contracts", "selection": "contracts", "returns": "contracts"}


# --------------------------------------------------------------------------------------------
# databases and the contract book


async def copy_rows(service: str, url: str, rows: list[dict[str, Any]]) -> float:
    """COPY the rows into the service's contracts table (secondary indexes rebuilt after)."""
    started = time.monotonic()
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        table = TABLES[service]
        columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                "ORDER BY ordinal_position",
                table,
            )
        ]
        missing = set(columns) - set(rows[0]) if rows else set()
        if missing:
            raise RuntimeError(f"{service}.{table}: no value for {sorted(missing)}")
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 AND indexname NOT LIKE '%pkey'",
            table,
        )
        for ix in indexes:
            await conn.execute(f'DROP INDEX "{ix["indexname"]}"')
        for i in range(0, len(rows), 20_000):
            batch = [tuple(r[c] for c in columns) for r in rows[i : i + 20_000]]
            await conn.copy_records_to_table(table, records=batch, columns=columns)
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for ix in indexes:
            await conn.execute(ix["indexdef"])
        await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return time.monotonic() - started


async def bulk_load(urls: dict[str, str], bulk: list[dict[str, Any]]) -> dict[str, float]:
    now = datetime.now(UTC)
    seconds = {}
    for service, build in load_data.ROW_BUILDERS.items():
        rows = [build(s, now) for s in bulk]
        seconds[service] = await copy_rows(service, urls[service], rows)
    return seconds


async def count_contracts(url: str) -> int:
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM contracts WHERE version > 0"))
    finally:
        await conn.close()


async def feed_live(system: System, urls: dict[str, str], live: list[dict[str, Any]], total: int) -> float:
    """Produce the live sample as TFC would; seconds until search, selection and returns have them all."""
    producer = AIOKafkaProducer(bootstrap_servers=system.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    started = time.monotonic()
    try:
        futures = []
        for s in live:
            value = json.dumps(s, ensure_ascii=False, default=str).encode()
            futures.append(await producer.send(TFC_CONTRACTS, value, key=s["contract_no"].encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    deadline = started + 600
    for service in TABLES:
        while await count_contracts(urls[service]) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{service} did not take the live contracts in time")
            await asyncio.sleep(0.25)
    return time.monotonic() - started


async def check_bulk_rows(urls: dict[str, str], live: list[dict[str, Any]]) -> int:
    """The copied rows equal what the consumers wrote for the live sample (but for timestamps)."""
    sample = live[:: max(1, len(live) // 25)]
    checked = 0
    for service, build in load_data.ROW_BUILDERS.items():
        conn = await asyncpg.connect(pg_dsn(urls[service]))
        try:
            for s in sample:
                stored = dict(
                    await conn.fetchrow("SELECT * FROM contracts WHERE contract_no = $1", s["contract_no"])
                )
                expected = build(s, datetime.now(UTC))
                diff = {
                    k: (stored[k], v)
                    for k, v in expected.items()
                    if k != "updated_at" and k in stored and stored[k] != v
                }
                if diff or set(stored) - set(expected):
                    raise RuntimeError(f"bulk row of {service} differs from the consumer's: {diff}")
                checked += 1
        finally:
            await conn.close()
    return checked


# --------------------------------------------------------------------------------------------
# TFC and the baselines, running beside the load


async def tfc(bootstrap: str, stop: asyncio.Event, stats: dict[str, int]) -> None:
    """TFC's back office: every request that reaches 依頼中 is accepted, then completed."""
    consumer = AIOKafkaConsumer(
        JPASS_REQUESTS,
        bootstrap_servers=bootstrap,
        group_id=f"bench-tfc-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    request = json.loads(record.value)
                    if request.get("event") != "requested":
                        continue
                    for action in ("accept", "complete"):
                        update = {
                            "request_id": request["request_id"],
                            "action": action,
                            "at": datetime.now(UTC).isoformat(),
                            "update_id": uuid.uuid4().hex,
                        }
                        await producer.send_and_wait(
                            TFC_REQUEST_UPDATES,
                            json.dumps(update).encode(),
                            key=request["request_id"].encode(),
                        )
                    stats["completed"] += 1
    finally:
        await consumer.stop()
        await producer.stop()


def compile_sql(stmt: Any) -> str:
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def search_sql(user: User, params: dict[str, str], today: date) -> tuple[str, str]:
    criteria = rules.validate_search(params).criteria
    assert criteria is not None, params
    count, rows = queries.search_statements(user, criteria, today)
    plain = rows.with_only_columns(*SearchContract.__table__.columns)
    return compile_sql(plain.limit(queries.MAX_ROWS)), compile_sql(count)


def detail_sql(user: User, contract_no: str) -> tuple[str, str]:
    contract = select(SearchContract).where(
        *queries.scope_filter(user), SearchContract.contract_no == contract_no
    )
    memo = select(MemoHistory).where(MemoHistory.contract_no == contract_no).order_by(MemoHistory.seq.desc())
    return compile_sql(contract), compile_sql(memo)


SAMPLE_GAP_S = 0.25
# PostgreSQL backends of the benchmark's own connections during a rush (probes, raw-SQL baseline): their
# CPU is the benchmark's, not the services' (bench.cost)
BENCH_BACKENDS: set[int] = set()


async def bench_connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(pg_dsn(url))
    BENCH_BACKENDS.add(conn.get_server_pid())
    return conn


async def raw_sql_sampler(
    url: str, today: date, plan: dict[str, Any], stop: asyncio.Event, out: dict[str, list[float]]
) -> None:
    """The API's statements run straight through asyncpg during the load, one every SAMPLE_GAP_S: often
    enough for percentiles, seldom enough not to be a second rush on PostgreSQL (back to back, they
    added about half again the users' search work to the database)."""
    users = load_data.users()
    staff = [u for u in users.values() if u.role == "staff"]
    hq = [u for u in users.values() if u.role == "hq"]
    rng = random.Random(7)
    conn = await bench_connect(url)
    try:
        while not stop.is_set():
            kind = rng.random()
            if kind < 0.7:
                name, _, params = rng.choice(STAFF_SEARCHES)
                user = rng.choice(staff)
            elif kind < 0.8:
                name, _, params = rng.choice(HQ_SEARCHES)
                user = rng.choice(hq)
            else:
                user = rng.choice(staff)
                name = "open detail"
            if name == "open detail":
                first, second = detail_sql(user, rng.choice(plan["detail_pool"][user.store_code]))
            else:
                first, second = search_sql(user, params(rng, today), today)
            started = time.perf_counter()
            page = await conn.fetch(first)
            if name == "open detail" or len(page) >= queries.MAX_ROWS:
                await conn.fetch(second)
            out.setdefault(name, []).append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(SAMPLE_GAP_S)
    finally:
        await conn.close()


async def produce_consume_sampler(
    bootstrap: str, stop: asyncio.Event, out: list[tuple[float, float]]
) -> None:
    """A bare produce → consume round trip on the same broker (a topic of its own) every 200 ms, for as
    long as the system runs (a consumer group takes seconds to join: too long to start one per rush).
    `out` gets (time.monotonic() at the start, milliseconds); a rush takes those of its own minutes."""
    topic = f"bench.roundtrip.{uuid.uuid4().hex[:6]}"
    await ensure_topics(CommonSettings(kafka_bootstrap_servers=bootstrap), [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-rt-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="latest",
        fetch_max_wait_ms=5,
    )
    await producer.start()
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        while not stop.is_set():
            marker = uuid.uuid4().hex.encode()
            started = time.perf_counter()
            await producer.send_and_wait(topic, marker, key=b"k")
            found = False
            while not found and time.perf_counter() - started < 10:
                for records in (await consumer.getmany(timeout_ms=50)).values():
                    found = found or any(r.value == marker for r in records)
            if found:
                out.append((time.monotonic(), (time.perf_counter() - started) * 1000))
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await producer.stop()


async def visible(conn: asyncpg.Connection, sql: str, *args: Any, timeout_s: float = 30) -> float:
    """Milliseconds until `sql` returns a row (polled every 2 ms, a primary-key lookup)."""
    started = time.monotonic()
    while await conn.fetchval(sql, *args) is None:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"not visible after {timeout_s}s: {sql} {args}")
        await asyncio.sleep(0.002)
    return (time.monotonic() - started) * 1000


async def lag_probe(
    system: System,
    urls: dict[str, str],
    plan: dict[str, Any],
    stop: asyncio.Event,
    out: dict[str, list[float]],
    errors: list[str],
) -> None:
    """Event lag from a write (its response: committed, the event staged in the outbox) until the read
    model has it: selection → search's contract row (the detail), 車両返却 → returns' copy (may submit),
    submit → approvals' request (進捗一覧). Writes through the gateway like a user; reads the read models'
    rows directly, every 2 ms. One probe at a time, about one a second, beside the locust users."""
    tokens = plan["tokens"]
    conns = {name: await bench_connect(urls[name]) for name in ("search", "returns", "approvals")}
    returns_left = plan["probe_returns"]  # each taken once, over every rush on this system
    rng = random.Random(3)
    turn = 0
    try:
        async with httpx.AsyncClient(base_url=system.base_url, timeout=30) as client:
            while not stop.is_set():
                turn += 1
                try:
                    no = rng.choice(plan["probe_selection"])
                    store = no_store(no)
                    headers = {"Authorization": f"Bearer {tokens[f'bench-{store}-staff1']}"}
                    body = {
                        "category": ["cash", "early_payoff", "refinance"][turn % 3],
                        "replacement": "no",
                        "confirmation_received_on": plan["today"],
                    }
                    r = await client.put(f"/api/v1/contracts/{no}/selection", json=body, headers=headers)
                    r.raise_for_status()
                    out.setdefault("selection → search detail", []).append(
                        await visible(
                            conns["search"],
                            "SELECT 1 FROM contracts WHERE contract_no = $1 AND seq >= $2",
                            no,
                            r.json()["seq"],
                        )
                    )
                    if returns_left and turn % 2 == 0:
                        no = returns_left.pop()
                        headers = {"Authorization": f"Bearer {tokens[f'bench-{no_store(no)}-staff1']}"}
                        body = {
                            "category": "vehicle_return",
                            "replacement": "no",
                            "confirmation_received_on": plan["today"],
                        }
                        r = await client.put(f"/api/v1/contracts/{no}/selection", json=body, headers=headers)
                        r.raise_for_status()
                        out.setdefault("selection → returns (may submit)", []).append(
                            await visible(
                                conns["returns"],
                                "SELECT 1 FROM contract_selection WHERE contract_no = $1 "
                                "AND category = 'vehicle_return'",
                                no,
                            )
                        )
                        r = await client.post(
                            "/api/v1/returns",
                            headers=headers,
                            json={
                                "contract_no": no,
                                "contact1": "03-1234-5678",
                                "result": "returned",
                                "returned_on": plan["today"],
                            },
                        )
                        if r.status_code != 202:
                            raise RuntimeError(f"submit {no}: {r.status_code} {r.text[:200]}")
                        out.setdefault("submit → progress list", []).append(
                            await visible(
                                conns["approvals"],
                                "SELECT 1 FROM requests WHERE request_id = $1",
                                r.json()["request_id"],
                            )
                        )
                except Exception as e:
                    errors.append(f"{type(e).__name__}: {e}"[:300])
                await asyncio.sleep(0.5)
    finally:
        for conn in conns.values():
            await conn.close()


STORE_OF: dict[str, str] = {}


def no_store(contract_no: str) -> str:
    return STORE_OF[contract_no]


async def dead_lettered(bootstrap: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        total = 0
        for topic in ALL_TOPICS:
            parts = consumer.partitions_for_topic(dead_letter(topic)) or set()
            tps = [TopicPartition(dead_letter(topic), p) for p in parts]
            if tps:
                begins, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
                total += sum(ends[tp] - begins[tp] for tp in tps)
        return total
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------------------------
# the system under the rush


def build_plan(
    system: System, book: list[dict[str, Any]], today: date, args: argparse.Namespace
) -> dict[str, Any]:
    by_store: dict[str, list[str]] = {s: [] for s in load_data.STORES}
    detail: dict[str, list[str]] = {s: [] for s in load_data.STORES}
    for s in book:  # live contracts come first: the scenario works on those before the copied ones
        if load_data.workable(s, today):
            by_store[s["store_code"]].append(s["contract_no"])
        if len(detail[s["store_code"]]) < 50:
            detail[s["store_code"]].append(s["contract_no"])
    returns_pool: dict[str, list[str]] = {}
    selection_pool: dict[str, list[str]] = {}
    probe_returns: list[str] = []
    probe_selection: list[str] = []
    calibration_returns: list[str] = []
    calibration_selection: list[str] = []
    for store, nos in by_store.items():
        # the probe's own contracts (live ones: built by the consumers), then the solo costs', then the users'
        if len(nos) >= 10:
            probe_selection.append(nos.pop(0))
            probe_returns.extend(nos.pop(0) for _ in range(4))
        if len(nos) >= 4:
            calibration_returns.append(nos.pop(0))
            calibration_selection.append(nos.pop(0))
        half = len(nos) // 2
        returns_pool[store] = list(reversed(nos[:half]))  # popped from the end: live first
        selection_pool[store] = nos[half:] or nos
    kept = probe_selection + probe_returns + calibration_returns + calibration_selection
    store_of = {s["contract_no"]: s["store_code"] for s in book}
    return {
        "think_s": [args.think_min, args.think_max],
        "probe_returns": probe_returns,
        "probe_selection": probe_selection,
        "calibration_returns": calibration_returns,
        "calibration_selection": calibration_selection,
        "store_of": {no: store_of[no] for no in kept},
        "host": system.base_url,
        "today": today.isoformat(),
        "duration_s": args.duration,
        "spawn_rate": 20,
        "staff_users": args.staff_users,
        "managers": 5,
        "stores": load_data.STORES,
        "tokens": load_data.tokens(),
        "return_pool": returns_pool,
        "selection_pool": selection_pool,
        "detail_pool": detail,
    }


async def set_flow(system: System) -> None:
    token = load_data.tokens()["bench-hq1"]
    async with httpx.AsyncClient(base_url=system.base_url, timeout=30) as client:
        r = await client.put(
            "/api/v1/approval-flow",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "store_approval": True,
                "hq_approval": True,
                "hq_approver_emails": ["hq-approvers@dealer.example.jp"],
            },
        )
        r.raise_for_status()


async def run_locust(plan: dict[str, Any], workdir: Path) -> dict[str, Any]:
    plan_path, out_path = workdir / "plan.json", workdir / "locust.json"
    plan_path.write_text(json.dumps(plan, ensure_ascii=False))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.locust_run",
        str(plan_path),
        str(out_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    if proc.returncode != 0 or not out_path.exists():
        raise RuntimeError(f"locust failed:\n{output.decode(errors='replace')[-3000:]}")
    return json.loads(out_path.read_text())


@dataclass
class Rig:
    """A system ready for rushes: the databases with the book, the Procfile's processes running (from
    `root`), the approval flow set, TFC answering. Several rushes may run on it one after the other."""

    label: str
    system: System
    urls: dict[str, str]
    plan: dict[str, Any]
    today: date
    tfc_stats: dict[str, int]
    round_trips: list[tuple[float, float]]  # bare produce → consume: (when, ms), all along
    details: dict[str, Any] = field(default_factory=dict)
    idle_per_s: dict[str, float] = field(default_factory=dict)  # CPU seconds a second per group, idle

    async def measure_idle(self, seconds: float = 5.0) -> None:
        """What every process uses with no user at all (consumers and relays polling, the baselines'
        round trips), per second: subtracted from the solo costs, shown beside the rush's."""
        cpu = self.cpu_use()
        before, started = await asyncio.to_thread(cpu.sample), time.monotonic()
        await asyncio.sleep(seconds)
        used = CpuUse.used(before, await asyncio.to_thread(cpu.sample))
        elapsed = time.monotonic() - started
        self.idle_per_s = {group: s / elapsed for group, s in used.items()}

    def cpu_use(self) -> CpuUse:
        """CPU per process: the system's by pid, each PostgreSQL backend in its database's group."""
        databases = {make_url(url).database: service for service, url in self.urls.items()}

        def classify(pid: int, name: str, command: str) -> str | None:
            if not name.startswith("postgres"):
                return None
            if pid in BENCH_BACKENDS:
                return "PostgreSQL (the benchmark's probes and baselines)"
            database = postgres_database(command)
            if database in databases:
                return cost.postgres_group(databases[database])
            return "PostgreSQL (server processes, other databases)"

        return CpuUse(self.system.pids, "bench process (probes, baselines)", "locust, py-spy", classify)


def migrate(urls: dict[str, str], root: str = ROOT) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", f"services.{name}.migrate"],
            cwd=root,
            env={**os.environ, "JPASS_DATABASE_URL": url, **({"PYTHONPATH": root} if root != ROOT else {})},
        )
        for name, url in urls.items()
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError("migration failed")


@contextlib.asynccontextmanager
async def prepared(
    args: argparse.Namespace, root: str = ROOT, label: str = "working tree"
) -> AsyncIterator[Rig]:
    today = rules.tokyo_today()
    live_n = min(args.live, args.contracts)
    print(f"load ({label}): {args.contracts:,} contracts ({live_n:,} through {TFC_CONTRACTS})", flush=True)
    book = list(load_data.snapshots(args.contracts, today))
    live, bulk = book[:live_n], book[live_n:]
    async with databases("bench_load", list(SERVICES)) as urls:
        await asyncio.to_thread(migrate, urls, root)
        copy_s = await bulk_load(urls, bulk) if bulk else {}
        print(
            f"  copied {len(bulk):,} contracts into search/selection/returns: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in copy_s.items()),
            flush=True,
        )
        system = System(urls, root=root)
        await asyncio.to_thread(system.start)
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        try:
            feed_s = await feed_live(system, urls, live, args.contracts)
            checked = await check_bulk_rows(urls, live)
            print(
                f"  {live_n:,} live contracts consumed by search, selection and returns in {feed_s:.1f}s; "
                f"{checked} copied rows checked against the consumers'",
                flush=True,
            )
            await set_flow(system)
            STORE_OF.update({s["contract_no"]: s["store_code"] for s in book})
            tfc_stats = {"completed": 0}
            round_trips: list[tuple[float, float]] = []
            tasks = [
                asyncio.create_task(tfc(system.bootstrap, stop, tfc_stats)),
                asyncio.create_task(produce_consume_sampler(system.bootstrap, stop, round_trips)),
            ]
            rig = Rig(
                label,
                system,
                urls,
                build_plan(system, book, today, args),
                today,
                tfc_stats,
                round_trips,
                {
                    "contracts": args.contracts,
                    "live_contracts": live_n,
                    "bulk_copy_s": {k: round(v, 1) for k, v in copy_s.items()},
                    "live_feed_s": round(feed_s, 1),
                },
            )
            await asyncio.sleep(3)  # the round-trip sampler's consumer joins its group
            await rig.measure_idle()
            yield rig
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(Exception):
                    await task
            await asyncio.to_thread(system.stop)


@dataclass
class RushResult:
    staff_users: int
    stats: dict[str, Any]  # locust's summary (bench/locust_run.py)
    raw_sql: dict[str, list[float]]
    round_trips: list[float]
    lags: dict[str, list[float]]
    probe_errors: list[str]
    dead_lettered: int  # during this rush
    tfc_completed: int  # during this rush
    cpu: CpuUse
    load_average: str  # 1-minute load average before → after
    profiles: dict[str, Any] | None = None

    @property
    def actions(self) -> int:
        return int(self.stats["total"]["requests"])

    @property
    def errors(self) -> int:
        return int(self.stats["total"]["failures"]) + len(self.probe_errors) + self.dead_lettered

    def jpass_cpu_s(self) -> float:
        return sum(s for g, s in self.cpu.seconds.items() if cost.part_of(g) is not None)


async def rush(rig: Rig, staff_users: int, duration_s: float, profile_dir: str | None = None) -> RushResult:
    """The month-end rush on the rig for `duration_s` with `staff_users` staff users (+ 5 managers, 2 hq),
    the lag probe and the baselines beside it, CPU per process over it."""
    print(f"  rush ({rig.label}): {staff_users} staff + 5 managers + 2 hq for {duration_s:.0f}s", flush=True)
    plan = {
        **rig.plan,
        "staff_users": staff_users,
        "duration_s": duration_s,
        "spawn_rate": max(20, staff_users // 2),  # every user within about 2 s
    }
    system, load_before = rig.system, os.getloadavg()[0]
    dlq_before, tfc_before = await dead_lettered(system.bootstrap), rig.tfc_stats["completed"]
    stop = asyncio.Event()
    raw_sql: dict[str, list[float]] = {}
    lags: dict[str, list[float]] = {}
    probe_errors: list[str] = []
    background = [
        asyncio.create_task(lag_probe(system, rig.urls, plan, stop, lags, probe_errors)),
        asyncio.create_task(raw_sql_sampler(rig.urls["search"], rig.today, plan, stop, raw_sql)),
    ]
    started = time.monotonic()
    profiler = Profiler(profile_dir, system.pids) if profile_dir else None
    with tempfile.TemporaryDirectory() as workdir:
        if profiler:
            profiler.start(
                ["search", "selection", "returns1", "approvals"], duration_s * 0.6, delay_s=duration_s * 0.25
            )
        with rig.cpu_use() as cpu:
            stats = await run_locust(plan, Path(workdir))
    ended = time.monotonic()
    await asyncio.sleep(3)  # let TFC and the probes finish what is in flight
    stop.set()
    for task in background:
        with contextlib.suppress(Exception):
            await task
    used = set(stats.get("used_returns", []))
    for pool in rig.plan["return_pool"].values():  # the next rush on this system takes other contracts
        pool[:] = [no for no in pool if no not in used]
    return RushResult(
        staff_users,
        stats,
        raw_sql,
        [ms for when, ms in rig.round_trips if started <= when <= ended],
        lags,
        probe_errors,
        await dead_lettered(system.bootstrap) - dlq_before,
        rig.tfc_stats["completed"] - tfc_before,
        cpu,
        f"{load_before:.1f} → {os.getloadavg()[0]:.1f}",
        profiler.collect() if profiler else None,
    )


def capacity_step(result: RushResult, idle_per_s: dict[str, float]) -> capacity.Step:
    stats = result.stats
    idle_s = cost.by_part(idle_per_s)["total"] * result.cpu.elapsed
    cores = cost.by_part({g: s / result.cpu.elapsed for g, s in result.cpu.seconds.items()})
    busiest = max(cost.PARTS, key=lambda part: cores[part])
    return capacity.Step(
        staff_users=result.staff_users,
        p50_ms=stats["total"]["p50_ms"],
        p95_ms=stats["total"]["p95_ms"],
        errors=result.errors,
        actions_per_s=result.actions / stats["duration_s"],
        cpu_ms_per_action=1000 * result.jpass_cpu_s() / max(1, result.actions),
        cpu_ms_per_action_beyond_idle=1000 * (result.jpass_cpu_s() - idle_s) / max(1, result.actions),
        cores_busy=result.jpass_cpu_s() / result.cpu.elapsed,
        machine_cores_busy=sum(result.cpu.seconds.values()) / result.cpu.elapsed,
        actions={e["name"]: (e["p50_ms"], e["p95_ms"]) for e in stats["entries"]},
        hops={name: (pct(v, 50), pct(v, 95)) for name, v in result.lags.items()},
        bare_round_trip=(pct(result.round_trips, 50), pct(result.round_trips, 95)),
        busiest=(busiest, cores[busiest]),
        load_average=result.load_average,
    )


@dataclass
class LoadRun:
    """Everything one side of the benchmark measured on one system."""

    label: str
    rig_details: dict[str, Any]
    idle_per_s: dict[str, float]
    main: RushResult
    solo: solo_cost.SoloCosts | None
    steps: list[capacity.Step]
    sections: list[Section]


async def run(args: argparse.Namespace, root: str = ROOT, label: str = "working tree") -> LoadRun:
    """One system: the solo costs per action type, the rush, then the capacity steps (if any)."""
    async with prepared(args, root, label) as rig:
        solo = None
        if args.solo_n > 0:
            solo = await solo_cost.measure(
                rig.system.base_url, rig.plan, rig.today, rig.cpu_use(), rig.idle_per_s, args.solo_n
            )
        main = await rush(rig, args.staff_users, args.duration, args.profile_dir or None)
        steps: list[capacity.Step] = []
        for users in capacity.parse_steps(args.capacity_steps):
            steps.append(capacity_step(await rush(rig, users, args.capacity_step_s), rig.idle_per_s))
            if not steps[-1].passed:
                break
        details, idle_per_s = dict(rig.details), rig.idle_per_s
    suffix = "" if label == "working tree" else f" — {label}"
    sections = [load_section(details, main, suffix), cost_section(main, solo, idle_per_s, suffix)]
    if steps:
        sections.append(capacity_section(steps, args.capacity_step_s, suffix))
    return LoadRun(label, details, idle_per_s, main, solo, steps, sections)


# --------------------------------------------------------------------------------------------
# the report


def load_section(details: dict[str, Any], main: RushResult, suffix: str = "") -> Section:
    section = Section(
        "load", f"End-to-end month-end rush ({details['contracts']:,} contracts, 50 stores){suffix}"
    )
    figures(section, main)
    section.details.update(
        details,
        stores=50,
        staff_users=main.staff_users,
        duration_s=round(main.stats["duration_s"], 1),
        tfc_completed=main.tfc_completed,
        dead_lettered=main.dead_lettered,
        cpus=os.cpu_count(),
        load_average_during_rush=main.load_average,
    )
    section.details["cores_busy"] = main.cpu.cores
    section.notes.append(
        f"Cores busy on average during the rush (CPU seconds / wall seconds; the machine has "
        f"{os.cpu_count()}): {main.cpu.text()}. The probes and the raw-SQL and produce → consume baselines "
        "run in the bench process; py-spy, while it samples, is counted only if still running at the end."
    )
    section.details["locust"] = main.stats
    if main.profiles:
        section.details["profiles"] = main.profiles
    return section


def cost_section(
    main: RushResult, solo: solo_cost.SoloCosts | None, idle_per_s: dict[str, float], suffix: str = ""
) -> Section:
    section = Section("cost", f"CPU per user action{suffix}")
    seconds, actions = main.cpu.seconds, main.actions
    per_part = cost.by_part(cost.per_action_ms(seconds, actions))
    idle = cost.by_part(idle_per_s)["total"]
    section.add(
        "J-PASS CPU per user action, over the rush",
        per_part["total"],
        "ms",
        note=", ".join(f"{p} {per_part[p]:.1f}" for p in cost.PARTS),
    )
    section.add(
        "J-PASS CPU per user action beyond its idle use, over the rush",
        per_part["total"] - 1000 * idle * main.cpu.elapsed / actions,
        "ms",
        note=f"idle, J-PASS uses {idle:.2f} cores: "
        + ", ".join(f"{p} {v:.2f}" for p, v in cost.by_part(idle_per_s).items() if p != "total"),
    )
    counts = {e["name"]: e["requests"] for e in main.stats["entries"]}
    if solo is not None:
        for unit in cost.top_actions(counts, solo.costs, solo.counts_as, n=len(solo.costs)):
            parts = cost.by_part(solo.costs[unit])
            top = sorted(cost.PARTS, key=lambda p: -parts[p])[:3]
            section.add(
                f"{unit}: CPU per action, alone",
                parts["total"],
                "ms",
                note=f"{counts.get(solo.counts_as[unit], 0)} in the rush; "
                + ", ".join(f"{p} {parts[p]:.1f}" for p in top),
            )
    section.notes.append(
        f"**Per process, over the rush** ({actions} user actions in {main.cpu.elapsed:.0f} s, "
        f"{main.staff_users} staff users; load average {main.load_average}):\n\n"
        + cost.rush_markdown(seconds, main.cpu.elapsed, actions)
    )
    if solo is not None:
        found = cost.reconcile(
            {u: cost.by_part(g)["total"] for u, g in solo.costs.items()},
            solo.counts_as,
            counts,
            main.jpass_cpu_s(),
            idle,
            main.cpu.elapsed,
        )
        section.notes.append(
            f"**Per action type, alone** ({solo.n} of each one after the other on the quiet system, before "
            "the rush; the actions' events consumed before the counters are read again; less the idle use "
            "measured just before and after each batch — idle, J-PASS uses "
            f"{1000 * idle:.0f} ms of CPU a second: consumers polling the broker, relays their outboxes):\n\n"
            + cost.solo_markdown(solo.costs)
        )
        section.notes.append(
            "Check: the solo costs × the rush's counts + the idle use over the rush = "
            f"{found.predicted_s:.1f} s of CPU; J-PASS's processes used {found.measured_s:.1f} s during the "
            "rush "
            f"({found.ratio:.2f}× the prediction: what concurrency costs or saves beyond the actions alone)."
            + (f" Failed solo units: {'; '.join(solo.failures)}." if solo.failures else "")
        )
        section.details["solo_costs_ms"] = solo.costs
    section.details["idle_cpu_per_s"] = idle_per_s
    section.details["rush_cpu_s"] = seconds
    section.details["rush_elapsed_s"] = main.cpu.elapsed
    section.details["rush_actions"] = actions
    return section


def capacity_section(steps: list[capacity.Step], step_s: float, suffix: str = "") -> Section:
    found = capacity.knee(steps)
    section = Section("capacity", f"Capacity: the rush at growing numbers of staff users{suffix}")
    for step in steps:
        section.add(
            f"{step.staff_users} staff users: p95 over all user actions",
            step.p95_ms,
            "ms",
            target=f"value<={capacity.P95_LIMIT_MS:.0f}",
            note=f"p50 {step.p50_ms:.0f} ms, {step.errors} errors, {step.actions_per_s:.1f} actions/s, "
            f"J-PASS {step.cpu_ms_per_action:.1f} CPU ms per action, {step.cores_busy:.2f} cores",
        )
    section.details.update(step_s=step_s, knee=found.text())
    section.details["steps"] = [vars(s) for s in steps]
    section.notes.append(f"Knee (p95 ≤ 1 s and 0 errors): **{found.text()}**.\n\n" + capacity.markdown(steps))
    return section


def figures(section: Section, result: RushResult) -> None:
    stats, raw_sql, round_trips, lags = result.stats, result.raw_sql, result.round_trips, result.lags
    entries = {e["name"]: e for e in stats["entries"]}
    rt50, rt95 = pct(round_trips, 50), pct(round_trips, 95)
    for name, values in lags.items():
        note = f"{len(values)} probes, p99 {pct(values, 99):.0f} ms"
        section.add(
            f"lag: {name} p50",
            pct(values, 50),
            "ms",
            baseline_name="bare produce → consume p50",
            baseline=rt50,
            note=note,
        )
        section.add(
            f"lag: {name} p95",
            pct(values, 95),
            "ms",
            baseline_name="bare produce → consume p95",
            baseline=rt95,
            target="ratio<=3",
            note=note,
        )
    for name, e in entries.items():
        sql = raw_sql.get(name, [])
        is_search = "search" in name or name == "open detail"
        section.add(
            f"{name} p95",
            e["p95_ms"],
            "ms",
            baseline_name="raw SQL p95" if sql else "",
            baseline=pct(sql, 95) if sql else None,
            target="value<=50,ratio<=2" if is_search else None,
            note=f"p50 {e['p50_ms']:.0f} ms, p99 {e['p99_ms']:.0f} ms, {e['requests']} requests, "
            f"{e['per_s']:.1f}/s, {e['failures']} failed",
        )
    section.add(
        "errors (failed requests, refused probes)",
        stats["total"]["failures"] + len(result.probe_errors),
        "",
        target="value<=0",
        note="; ".join(result.probe_errors[:3]),
    )
    section.add("dead-lettered messages", result.dead_lettered, "", target="value<=0")
    section.add(
        "throughput (user actions)",
        result.actions / stats["duration_s"],
        "req/s",
        note=f"{result.tfc_completed} requests completed by TFC",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contracts", type=int, default=int(os.environ.get("BENCH_CONTRACTS", 100_000)))
    p.add_argument(
        "--live",
        type=int,
        default=int(os.environ.get("BENCH_LIVE_CONTRACTS", 1_000)),
        help="contracts produced through tfc.contracts.v1 (the rest is copied)",
    )
    p.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 60)))
    p.add_argument("--staff-users", type=int, default=int(os.environ.get("BENCH_STAFF_USERS", 50)))
    p.add_argument("--think-min", type=float, default=float(os.environ.get("BENCH_THINK_MIN_S", 2)))
    p.add_argument("--think-max", type=float, default=float(os.environ.get("BENCH_THINK_MAX_S", 6)))
    p.add_argument(
        "--profile-dir",
        default=os.environ.get("BENCH_PROFILE_DIR", ""),
        help="py-spy profiles of the services during the load go here",
    )
    p.add_argument(
        "--solo-n",
        type=int,
        default=int(os.environ.get("BENCH_SOLO_N", 40)),
        help="actions of each type done alone before the rush, for the CPU per action type (0: none)",
    )
    p.add_argument(
        "--capacity-steps",
        default=os.environ.get("BENCH_CAPACITY_STEPS", ""),
        help="staff users of each capacity step, e.g. 10,25,50,100 (none by default)",
    )
    p.add_argument(
        "--capacity-step-s", type=float, default=float(os.environ.get("BENCH_CAPACITY_STEP_S", 30))
    )
    return p


def main() -> None:
    from bench.common import section_markdown

    with postgres_server():
        result = asyncio.run(run(parser().parse_args()))
    for section in result.sections:
        print(section_markdown(section))


if __name__ == "__main__":
    main()
