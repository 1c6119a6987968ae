"""Reads for the pages and the API: a contract in the user's scope, its selection, memo history, the
dealer's stores and staff, the requests that lock the category, the refinance simulation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.selection import domain, labels
from services.selection.db import Contract, ContractRequest, MemoEntry, SelectionRecord
from shared import rules
from shared.identity import User
from shared.refusal import Refusal


def not_found() -> Refusal:
    return Refusal("not_found", "contract_not_found", labels.MSG_CONTRACT_NOT_FOUND)


async def get_contract(session: AsyncSession, user: User, contract_no: str) -> Contract:
    """The contract if it is in the user's scope; otherwise 404 (another dealer's or store's contract
    is indistinguishable from a missing one)."""
    contract = await session.get(Contract, contract_no)
    if contract is None or not user.sees_store(contract.dealer_code, contract.store_code):
        raise not_found()
    return contract


async def get_selection(session: AsyncSession, contract_no: str) -> SelectionRecord | None:
    return await session.get(SelectionRecord, contract_no)


async def memo_history(session: AsyncSession, contract_no: str) -> list[MemoEntry]:
    stmt = select(MemoEntry).where(MemoEntry.contract_no == contract_no).order_by(MemoEntry.seq.desc())
    return list((await session.execute(stmt)).scalars().all())


async def dealer_stores(session: AsyncSession, dealer_code: str) -> dict[str, str]:
    """The dealer's stores as seen in its contracts (TFC's and reassigned ones): code → name."""
    stores: dict[str, str] = {}
    for code_col, name_col in (
        (Contract.tfc_store_code, Contract.tfc_store_name),
        (Contract.store_code, Contract.store_name),
    ):
        stmt = select(code_col, name_col).where(Contract.dealer_code == dealer_code).distinct()
        for code, name in (await session.execute(stmt)).all():
            stores.setdefault(code, name)
    return dict(sorted(stores.items()))


async def dealer_staff(
    session: AsyncSession, dealer_code: str, directory: Iterable[domain.StaffMember]
) -> dict[str, list[domain.StaffMember]]:
    """The staff directory of the dealer per store (店舗・スタッフ変更 picks from it): the identity provider's
    users and the (store, staff) codes TFC's feed carries. Reassignments made here add nothing."""
    stmt = (
        select(Contract.tfc_store_code, Contract.tfc_staff_code)
        .where(Contract.dealer_code == dealer_code)
        .distinct()
    )
    feed = [(store, staff) for store, staff in (await session.execute(stmt)).all()]
    return domain.store_staff(dealer_code, directory, feed)


async def request_facts(session: AsyncSession, contract_no: str) -> list[rules.RequestFact]:
    stmt = select(ContractRequest).where(ContractRequest.contract_no == contract_no)
    rows = (await session.scalars(stmt)).all()
    return [rules.RequestFact(r.request_id, r.type, r.status, r.result) for r in rows]


async def category_lock(session: AsyncSession, contract_no: str) -> rules.Refusal | None:
    """Why the category cannot leave its current value now (an open or completed request), if so."""
    row = await session.get(SelectionRecord, contract_no)
    return rules.category_lock(await request_facts(session, contract_no), row.category if row else None)


async def category_freed(session: AsyncSession, contract_no: str) -> bool:
    """A declined 再分割審査申込 lets 再分割 change even inside the last month (SPEC §9.2)."""
    row = await session.get(SelectionRecord, contract_no)
    facts = await request_facts(session, contract_no)
    return rules.declined_frees_category(facts, row.category if row else None)


def contract_rate(c: Contract) -> Decimal:
    return Decimal(c.annual_rate).quantize(Decimal("0.000001"))


async def refinance_plan(
    session: AsyncSession,
    user: User,
    contract_no: str,
    months: int | None,
    annual_rate: Decimal | None,
    today: date,
) -> tuple[Contract, domain.RefinancePlan]:
    """再分割シミュレーション (changes nothing): in scope, inside the window, valid terms."""
    contract = await get_contract(session, user, contract_no)
    domain.check_refinance_window(contract.final_payment_date, today)
    months, rate = domain.validate_refinance(months, annual_rate, contract_rate(contract))
    return contract, domain.simulate_refinance(contract.final_payment_amount, months, rate)
