"""JSON API of the selection service (SPEC §7). Refusals: {"detail": <Japanese>, "code": ..., "field"?}."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.selection import domain, use_cases, views
from services.selection.confirmation_pdf import render_confirmation
from services.selection.deps import HandlersDep, Today
from services.selection.use_cases import WriteResult
from shared.identity import CurrentUser

router = APIRouter(prefix="/api/v1/contracts", tags=["selection"])


class SelectionBody(BaseModel):
    category: Literal["early_payoff", "cash", "vehicle_return", "refinance"] | None = Field(
        None, description="選択区分: 早期完済 / 現金決済（口座振替） / 車両返却 / 再分割"
    )
    replacement: Literal["yes", "no"] | None = Field(None, description="自社代替 有 / 無")
    replacement_model: str | None = Field(None, description="代替車両 (required when replacement is yes)")
    confirmation_received_on: date | None = Field(
        None, description="お支払方法確認書の受領日 (required, not in the future)"
    )


class MemoBody(BaseModel):
    text: str = Field(description=f"自由記入欄 (at most {domain.MEMO_MAX_CHARS} characters)")


class RefinanceBody(BaseModel):
    months: int = Field(description=f"{domain.REFINANCE_MONTHS_MIN}–{domain.REFINANCE_MONTHS_MAX}")
    annual_rate: Decimal | None = Field(None, description="e.g. 0.049; default the contract's rate")


class AssignmentBody(BaseModel):
    store_code: str
    staff_code: str


def written(result: WriteResult) -> dict[str, Any]:
    return {
        "contract_no": result.contract_no,
        "changed": result.changed,
        "seq": result.seq,
        "consistency_token": result.token,
        **result.data,
    }


@router.get("/{contract_no}/selection")
async def get_selection(
    request: Request, user: CurrentUser, today: Today, contract_no: str
) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await use_cases.get_contract(session, user, contract_no)
        row = await use_cases.get_selection(session, contract_no)
        lock = await use_cases.category_lock(session, contract_no)
    return {"contract": views.contract_summary(contract, today, lock), "selection": views.selection_view(row)}


@router.put("/{contract_no}/selection")
async def put_selection(
    user: CurrentUser, today: Today, commands: HandlersDep, contract_no: str, body: SelectionBody
) -> dict[str, Any]:
    entry = domain.SelectionInput(
        body.category, body.replacement, body.replacement_model, body.confirmation_received_on
    )
    return written(await commands.record_selection(user, contract_no, entry, today))


@router.get("/{contract_no}/memo")
async def get_memo(request: Request, user: CurrentUser, contract_no: str) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await use_cases.get_contract(session, user, contract_no)
        history = await use_cases.memo_history(session, contract_no)
    return views.memo_view(contract, history)


@router.put("/{contract_no}/memo")
async def put_memo(
    user: CurrentUser, commands: HandlersDep, contract_no: str, body: MemoBody
) -> dict[str, Any]:
    return written(await commands.update_memo(user, contract_no, body.text))


@router.get(
    "/{contract_no}/confirmation.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "お支払方法確認書 (A4)"}},
)
async def confirmation_pdf(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await use_cases.get_contract(session, user, contract_no)
    pdf = render_confirmation(views.confirmation_form(contract, today))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="confirmation-{contract_no}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/{contract_no}/refinance-simulation")
async def refinance_simulation(
    request: Request, user: CurrentUser, today: Today, contract_no: str, body: RefinanceBody
) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        _, plan = await use_cases.refinance_plan(
            session, user, contract_no, body.months, body.annual_rate, today
        )
    return views.plan_view(contract_no, plan)


@router.get("/{contract_no}/assignment")
async def get_assignment(
    request: Request, user: CurrentUser, commands: HandlersDep, contract_no: str
) -> dict[str, Any]:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await use_cases.get_contract(session, user, contract_no)
        stores = await use_cases.dealer_stores(session, contract.dealer_code)
        staff = views.staff_view(
            await use_cases.dealer_staff(session, contract.dealer_code, commands.staff_directory)
        )
    return {
        "contract_no": contract_no,
        "store_code": contract.store_code,
        "store_name": contract.store_name,
        "staff_code": contract.staff_code,
        "seq": contract.seq,
        "stores": [{"store_code": code, "store_name": name} for code, name in stores.items()],
        "staff": staff,  # per store: staff_code, name, label ("010101 佐藤 健一")
        "staff_codes": {store: [s["staff_code"] for s in people] for store, people in staff.items()},
    }


@router.put("/{contract_no}/assignment")
async def put_assignment(
    user: CurrentUser, commands: HandlersDep, contract_no: str, body: AssignmentBody
) -> dict[str, Any]:
    return written(await commands.change_assignment(user, contract_no, body.store_code, body.staff_code))
