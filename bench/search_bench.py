"""Benchmark of the customer list (issue 3): API p95 vs the same SQL run directly, and CSV memory.

    .venv/bin/python -m bench.search_bench                      # 1,000,000 contracts
    .venv/bin/python -m bench.search_bench --contracts 100000   # smaller

Seeds N contracts into a fresh PostgreSQL database (DATABASE_URL's server, default
postgresql://postgres@127.0.0.1:5432/test), starts the search service with uvicorn on a free port
against a private Tansu broker, and for every search mode measures:

- API: `GET /api/v1/contracts` over HTTP (token check, validation, queries, JSON), sequentially;
- SQL: the statements the API runs (queries.search_statements, page of 100 then the count when the
  page is full), compiled with literal values and run directly through asyncpg;

then prints p50/p95 of both and the ratio API p95 / SQL p95. Finally it exports the CSV of the
largest scope (hq of the big dealer: min(N, max(100,000, N/10)) rows) and reports the server's
peak RSS during the export against its RSS before it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.dialects import postgresql

from bench.common import Section, pct, postgres_server
from devtools.contracts import FAMILY, FAMILY_KANA, GIVEN, GIVEN_KANA, TOYOTA
from services.search import queries, rules
from services.search.db import Base, Contract
from shared.db import make_engine
from shared.events import PROGRAM_LABELS
from shared.identity import User
from tests.support import (
    TEST_JWKS_JSON,
    Tansu,
    create_pg_database,
    drop_pg_database,
    free_port,
    pg_dsn,
    sign_token,
)

DEALERS = [f"D9{n:02d}" for n in range(10)]
STORES_PER_DEALER = 20
BIG_DEALER = DEALERS[0]
PLATE_AREAS = ["品川", "世田谷", "練馬", "足立", "多摩", "横浜", "湘南", "大阪", "なにわ", "和泉"]
PLATE_KANA = "あいうえかきくけこさすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるれろわ"
HANDLING = ["unselected", "unselected", "selected", "in_progress", "completed"]
CATEGORIES = ["early_payoff", "cash", "vehicle_return", "refinance"]


# --------------------------------------------------------------------------------------------
# seeding


def dealer_sizes(total: int) -> dict[str, int]:
    big = min(total, max(100_000, total // 10))
    rest = total - big
    sizes = {BIG_DEALER: big}
    for i, dealer in enumerate(DEALERS[1:]):
        sizes[dealer] = rest // 9 + (1 if i < rest % 9 else 0)
    return sizes


def contract_rows(total: int, today: date, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    n = 0
    for dealer, size in dealer_sizes(total).items():
        for i in range(size):
            n += 1
            store = i % STORES_PER_DEALER
            fi, gi = rng.randrange(len(FAMILY)), rng.randrange(len(GIVEN))
            name, kana = f"{FAMILY[fi]} {GIVEN[gi]}", f"{FAMILY_KANA[fi]} {GIVEN_KANA[gi]}"
            plate = (
                f"{rng.choice(PLATE_AREAS)} {rng.randint(300, 599)} {rng.choice(PLATE_KANA)} "
                f"{rng.randint(1, 99):02d}-{rng.randint(0, 99):02d}"
            )
            model = rng.choice(TOYOTA)
            final = today + timedelta(days=rng.randint(-183, 4 * 365))
            first_reg = rules.add_months(final, -rng.choice([36, 48, 60, 72])) - timedelta(
                days=rng.randint(0, 40)
            )
            handling = rng.choice(HANDLING)
            category = rng.choice(CATEGORIES) if handling != "unselected" else None
            status = "settled" if handling == "completed" and rng.random() < 0.5 else "active"
            request_status = {"in_progress": "requested", "completed": "completed"}.get(handling)
            store_code = f"{dealer[1:]}{store:02d}"
            staff = f"{store_code}{rng.randint(1, 8):02d}"
            yield {
                "contract_no": f"B{n:09d}",
                "version": 1,
                "dealer_code": dealer,
                "dealer_name": f"ベンチ販売{dealer}",
                "store_code": store_code,
                "store_name": f"{store_code}店",
                "staff_code": staff,
                "tfc_store_code": store_code,
                "tfc_store_name": f"{store_code}店",
                "tfc_staff_code": staff,
                "tfc_owner_since": 1,
                "contractor_name": name,
                "contractor_name_kana": kana,
                "contractor_postal_code": "100-0001",
                "contractor_address": "東京都千代田区千代田1-1",
                "registration_no": plate,
                "brand": "toyota",
                "model": model,
                "vehicle_use": "passenger",
                "first_registration_date": first_reg.isoformat(),
                "first_registration_month": rules.month_index(first_reg.year, first_reg.month),
                "program": rng.choice(list(PROGRAM_LABELS)),
                "contract_kind": "lease" if rng.random() < 0.12 else "installment",
                "final_payment_date": final,
                "final_payment_amount": rng.randint(50, 300) * 10_000,
                "annual_rate": 0.049,
                "tfc_handling": "total_loss" if rng.random() < 0.01 else None,
                "receivable_purchased": False,
                "status": status,
                "search_name": rules.search_name(name, kana),
                "search_plate": rules.normalise_plate(plate),
                "search_model": rules.normalise_name(model),
                "updated_at": datetime.now(UTC),
                "seq": 1 if category else 0,
                "selection_seq": 1 if category else None,
                "selection_category": category,
                "replacement": rng.choice(["yes", "no"]) if category else None,
                "replacement_model": None,
                "confirmation_received_on": None,
                "selection_late": False,
                "selection_store_code": store_code if category else None,
                "selection_recorded_by": None,
                "selection_recorded_at": None,
                "memo_seq": None,
                "memo_text": None,
                "memo_author": None,
                "memo_updated_at": None,
                "assignment_seq": None,
                "assigned_store_code": None,
                "assigned_store_name": None,
                "assigned_staff_code": None,
                "assignment_basis_version": None,
                "transfer_seq": None,
                "transferred_in": False,
                "request_id": f"r{n}" if request_status else None,
                "request_type": "vehicle_return" if request_status else None,
                "request_status": request_status,
                "request_status_label": None,
                "request_updated_at": None,
                "request_reception_no": None,
                "request_result": None,
                "handling_status": handling,
                "completed": handling == "completed",
            }


async def seed(url: str, total: int, today: date) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        # Load without secondary indexes, then build them (much faster than maintaining them).
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'contracts' AND indexname NOT LIKE '%pkey'"
        )
        for ix in indexes:
            await conn.execute(f'DROP INDEX "{ix["indexname"]}"')
        columns = [c.name for c in Contract.__table__.columns]
        started = time.monotonic()
        batch: list[tuple[Any, ...]] = []
        for row in contract_rows(total, today):
            batch.append(tuple(row[c] for c in columns))
            if len(batch) == 20_000:
                await conn.copy_records_to_table("contracts", records=batch, columns=columns)
                batch.clear()
        if batch:
            await conn.copy_records_to_table("contracts", records=batch, columns=columns)
        print(f"  loaded {total:,} contracts in {time.monotonic() - started:.1f}s", flush=True)
        started = time.monotonic()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for ix in indexes:
            await conn.execute(ix["indexdef"])
        await conn.execute("VACUUM ANALYZE contracts")
        print(f"  built {len(indexes)} indexes in {time.monotonic() - started:.1f}s", flush=True)
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------
# the service under test


class Service:
    """Tansu on a free port + the search service under uvicorn on another."""

    def __init__(
        self, database_url: str, today: date, root: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.root = root or str(Path(__file__).resolve().parent.parent)  # another checkout: bench/ab.py
        self.extra_env = env or {}
        self.database_url = database_url
        self.today = today
        self.port = free_port()
        self.broker = Tansu()
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.procs[-1].pid

    def start(self) -> None:
        self.broker.start()
        env = {
            **os.environ,
            "JPASS_DATABASE_URL": self.database_url,
            "JPASS_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap,
            "JPASS_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "JPASS_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "JPASS_TODAY": self.today.isoformat(),
            "JPASS_JWKS_JSON": TEST_JWKS_JSON,
            "PYTHONPATH": self.root,
            **self.extra_env,
        }
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "services.search.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        self.procs.append(subprocess.Popen(cmd, env=env, cwd=self.root))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/search/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("search service did not start")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.broker.stop()


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------------------------
# measurements


@dataclass
class Scenario:
    name: str
    user: User
    params: dict[str, str]


def users() -> dict[str, User]:
    store = f"{BIG_DEALER[1:]}00"
    return {
        "hq": User(user_id="bench-hq", name="ベンチ 本部", role="hq", dealer_code=BIG_DEALER),
        "staff": User(
            user_id="bench-staff",
            name="ベンチ 担当",
            role="staff",
            dealer_code=BIG_DEALER,
            store_code=store,
            store_name=f"{store}店",
            staff_code=f"{store}01",
        ),
    }


def scenarios() -> list[Scenario]:
    u = users()
    out: list[Scenario] = []
    for who in ("hq", "staff"):
        user = u[who]
        out += [
            Scenario(
                f"{who:5} individual name 山田", user, {"mode": "individual", "contractor_name": "山田"}
            ),
            Scenario(
                f"{who:5} individual name ヤマダタロウ",
                user,
                {"mode": "individual", "contractor_name": "やまだ たろう"},
            ),
            Scenario(
                f"{who:5} individual plate 12-3", user, {"mode": "individual", "registration_no": "12-3"}
            ),
            Scenario(
                f"{who:5} individual contract_no", user, {"mode": "individual", "contract_no": "B000000123"}
            ),
            Scenario(f"{who:5} general (everything)", user, {"mode": "general"}),
            Scenario(
                f"{who:5} general 3 months + status",
                user,
                {
                    "mode": "general",
                    "final_from": "2026-07",
                    "final_to": "2026-09",
                    "handling_status": "selected",
                },
            ),
            Scenario(f"{who:5} general model ｱｸｱ", user, {"mode": "general", "model": "ｱｸｱ"}),
            Scenario(f"{who:5} general by staff code", user, {"mode": "general", "sort": "staff_code"}),
            Scenario(
                f"{who:5} inspection 1st 0-2",
                user,
                {"mode": "inspection", "inspection": "1", "months_from": "0", "months_to": "2"},
            ),
            Scenario(
                f"{who:5} inspection 2nd 0-23",
                user,
                {"mode": "inspection", "inspection": "2", "months_from": "0", "months_to": "23"},
            ),
        ]
    return out


def compiled_sql(scenario: Scenario, today: date) -> tuple[str, str]:
    criteria = rules.validate_search(scenario.params).criteria
    assert criteria is not None
    count, rows = queries.search_statements(scenario.user, criteria, today)
    dialect = postgresql.dialect()

    def sql(stmt: Any) -> str:
        return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    return sql(rows.limit(queries.MAX_ROWS)), sql(count)


async def time_api(
    client: httpx.AsyncClient, scenario: Scenario, repeat: int, warmup: int
) -> tuple[list[float], int]:
    headers = {"Authorization": f"Bearer {sign_token(scenario.user)}"}
    timings: list[float] = []
    total = 0
    for i in range(warmup + repeat):
        started = time.perf_counter()
        r = await client.get("/api/v1/contracts", params=scenario.params, headers=headers)
        elapsed = time.perf_counter() - started
        r.raise_for_status()
        total = r.json()["total"]
        if i >= warmup:
            timings.append(elapsed * 1000)
    return timings, total


async def time_sql(
    conn: asyncpg.Connection, page_sql: str, count_sql: str, repeat: int, warmup: int
) -> list[float]:
    timings: list[float] = []
    for i in range(warmup + repeat):
        started = time.perf_counter()
        page = await conn.fetch(page_sql)
        if len(page) >= queries.MAX_ROWS:
            await conn.fetchval(count_sql)
        elapsed = time.perf_counter() - started
        if i >= warmup:
            timings.append(elapsed * 1000)
    return timings


async def measure_csv(service: Service) -> dict[str, Any]:
    user = users()["hq"]
    headers = {"Authorization": f"Bearer {sign_token(user)}"}
    before = rss_kib(service.pid)
    try:  # reset the kernel's peak-RSS mark so VmHWM covers the export only
        Path(f"/proc/{service.pid}/clear_refs").write_text("5")  # noqa: ASYNC240 - procfs, instant
        hwm_reset = True
    except OSError:
        hwm_reset = False
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_kib(service.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rows = size = 0
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(base_url=service.base_url, timeout=600) as client,
        client.stream("GET", "/api/v1/contracts/export.csv", headers=headers) as r,
    ):
        r.raise_for_status()
        async for chunk in r.aiter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\r\n")
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    if hwm_reset:
        peak = max(peak, rss_kib(service.pid, "VmHWM"))
    return {
        "rows": rows - 1,
        "bytes": size,
        "seconds": elapsed,
        "rss_before_kib": before,
        "rss_peak_kib": peak,
    }


async def run(total: int, repeat: int, warmup: int, keep: bool) -> Section:
    """Seed, measure, print the table; returns the figures for the common report (bench/__main__.py)."""
    today = date.today()
    url = await create_pg_database("jpass_bench_search")
    print(f"search benchmark: {total:,} contracts, database {url}, today {today}", flush=True)
    service = Service(url, today)
    try:
        await seed(url, total, today)
        service.start()
        conn = await asyncpg.connect(pg_dsn(url))
        results = []
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            for scenario in scenarios():
                page_sql, count_sql = compiled_sql(scenario, today)
                api, matched = await time_api(client, scenario, repeat, warmup)
                sql = await time_sql(conn, page_sql, count_sql, repeat, warmup)
                results.append((scenario.name, matched, api, sql))
        await conn.close()
        print()
        print(
            f"{'scenario':42} {'rows':>8} {'API p50':>8} {'API p95':>8} {'SQL p50':>8} {'SQL p95':>8} "
            f"{'ratio':>6} {'overhead p50':>12}"
        )
        worst_api = worst_ratio = 0.0
        for label, matched, api, sql in results:
            api95, sql95 = pct(api, 95), pct(sql, 95)
            ratio = api95 / sql95 if sql95 else float("inf")
            worst_api, worst_ratio = max(worst_api, api95), max(worst_ratio, ratio)
            print(
                f"{label:42} {matched:>8,} {pct(api, 50):>7.1f}ms {api95:>7.1f}ms "
                f"{pct(sql, 50):>7.1f}ms {sql95:>7.1f}ms {ratio:>5.2f}x "
                f"{pct(api, 50) - pct(sql, 50):>10.1f}ms"
            )
        print(
            f"\nworst API p95 {worst_api:.1f} ms (target ≤ 50 ms); "
            f"worst ratio {worst_ratio:.2f}x (target ≤ 2x)"
        )
        csv_stats = await measure_csv(service)
        section = Section("search", f"Customer list API vs raw SQL, idle ({total:,} contracts, 10 dealers)")
        section.details.update(
            contracts=total, repeat=repeat, big_dealer_rows=dealer_sizes(total)[BIG_DEALER]
        )
        for label, matched, api, sql in results:
            section.add(
                f"{' '.join(label.split())} p95",
                pct(api, 95),
                "ms",
                baseline_name="same SQL via asyncpg p95",
                baseline=pct(sql, 95),
                target="value<=50,ratio<=2",
                note=f"{matched:,} rows match; API p50 {pct(api, 50):.1f} ms",
            )
        section.add(
            f"CSV export ({csv_stats['rows']:,} rows): server peak RSS",
            csv_stats["rss_peak_kib"] / 1024,
            "MiB",
            baseline_name="server RSS before the export",
            baseline=csv_stats["rss_before_kib"] / 1024,
            note=f"{csv_stats['bytes'] / 1e6:.1f} MB in {csv_stats['seconds']:.1f}s (streamed)",
        )
        print(
            f"\nCSV (hq, cp932): {csv_stats['rows']:,} rows, {csv_stats['bytes'] / 1e6:.1f} MB in "
            f"{csv_stats['seconds']:.1f}s; server RSS {csv_stats['rss_before_kib'] / 1024:.0f} MiB before, "
            f"peak {csv_stats['rss_peak_kib'] / 1024:.0f} MiB during the export "
            f"(+{(csv_stats['rss_peak_kib'] - csv_stats['rss_before_kib']) / 1024:.0f} MiB)"
        )
    finally:
        service.stop()
        if not keep:
            await drop_pg_database(url)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--contracts", type=int, default=1_000_000, help="contracts to seed (default 1,000,000)"
    )
    parser.add_argument("--repeat", type=int, default=100, help="timed requests per scenario (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per scenario first")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    with postgres_server():
        asyncio.run(run(args.contracts, args.repeat, args.warmup, args.keep))


if __name__ == "__main__":
    main()
