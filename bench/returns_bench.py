"""Benchmark of vehicle-return intake (not a test): `python -m bench.returns_bench [--n 300]`.

Runs everything on free ports beside whatever else is running: a throwaway Tansu, a fresh PostgreSQL
database (DATABASE_URL's server, like the tests), the returns app under uvicorn (one, then two
instances on the same database and broker; the client spreads requests round-robin, standing in for the
gateway), and a bare FastAPI endpoint that writes one row (the throughput baseline). Then the latency of
submit → ReturnSubmitted consumed from the topic, beside a bare produce → consume round trip.
Prints the figures and their ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, String, Table

from bench.common import CpuUse, Section, pct, postgres_server
from devtools.demo import USERS_BY_ID
from services.returns.db import Base, Contract, ContractSelection
from shared.db import make_engine
from shared.messaging import ensure_topics
from shared.settings import CommonSettings
from shared.topics import RETURN_SUBMISSIONS
from tests.support import TEST_JWKS_JSON, Tansu, create_pg_database, drop_pg_database, free_port, sign_token

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ------------------------------------------------------------------------------------ the baseline app

_rows = MetaData()
bench_rows = Table(
    "bench_rows",
    _rows,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("value", String(64)),
)


def baseline_app() -> FastAPI:
    """A bare FastAPI endpoint writing one row (same database server): the throughput baseline."""
    engine = make_engine(os.environ["JPASS_DATABASE_URL"])
    app = FastAPI()

    @app.post("/rows", status_code=202)
    async def write_row(body: dict[str, str]) -> dict[str, str]:
        async with engine.begin() as conn:
            await conn.execute(bench_rows.insert().values(value=body.get("value", "")))
        return {"ok": "1"}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"ok": "1"}

    return app


# ------------------------------------------------------------------------------------ infrastructure


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    url = await create_pg_database("bench_returns")
    try:
        yield url
    finally:
        await drop_pg_database(url)


@contextlib.asynccontextmanager
async def uvicorn(target: str, env: dict[str, str], ready_path: str) -> AsyncIterator[str]:
    """Start `uvicorn --factory target` on a free port; yields its base URL."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="returns-bench-", suffix=".log", delete=False)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = await asyncio.create_subprocess_exec(
        *command,
        env={**os.environ, "JPASS_JWKS_JSON": TEST_JWKS_JSON, **env},
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    PIDS[base] = proc.pid
    try:
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(base + ready_path)).status_code == 200:
                        break
                if time.monotonic() > deadline or proc.returncode is not None:
                    raise RuntimeError(f"{target} did not become ready (log: {log.name})")
                await asyncio.sleep(0.2)
        yield base
        os.unlink(log.name)  # kept only when something failed
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
        log.close()


async def prepare(db_url: str, contracts: list[str]) -> None:
    """Returns' tables plus eligible contracts (TFC copy + 車両返却 selection), and the baseline table."""
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        await conn.run_sync(_rows.create_all)
        await conn.execute(
            Contract.__table__.insert(),
            [
                dict(
                    contract_no=no,
                    version=1,
                    dealer_code="D001",
                    dealer_name="東都トヨモビ販売株式会社",
                    tfc_store_code="S0101",
                    tfc_store_name="品川店",
                    tfc_staff_code="010101",
                    contractor_name="山田 太郎",
                    contractor_name_kana="ヤマダ タロウ",
                    contractor_postal_code="140-0001",
                    contractor_address="東京都品川区北品川1-2-3",
                    registration_no="品川 300 あ 12-34",
                    model="プリウス",
                    program="gamma_finance",
                    contract_kind="installment",
                    final_payment_date=date(2026, 6, 30),
                    final_payment_amount=1_200_000,
                    receivable_purchased=False,
                    status="active",
                )
                for no in contracts
            ],
        )
        await conn.execute(
            ContractSelection.__table__.insert(),
            [
                dict(contract_no=no, category_seq=1, category="vehicle_return", assignment_seq=0)
                for no in contracts
            ],
        )
    await engine.dispose()


# ------------------------------------------------------------------------------------ measurements

PIDS: dict[str, int] = {}  # base URL → uvicorn's pid


HEADERS = {"Authorization": f"Bearer {sign_token(USERS_BY_ID['d1-hq'])}"}


def submission(no: str) -> dict[str, object]:
    return {
        "contract_no": no,
        "contact1": "03-1234-5678",
        "contact3_email": "hq@dealer.example.jp",
        "result": "returned",
        "returned_on": "2026-01-10",
    }


async def throughput(bases: list[str], path: str, bodies: list[dict[str, object]], concurrency: int) -> float:
    """Requests/s of POSTing `bodies` round-robin over `bases` with `concurrency` in flight."""
    queue: asyncio.Queue[tuple[int, dict[str, object]]] = asyncio.Queue()
    for item in enumerate(bodies):
        queue.put_nowait(item)
    failures: list[str] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i, body = queue.get_nowait()
            r = await client.post(bases[i % len(bases)] + path, json=body, headers=HEADERS)
            if r.status_code != 202:
                failures.append(r.text)

    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} failed, e.g. {failures[0]}")
    return len(bodies) / elapsed


WRK = shutil.which("wrk")
CLIENT = "bench process" if WRK else "client (this process, httpx)"
WRK_SCRIPT = os.path.join(ROOT, "bench", "wrk_post.lua")
WRK_BODIES = 3000  # per instance and phase: more than a phase can send (wrk runs for a duration)


async def throughput_wrk(
    bases: list[str], path: str, bodies: list[dict[str, object]], concurrency: int, seconds: float
) -> float:
    """Requests/s of POSTing `bodies` for `seconds` with wrk, one wrk per base URL (each its share of
    the bodies and of the connections, as the gateway spreads them); all answered 202 or it raises."""
    share = len(bodies) // len(bases)
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for i, base in enumerate(bases):
            file = os.path.join(tmp, f"bodies{i}.txt")
            lines = (json.dumps(b, ensure_ascii=False) + "\n" for b in bodies[i * share : (i + 1) * share])
            await asyncio.to_thread(Path(file).write_text, "".join(lines))
            procs.append(
                await asyncio.create_subprocess_exec(
                    *[WRK or "wrk", "-t1", f"-c{max(1, concurrency // len(bases))}"],
                    f"-d{max(1, round(seconds))}s",
                    *["--timeout", "30s", "-s", WRK_SCRIPT, base + path, "--", file],
                    *[HEADERS["Authorization"], "202"],
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
            )
        outputs = [(await p.communicate())[0].decode() for p in procs]
    ok = 0
    longest = 0.0
    for out in outputs:
        m = re.search(r"ok=(\d+) bad=(\d+) first_bad_status=(\d+) duration_us=(\d+)", out)
        if not m:
            raise RuntimeError(f"wrk failed:\n{out[-2000:]}")
        ok += int(m[1])
        longest = max(longest, int(m[4]) / 1e6)
        if int(m[2]):
            raise RuntimeError(f"{m[2]} requests refused (first status {m[3]}):\n{out[-2000:]}")
    return ok / longest


async def _tail(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    # A short fetch wait, so the measure is the round trip and not the broker's long-poll period.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=5)
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)
    return consumer


async def _await_key(consumer: AIOKafkaConsumer, match: bytes) -> None:
    while True:
        for msgs in (await consumer.getmany(timeout_ms=50)).values():
            if any(match in m.value for m in msgs):
                return


async def submit_latency(base: str, bootstrap: str, contracts: list[str]) -> list[float]:
    """Seconds from POST to the ReturnSubmitted event being consumed, one submission at a time."""
    consumer = await _tail(bootstrap, RETURN_SUBMISSIONS)
    out = []
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for no in contracts:
                started = time.perf_counter()
                r = await client.post(base + "/api/v1/returns", json=submission(no), headers=HEADERS)
                assert r.status_code == 202, r.text
                await _await_key(consumer, r.json()["request_id"].encode())
                out.append(time.perf_counter() - started)
    finally:
        await consumer.stop()
    return out


async def raw_round_trip(bootstrap: str, count: int) -> list[float]:
    """Seconds of a bare produce → consume on the same broker (a topic of its own)."""
    topic = f"bench.roundtrip.{uuid.uuid4().hex[:6]}"
    await ensure_topics(CommonSettings(kafka_bootstrap_servers=bootstrap), [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    consumer = await _tail(bootstrap, topic)
    out = []
    try:
        for i in range(count):
            marker = f"m-{i}-{uuid.uuid4().hex}".encode()
            started = time.perf_counter()
            await producer.send_and_wait(topic, marker, key=b"k")
            await _await_key(consumer, marker)
            out.append(time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()
    return out


SETTLE_S = 5.0  # > the consumer-group join (about half of JPASS_KAFKA_SESSION_TIMEOUT_MS=3000 on Tansu)


async def settle() -> None:
    """Time the steady state: let a new instance's consumers join their groups (and the other
    instance's rebalance) before measuring, as a scaled-out deployment runs."""
    await asyncio.sleep(SETTLE_S)


async def warm_up(base: str, contracts: list[str], concurrency: int) -> None:
    await throughput([base], "/api/v1/returns", [submission(c) for c in contracts], concurrency)


async def main(n: int, concurrency: int, latency_n: int, seconds: float = 8.0) -> Section:
    """Measure, print; returns the figures for the common report (bench/__main__.py).

    With wrk installed (`make bench` installs it) each throughput phase runs `seconds` under wrk;
    without it, `n` submissions per phase through httpx from this process."""
    per_run = WRK_BODIES if WRK else n
    warm = 4 * concurrency  # per instance, before timing: compiled-statement caches, pool connections
    contracts = [f"B{uuid.uuid4().hex[:10].upper()}" for _ in range(3 * per_run + latency_n + 3 * warm)]
    one_set, two_set = contracts[:per_run], contracts[per_run : 3 * per_run]
    lat_set = contracts[3 * per_run : 3 * per_run + latency_n]
    warm_sets = [contracts[3 * per_run + latency_n + i * warm :][:warm] for i in range(3)]

    async def measure(bases: list[str], path: str, bodies: list[dict[str, object]]) -> float:
        if WRK:
            return await throughput_wrk(bases, path, bodies, concurrency, seconds)
        return await throughput(bases, path, bodies, concurrency)

    broker = Tansu()
    broker.start()
    bootstrap = broker.bootstrap
    try:
        async with fresh_database() as db_url:
            await prepare(db_url, contracts)
            env = {
                "JPASS_DATABASE_URL": db_url,
                "JPASS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "JPASS_KAFKA_SESSION_TIMEOUT_MS": "3000",
                "JPASS_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
                "JPASS_AUTO_CREATE_SCHEMA": "false",
            }
            target = "services.returns.main:create_app"
            async with uvicorn("bench.returns_bench:baseline_app", env, "/ready") as base:
                rows: list[dict[str, object]] = [{"value": str(i)} for i in range(2 * per_run)]
                await throughput([base], "/rows", rows[:warm], concurrency)  # warm-up
                baseline = await measure([base], "/rows", rows)
            async with uvicorn(target, env, "/returns/readyz") as first:
                await settle()
                await warm_up(first, warm_sets[0], concurrency)
                with CpuUse({"returns instances": PIDS[first]}, CLIENT, "wrk") as cpu_one:
                    single = await measure([first], "/api/v1/returns", [submission(c) for c in one_set])
                async with uvicorn(target, env, "/returns/readyz") as second:
                    await settle()  # the first instance's consumers rebalance when the second joins
                    for base, warm_set in ((second, warm_sets[1]), (first, warm_sets[2])):
                        await warm_up(base, warm_set, concurrency)
                    bodies = [submission(c) for c in two_set]
                    with CpuUse({"returns instances": [PIDS[first], PIDS[second]]}, CLIENT, "wrk") as cpu_two:
                        double = await measure([first, second], "/api/v1/returns", bodies)
                latency = await submit_latency(first, bootstrap, lat_set)
            raw = await raw_round_trip(bootstrap, latency_n)
    finally:
        broker.stop()
    client = f"wrk, {seconds:g} s per phase" if WRK else f"httpx in this process, {n} per phase"

    latency, raw = [s * 1000 for s in latency], [s * 1000 for s in raw]  # ms
    p50, p95, raw50, raw95 = pct(latency, 50), pct(latency, 95), pct(raw, 50), pct(raw, 95)
    lines = [
        f"vehicle-return intake: {client}, {concurrency} in flight, {os.cpu_count()} CPUs",
        f"  baseline bare FastAPI, one row per POST  : {baseline:8.1f} req/s",
        f"  returns 1 instance                       : {single:8.1f} submissions/s"
        f"  ({single / baseline:.2f}x baseline)",
        f"  returns 2 instances (client round-robin) : {double:8.1f} submissions/s"
        f"  ({double / baseline:.2f}x baseline, {double / single:.2f}x one instance)",
        f"  submit → ReturnSubmitted consumed        : p50 {p50:6.1f} ms  p95 {p95:6.1f} ms",
        f"  baseline bare produce → consume          : p50 {raw50:6.1f} ms  p95 {raw95:6.1f} ms",
        f"  latency ratio                            : p50 {p50 / raw50:.1f}x  p95 {p95 / raw95:.1f}x",
    ]
    lines.append(f"  cores busy, 1 instance : {cpu_one.cores}")
    lines.append(f"  cores busy, 2 instances: {cpu_two.cores}")
    print("\n".join(lines))
    section = Section("returns", "Vehicle-return intake: one vs two instances, submit → consumed")
    section.details.update(client=client, in_flight=concurrency, latency_samples=latency_n)
    section.details["cores_busy_1_instance"] = cpu_one.cores
    section.details["cores_busy_2_instances"] = cpu_two.cores
    section.notes.append(
        "Cores busy on average (CPU seconds / wall seconds) — 1 instance: "
        + cpu_one.text()
        + "; 2 instances: "
        + cpu_two.text()
        + f" (the machine has {os.cpu_count()})."
    )
    section.add(
        "returns, 1 instance",
        single,
        "req/s",
        baseline_name="bare FastAPI, one row per POST",
        baseline=baseline,
    )
    section.add(
        "returns, 2 instances (round robin)",
        double,
        "req/s",
        baseline_name="returns, 1 instance",
        baseline=single,
        target="ratio>=1.7",
    )
    section.add(
        "submit → ReturnSubmitted consumed p50",
        p50,
        "ms",
        baseline_name="bare produce → consume p50",
        baseline=raw50,
    )
    section.add(
        "submit → ReturnSubmitted consumed p95",
        p95,
        "ms",
        baseline_name="bare produce → consume p95",
        baseline=raw95,
        target="ratio<=3",
    )
    return section


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-n", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput phase under wrk")
    args = parser.parse_args()
    with postgres_server():
        asyncio.run(main(args.n, args.concurrency, args.latency_n, args.seconds))
