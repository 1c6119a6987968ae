"""The dealer-scoped bigram indexes behind partial name/plate/model search, on real PostgreSQL.

- the SQL function `jpass_bigrams` yields exactly rules.bigrams (each prefixed with the dealer), so
  the index condition can never drop a row the LIKE would keep;
- a partial search returns the same rows with the index condition as without it (every needle
  length, other dealers' rows present);
- PostgreSQL answers a 2-character name search of a whole dealer from the bigram index; a store's
  search asks for the store's keys.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date

import pytest
import pytest_asyncio
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from services.search import queries, rules
from services.search.db import Base, Contract
from shared.db import make_engine
from shared.identity import User
from tests.support import create_pg_database, drop_pg_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

TODAY = date(2026, 5, 20)
TEXTS = [
    "",
    "山",
    "山田",
    "山田太郎|ヤマダタロウ",
    "ああああ",
    "𠮷田三郎|ヨシダサブロウ",
    "品川330た11",
    "100%_\\x",
    "a|b",
    "🚗🚕",
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def engine() -> AsyncIterator[AsyncEngine]:
    url = await create_pg_database("t_search_bigram")
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            # Two dealers, 20,000 contracts each; 山田 in 1 of 1,000 names, the rest share no bigram with it.
            for dealer in ("DA", "DB"):
                await conn.execute(
                    text(
                        """
                        INSERT INTO contracts (contract_no, version, dealer_code, dealer_name, store_code,
                          store_name, staff_code, contractor_name, contractor_name_kana,
                          contractor_postal_code, contractor_address, registration_no, brand, model,
                          vehicle_use,
                          first_registration_date, program, contract_kind, final_payment_date,
                          final_payment_amount, annual_rate, receivable_purchased, status, search_name,
                          search_plate, search_model, seq, selection_late, transferred_in, handling_status,
                          completed)
                        SELECT :dealer || '-' || n, 1, :dealer, 'x', 'S' || (n % 20), 'x', 'x',
                          CASE WHEN n % 1000 = 0 THEN '山田 ' || n ELSE '佐藤 ' || n END, 'x', '', '',
                          '品川 ' || n, 'toyota', CASE WHEN n % 3 = 0 THEN 'アクア' ELSE 'ノア' END,
                          'passenger', '2022-01-01', 'x', 'installment', DATE '2026-06-01' + (n % 400),
                          1000000, 0.049, false, 'active',
                          CASE WHEN n % 1000 = 0 THEN '山田' || n ELSE '佐藤' || n END || '|x',
                          '品川' || n, CASE WHEN n % 3 = 0 THEN 'アクア' ELSE 'ノア' END, 0, false, false,
                          'unselected', false
                        FROM generate_series(1, 20000) AS n
                        """
                    ),
                    {"dealer": dealer},
                )
            await conn.execute(text("ANALYZE contracts"))
        yield engine
    finally:
        await engine.dispose()
        await drop_pg_database(url)


async def test_sql_function_is_the_rule(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for value in TEXTS:
            got = await conn.execute(text("SELECT jpass_bigrams('D1', 'S9', :v)"), {"v": value})
            pieces = rules.bigrams(value)
            expected = [f"D1:{b}" for b in pieces] + [f"D1/S9:{b}" for b in pieces]
            assert sorted(got.scalar_one()) == sorted(expected), value


def hq(dealer: str) -> User:
    return User(user_id="u", name="本部", role="hq", dealer_code=dealer, dealer_name="x")


def staff(dealer: str) -> User:
    return User(
        user_id="s",
        name="担当",
        role="staff",
        dealer_code=dealer,
        dealer_name="x",
        store_code="S0",
        store_name="x",
    )


@pytest.mark.parametrize(
    "params",
    [
        {"mode": "individual", "contractor_name": "山田"},
        {"mode": "individual", "contractor_name": "山"},
        {"mode": "individual", "contractor_name": "田1"},
        {"mode": "individual", "contractor_name": "佐藤29"},
        {"mode": "individual", "contractor_name": "山田2000"},
        {"mode": "individual", "registration_no": "品川12"},
        {"mode": "individual", "registration_no": "7"},
        {"mode": "general", "model": "アク"},
        {"mode": "general", "model": "ア"},
    ],
)
async def test_index_condition_keeps_every_matching_row(engine: AsyncEngine, params: dict[str, str]) -> None:
    criteria = rules.validate_search(params).criteria
    assert criteria is not None
    needle = criteria.contractor_name or criteria.registration_no or criteria.model
    column = {"contractor_name": "search_name", "registration_no": "search_plate", "model": "search_model"}
    field = next(k for k in column if params.get(k))
    async with engine.connect() as conn:
        for user in (hq("DA"), staff("DA")):
            _, rows = queries.search_statements(user, criteria, TODAY)
            got = [r[0] for r in (await conn.execute(rows.with_only_columns(Contract.contract_no))).all()]
            plain = await conn.execute(
                select(Contract.contract_no)
                .where(*queries.scope_filter(user), text(queries.LISTED_SQL))
                .where(getattr(Contract, column[field]).contains(needle, autoescape=True))
                .order_by(Contract.final_payment_date, Contract.contract_no)
            )
            expected = [r[0] for r in plain.all()]
            assert got == expected
            assert expected, "the needle matches something"
            assert all(no.startswith("DA-") for no in got)


async def test_two_character_name_is_answered_by_the_bigram_index(engine: AsyncEngine) -> None:
    criteria = rules.validate_search({"mode": "individual", "contractor_name": "山田"}).criteria
    assert criteria is not None
    count, rows = queries.search_statements(hq("DA"), criteria, TODAY)
    dialect = postgresql.dialect()
    async with engine.connect() as conn:
        for stmt in (count, rows.limit(100)):
            sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            plan = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))).scalar_one()
            plan_text = json.dumps(plan, ensure_ascii=False)
            assert "ix_contracts_bigram_search_name" in plan_text, plan_text
            assert "'DA:山田'" in sql and "DB:" not in sql
    count, _ = queries.search_statements(staff("DA"), criteria, TODAY)
    sql = str(count.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    assert "'DA/S0:山田'" in sql and "'DA:山田'" not in sql and "LIKE" in sql


async def test_literal_and_bound_forms_agree(engine: AsyncEngine) -> None:
    """The API binds the bigrams as parameters; the benchmark renders them as literals."""
    criteria = rules.validate_search({"mode": "individual", "contractor_name": "山田"}).criteria
    assert criteria is not None
    count, _ = queries.search_statements(hq("DB"), criteria, TODAY)
    sql = str(count.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    async with engine.connect() as conn:
        bound = (await conn.execute(count)).scalar_one()
        literal = (await conn.execute(text(sql))).scalar_one()
    assert bound == literal == 20
