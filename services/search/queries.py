"""Read-only queries of the customer list (thin: the rules live in rules.py)."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.db import Contract
from shared.identity import User

MAX_ROWS = 100


def scoped(user: User) -> Select[tuple[Contract]]:
    """Contracts the user may see: hq its dealer, staff and store managers their store."""
    stmt = select(Contract).where(Contract.dealer_code == user.dealer_code)
    if user.role != "hq":
        stmt = stmt.where(Contract.store_code == user.store_code)
    return stmt


async def list_contracts(
    session: AsyncSession, user: User, sort: str = "final_date"
) -> tuple[int, list[Contract]]:
    stmt = scoped(user)
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    order = (
        (Contract.staff_code, Contract.final_payment_date, Contract.contract_no)
        if sort == "staff_code"
        else (Contract.final_payment_date, Contract.contract_no)
    )
    rows = (await session.execute(stmt.order_by(*order).limit(MAX_ROWS))).scalars().all()
    return total, list(rows)


async def get_contract(session: AsyncSession, user: User, contract_no: str) -> Contract | None:
    return (
        await session.execute(scoped(user).where(Contract.contract_no == contract_no))
    ).scalar_one_or_none()
