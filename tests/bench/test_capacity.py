"""The capacity curve (bench/capacity.py): the knee, the steps' setting, the table and the SVG."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.ab import knee_users, ratios
from bench.capacity import Step, knee, markdown, parse_steps, write_svg


def step(users: int, p95: float, errors: int = 0) -> Step:
    return Step(
        staff_users=users,
        p50_ms=p95 / 4,
        p95_ms=p95,
        errors=errors,
        actions_per_s=users / 4,
        cpu_ms_per_action=30.0,
        cpu_ms_per_action_beyond_idle=20.0,
        cores_busy=users / 100,
        machine_cores_busy=users / 60,
        actions={"search: name": (p95 / 5, p95), "record selection (車両返却)": (p95 / 6, p95 / 2)},
        hops={"selection → search detail": (40.0, p95 / 3)},
        bare_round_trip=(8.0, 30.0),
        busiest=("search", users / 150),
    )


def test_the_knee_is_the_last_step_within_one_second_and_no_errors_before_the_first_that_is_not() -> None:
    found = knee([step(10, 200), step(25, 1000), step(50, 1001)])
    assert (
        found.last_passed and found.last_passed.staff_users,
        found.first_failed and found.first_failed.staff_users,
    ) == (
        25,
        50,
    )
    assert found.text() == "25 staff users (failed at 50)"


def test_one_error_fails_a_step_however_fast_it_was() -> None:
    found = knee([step(10, 100), step(25, 120, errors=1), step(50, 150)])
    assert found.last_passed is not None and found.last_passed.staff_users == 10
    assert found.first_failed is not None and found.first_failed.staff_users == 25


def test_no_knee_when_the_first_step_fails_and_an_open_one_when_none_does() -> None:
    assert knee([step(10, 1500)]).text() == "below 10 staff users (the first step failed)"
    assert knee_users([step(10, 1500)]) == 0.0
    assert knee([step(10, 100), step(25, 300)]).text() == "≥ 25 staff users (every step passed)"
    assert knee_users([step(10, 100), step(25, 300)]) == 25.0


def test_steps_are_increasing_positive_numbers() -> None:
    assert parse_steps("10, 25,50,100") == [10, 25, 50, 100]
    assert parse_steps("") == []
    for bad in ("25,10", "10,10", "0,10", "-5"):
        with pytest.raises(ValueError):
            parse_steps(bad)


def test_ratios_are_current_over_baseline_for_the_names_both_have() -> None:
    found = ratios({"a": 10.0, "b": 4.0, "c": 1.0}, {"a": 20.0, "b": 0.0, "d": 1.0})
    assert found.keys() == {"a", "b"}
    assert found["a"] == 0.5
    assert math.isnan(found["b"])


def test_the_table_has_a_column_per_step_and_a_row_per_action_and_hop() -> None:
    text = markdown([step(10, 200), step(25, 1200)])
    lines = text.splitlines()
    assert lines[0] == "| | 10 staff users | 25 staff users |"
    assert "| passed (p95 ≤ 1 s, 0 errors) | ✅ | ❌ |" in lines
    assert "| busiest J-PASS process (cores) | search 0.07 | search 0.17 |" in lines
    assert "| lag: selection → search detail p50 / p95 | 40 / 67 | 40 / 400 |" in lines
    assert "| record selection (車両返却) p50 / p95 | 33 / 100 | 200 / 600 |" in lines


def test_the_svg_draws_every_action_the_limit_and_the_knee_as_text(tmp_path: Path) -> None:
    path = write_svg(
        tmp_path / "capacity.svg",
        [step(10, 200), step(25, 700), step(50, 1400)],
        "the rush",
        baseline=[step(10, 400), step(25, 1300)],
        baseline_label="baseline main (cf9d363)",
    )
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for expected in (
        "the rush",
        "search: name",
        "record selection (車両返却)",
        "all user actions",
        "all user actions, baseline main (cf9d363)",
        "knee: 25 staff users (failed at 50)",
        "selection → search detail",
        "bare produce → consume",
        "staff users",
    ):
        assert expected in text, expected


def test_a_ref_with_other_linter_settings_has_the_same_dependencies_but_not_with_another_pin() -> None:
    from bench.ab import dependencies

    pyproject = (
        '[project]\ndependencies = ["fastapi==1"]\n[project.optional-dependencies]\nbench = ["locust==2"]\n'
    )
    linted = pyproject + '[tool.importlinter]\nroot_packages = ["shared"]\n'
    assert dependencies(pyproject, "a==1\nb==2\n") == dependencies(linted, "# pins\nb==2\na==1\n")
    assert dependencies(pyproject, "a==1\n") != dependencies(
        pyproject.replace("fastapi==1", "fastapi==2"), "a==1\n"
    )
    assert dependencies(pyproject, "a==1\n") != dependencies(pyproject, "a==1.1\n")
