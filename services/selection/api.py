"""JSON API of the selection service (SPEC §7). Refusals: {"detail": <Japanese>, "code": ..., "field"?}."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.selection import domain, queries, views
from services.selection.confirmation_pdf import render_confirmation
from services.selection.deps import HandlersDep, Today
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


@router.get("/{contract_no}/selection")
async def get_selection(
    request: Request, user: CurrentUser, today: Today, contract_no: str
) -> views.ContractSelection:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await queries.get_contract(session, user, contract_no)
        row = await queries.get_selection(session, contract_no)
        lock = await queries.category_lock(session, contract_no)
    return views.ContractSelection(
        contract=views.contract_summary(contract, today, lock), selection=views.selection_view(row)
    )


@router.put("/{contract_no}/selection")
async def put_selection(
    user: CurrentUser, today: Today, commands: HandlersDep, contract_no: str, body: SelectionBody
) -> views.SelectionWritten:
    entry = domain.SelectionInput(
        body.category, body.replacement, body.replacement_model, body.confirmation_received_on
    )
    return views.selection_written(await commands.record_selection(user, contract_no, entry, today))


@router.get("/{contract_no}/memo")
async def get_memo(request: Request, user: CurrentUser, contract_no: str) -> views.MemoView:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await queries.get_contract(session, user, contract_no)
        history = await queries.memo_history(session, contract_no)
    return views.memo_view(contract, history)


@router.put("/{contract_no}/memo")
async def put_memo(
    user: CurrentUser, commands: HandlersDep, contract_no: str, body: MemoBody
) -> views.MemoWritten:
    return views.memo_written(await commands.update_memo(user, contract_no, body.text))


@router.get(
    "/{contract_no}/confirmation.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "お支払方法確認書 (A4)"}},
)
async def confirmation_pdf(request: Request, user: CurrentUser, today: Today, contract_no: str) -> Response:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await queries.get_contract(session, user, contract_no)
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
) -> views.PlanView:
    async with request.app.state.runtime.sessionmaker() as session:
        _, plan = await queries.refinance_plan(
            session, user, contract_no, body.months, body.annual_rate, today
        )
    return views.plan_view(contract_no, plan)


@router.get("/{contract_no}/assignment")
async def get_assignment(
    request: Request, user: CurrentUser, commands: HandlersDep, contract_no: str
) -> views.AssignmentView:
    async with request.app.state.runtime.sessionmaker() as session:
        contract = await queries.get_contract(session, user, contract_no)
        stores = await queries.dealer_stores(session, contract.dealer_code)
        staff = await queries.dealer_staff(session, contract.dealer_code, commands.staff_directory)
    return views.assignment_view(contract, stores, staff)


@router.put("/{contract_no}/assignment")
async def put_assignment(
    user: CurrentUser, commands: HandlersDep, contract_no: str, body: AssignmentBody
) -> views.AssignmentWritten:
    result = await commands.change_assignment(user, contract_no, body.store_code, body.staff_code)
    return views.assignment_written(result)
