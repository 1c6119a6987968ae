"""The benchmarks copy contracts straight into the services' tables (bench/load_data.py,
bench/search_bench.py): a column a service adds must get a value there too, or `make bench` stops at its
first COPY (it did, twice)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bench import load_data, search_bench
from services.returns.db import Contract as ReturnsContract
from services.search.db import Contract as SearchContract
from services.selection.db import Contract as SelectionContract

MODELS = {"search": SearchContract, "selection": SelectionContract, "returns": ReturnsContract}


@pytest.mark.parametrize("service", sorted(MODELS))
def test_the_load_rows_have_exactly_the_columns_of_the_service_table(service: str) -> None:
    snapshot = next(load_data.snapshots(1, date(2026, 12, 1)))
    row = load_data.ROW_BUILDERS[service](snapshot, datetime.now(UTC))
    assert set(row) == {c.name for c in MODELS[service].__table__.columns}


def test_the_search_benchmark_rows_have_every_column_of_search_contracts() -> None:
    row = next(search_bench.contract_rows(1, date(2026, 12, 1)))
    assert {c.name for c in SearchContract.__table__.columns} <= set(row)
