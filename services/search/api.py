"""JSON API of the customer list."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request

from services.search.db import Contract
from services.search.queries import MAX_ROWS, get_contract, list_contracts
from shared.identity import CurrentUser
from shared.web import ApiError

router = APIRouter(prefix="/api/v1", tags=["contracts"])


def row(c: Contract) -> dict[str, Any]:
    return {
        "contract_no": c.contract_no,
        "final_payment_date": c.final_payment_date.isoformat(),
        "contract_kind": c.contract_kind,
        "contractor_name": c.contractor_name,
        "model": c.model,
        "registration_no": c.registration_no,
        "staff_code": c.staff_code,
        "store_code": c.store_code,
        "store_name": c.store_name,
    }


@router.get("/contracts")
async def search_contracts(
    request: Request, user: CurrentUser, sort: Literal["final_date", "staff_code"] = "final_date"
) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        total, rows = await list_contracts(session, user, sort)
    return {"total": total, "truncated": total > MAX_ROWS, "items": [row(c) for c in rows]}


@router.get("/contracts/{contract_no}")
async def contract_detail(request: Request, user: CurrentUser, contract_no: str) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        c = await get_contract(session, user, contract_no)
    if c is None:
        raise ApiError(404, "指定された契約は見つかりません。", "contract_not_found")
    return row(c)
