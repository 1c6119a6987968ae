"""CPU per user action (bench/cost.py, bench/common.py): the arithmetic the report's figures come from."""

from __future__ import annotations

import math

import pytest

from bench.common import CpuUse, postgres_database
from bench.cost import (
    by_part,
    mean_rates,
    per_action_ms,
    postgres_group,
    reconcile,
    rush_markdown,
    solo_cost_ms,
)


@pytest.mark.parametrize(
    ("title", "database"),
    [
        (
            "postgres: 15/main: postgres bench_load_search_ab12 127.0.0.1(54290) idle",
            "bench_load_search_ab12",
        ),
        ("postgres: postgres bench_load_search_ab12 127.0.0.1(54290) SELECT", "bench_load_search_ab12"),
        ("postgres: app jpass [local] idle in transaction", "jpass"),
        ("postgres: 15/main: checkpointer", None),
        ("postgres: 15/main: autovacuum worker bench_load_search_ab12", None),
        ("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", None),
        ("", None),
    ],
)
def test_a_backend_is_known_by_the_database_in_its_process_title(title: str, database: str | None) -> None:
    assert postgres_database(title) == database


def test_cpu_between_two_samples_per_group_counts_a_new_process_whole_and_an_ended_one_not() -> None:
    before = {1: ("search", 10.0), 2: ("search", 5.0), 3: ("broker", 1.0), 4: ("gone", 9.0)}
    after = {1: ("search", 10.5), 2: ("search", 5.25), 3: ("broker", 1.5), 5: ("search", 0.25)}
    assert CpuUse.used(before, after) == {"search": 1.0, "broker": 0.5}


def test_cpu_per_user_action_is_cpu_seconds_over_the_actions_in_milliseconds() -> None:
    assert per_action_ms({"search": 3.0, "broker": 0.5}, 1000) == {"search": 3.0, "broker": 0.5}
    with pytest.raises(ValueError):
        per_action_ms({"search": 3.0}, 0)


def test_parts_merge_returns_instances_and_the_services_databases_and_leave_out_what_is_not_jpass() -> None:
    parts = by_part(
        {
            "search": 4.0,
            "returns1": 1.0,
            "returns2": 2.0,
            postgres_group("search"): 0.5,
            postgres_group("approvals"): 0.25,
            "PostgreSQL (the benchmark's probes and baselines)": 7.0,
            "PostgreSQL (server processes, other databases)": 7.0,
            "bench process (probes, baselines)": 7.0,
            "locust, py-spy": 7.0,
            "devtools": 7.0,
            "other": 7.0,
        }
    )
    assert parts["search"] == 4.0
    assert parts["returns"] == 3.0
    assert parts["PostgreSQL"] == 0.75
    assert parts["total"] == 7.75


def test_an_action_alone_costs_what_the_batch_used_beyond_idle_per_action() -> None:
    # 20 actions in 2 s: search used 0.5 s of CPU and idles at 0.05 s/s; the broker only idled
    cost = solo_cost_ms({"search": 0.5, "broker": 0.1}, {"search": 0.05, "broker": 0.06}, 2.0, 20)
    assert cost["search"] == pytest.approx(20.0)  # (0.5 - 0.1) / 20 s
    assert cost["broker"] == pytest.approx(-1.0)  # noise below idle stays (the total is not biased)
    with pytest.raises(ValueError):
        solo_cost_ms({}, {}, 1.0, 0)


def test_the_solo_costs_times_the_rush_counts_plus_idle_predict_the_rush() -> None:
    found = reconcile(
        solo_total_ms={"record selection + open detail (?after=)": 30.0, "open detail": 10.0},
        counts_as={
            "record selection + open detail (?after=)": "record selection",
            "open detail": "open detail",
        },
        rush_counts={"record selection": 100, "open detail after a write (?after=)": 100, "open detail": 200},
        measured_s=12.0,
        idle_per_s=0.1,
        duration_s=40.0,
    )
    assert found.predicted_s == pytest.approx(3.0 + 2.0 + 4.0)
    assert found.ratio == pytest.approx(12.0 / 9.0)
    # the detail after a write is inside the selection's unit: counted once, through "record selection"
    assert found.uncounted == ("open detail after a write (?after=)",)
    assert math.isnan(reconcile({}, {}, {}, 1.0, 0.0, 1.0).ratio)


def test_the_rush_table_puts_jpass_first_and_marks_what_is_not_jpass() -> None:
    text = rush_markdown({"search": 2.0, "gateway": 1.0, "locust, py-spy": 4.0}, 10.0, 500)
    lines = text.splitlines()
    assert "| **0.30** | **6.0** |" in lines[2]  # 3 s over 10 s; 3,000 ms over 500 actions
    assert lines[3] == "| search | 0.20 | 4.0 |"
    assert lines[-1] == "| *locust, py-spy* (not J-PASS) | 0.40 | 8.0 |"


def test_idle_is_the_mean_of_the_windows_before_and_after_a_batch() -> None:
    assert mean_rates({"search": 0.04, "broker": 0.2}, {"search": 0.02, "mailer": 0.1}) == {
        "broker": 0.1,
        "mailer": 0.05,
        "search": pytest.approx(0.03),
    }
