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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from bench import load_data
from bench.common import ROOT, CpuUse, Section, databases, pct, postgres_server
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


def migrate(urls: dict[str, str]) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", f"services.{name}.migrate"],
            cwd=ROOT,
            env={**os.environ, "JPASS_DATABASE_URL": url},
        )
        for name, url in urls.items()
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise RuntimeError("migration failed")


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
    conn = await asyncpg.connect(pg_dsn(url))
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


async def produce_consume_sampler(bootstrap: str, stop: asyncio.Event, out: list[float]) -> None:
    """A bare produce → consume round trip on the same broker (a topic of its own), during the load."""
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
                out.append((time.perf_counter() - started) * 1000)
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
    conns = {name: await asyncpg.connect(pg_dsn(urls[name])) for name in ("search", "returns", "approvals")}
    returns_left = list(plan["probe_returns"])
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
# the run


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
    returns_pool, selection_pool, probe_returns, probe_selection = {}, {}, [], []
    for store, nos in by_store.items():
        # the probe's own contracts (live ones: built by the consumers), then the users'
        if len(nos) >= 10:
            probe_selection.append(nos.pop(0))
            probe_returns.extend(nos.pop(0) for _ in range(4))
        half = len(nos) // 2
        returns_pool[store] = list(reversed(nos[:half]))  # popped from the end: live first
        selection_pool[store] = nos[half:] or nos
    return {
        "think_s": [args.think_min, args.think_max],
        "probe_returns": probe_returns,
        "probe_selection": probe_selection,
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


async def run(args: argparse.Namespace) -> Section:
    today = rules.tokyo_today()
    section = Section("load", f"End-to-end month-end rush ({args.contracts:,} contracts, 50 stores)")
    live_n = min(args.live, args.contracts)
    print(
        f"load: {args.contracts:,} contracts ({live_n:,} through {TFC_CONTRACTS}), "
        f"{args.staff_users} staff + 5 managers + 2 hq for {args.duration}s",
        flush=True,
    )
    book = list(load_data.snapshots(args.contracts, today))
    live, bulk = book[:live_n], book[live_n:]
    async with databases("bench_load", list(SERVICES)) as urls:
        await asyncio.to_thread(migrate, urls)
        copy_s = await bulk_load(urls, bulk) if bulk else {}
        print(
            f"  copied {len(bulk):,} contracts into search/selection/returns: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in copy_s.items()),
            flush=True,
        )
        system = System(urls)
        await asyncio.to_thread(system.start)
        try:
            feed_s = await feed_live(system, urls, live, args.contracts)
            checked = await check_bulk_rows(urls, live)
            print(
                f"  {live_n:,} live contracts consumed by search, selection and returns in {feed_s:.1f}s; "
                f"{checked} copied rows checked against the consumers'",
                flush=True,
            )
            await set_flow(system)
            plan = build_plan(system, book, today, args)
            STORE_OF.update({s["contract_no"]: s["store_code"] for s in book})
            stop = asyncio.Event()
            raw_sql: dict[str, list[float]] = {}
            round_trips: list[float] = []
            tfc_stats = {"completed": 0}
            lags: dict[str, list[float]] = {}
            probe_errors: list[str] = []
            background = [
                asyncio.create_task(lag_probe(system, urls, plan, stop, lags, probe_errors)),
                asyncio.create_task(tfc(system.bootstrap, stop, tfc_stats)),
                asyncio.create_task(raw_sql_sampler(urls["search"], today, plan, stop, raw_sql)),
                asyncio.create_task(produce_consume_sampler(system.bootstrap, stop, round_trips)),
            ]
            profiler = Profiler(args.profile_dir, system.pids) if args.profile_dir else None
            with tempfile.TemporaryDirectory() as workdir:
                if profiler:
                    profiler.start(
                        ["search", "selection", "returns1", "approvals"],
                        args.duration * 0.6,
                        delay_s=args.duration * 0.25,
                    )
                with CpuUse(system.pids, "bench process (probes, baselines)", "locust, py-spy") as cpu:
                    stats = await run_locust(plan, Path(workdir))
            await asyncio.sleep(3)  # let TFC finish what is in flight
            stop.set()
            for task in background:
                with contextlib.suppress(Exception):
                    await task
            dlq = await dead_lettered(system.bootstrap)
            if profiler:
                section.details["profiles"] = profiler.collect()
        finally:
            await asyncio.to_thread(system.stop)
    figures(section, stats, raw_sql, round_trips, lags, probe_errors, tfc_stats, dlq)
    section.details.update(
        contracts=args.contracts,
        live_contracts=live_n,
        stores=50,
        staff_users=args.staff_users,
        duration_s=round(stats["duration_s"], 1),
        bulk_copy_s={k: round(v, 1) for k, v in copy_s.items()},
        live_feed_s=round(feed_s, 1),
        tfc_completed=tfc_stats["completed"],
        dead_lettered=dlq,
        cpus=os.cpu_count(),
    )
    section.details["cores_busy"] = cpu.cores
    section.notes.append(
        f"Cores busy on average during the rush (CPU seconds / wall seconds; the machine has "
        f"{os.cpu_count()}): {cpu.text()}. The probes and the raw-SQL and produce → consume baselines run "
        "in the bench process; py-spy, while it samples, is counted only if still running at the end."
    )
    section.details["locust"] = stats
    return section


def figures(
    section: Section,
    stats: dict[str, Any],
    raw_sql: dict[str, list[float]],
    round_trips: list[float],
    lags: dict[str, list[float]],
    probe_errors: list[str],
    tfc_stats: dict[str, int],
    dlq: int,
) -> None:
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
        stats["total"]["failures"] + len(probe_errors),
        "",
        target="value<=0",
        note="; ".join(probe_errors[:3]),
    )
    section.add("dead-lettered messages", dlq, "", target="value<=0")
    actions = sum(e["requests"] for n, e in entries.items() if not n.startswith(("poll: ", "lag: ")))
    section.add(
        "throughput (user actions, polls excluded)",
        actions / stats["duration_s"],
        "req/s",
        note=f"{tfc_stats['completed']} requests completed by TFC",
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
    return p


def main() -> None:
    from bench.common import section_markdown

    with postgres_server():
        section = asyncio.run(run(parser().parse_args()))
    print(section_markdown(section))


if __name__ == "__main__":
    main()
