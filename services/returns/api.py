"""JSON API of vehicle-return intake (SPEC §7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.returns import queries, use_cases, views
from services.returns.domain import ReturnForm, check_eligibility
from shared.identity import CurrentUser

router = APIRouter(prefix="/api/v1/returns", tags=["returns"])


class ReturnBody(BaseModel):
    """車両返却 結果入力. Fields are checked by the intake rules (each refusal has its own code)."""

    contract_no: str = Field(min_length=1, max_length=32)
    contact1: str | None = Field(default=None, description="連絡先1 (phone, required)")
    contact2: str | None = Field(default=None, description="連絡先2 (phone)")
    contact3_email: str | None = Field(default=None, description="連絡先3 (e-mail; required for hq)")
    notify_on_completion: bool = True
    result: str = Field(default="returned", description="returned (返却済み) | not_returned (未返却確定)")
    returned_on: str | None = Field(default=None, description="車両返却受領日 YYYY-MM-DD, not after today")
    not_returned_reason: str | None = Field(
        default=None, description="customer_purchase | total_loss | theft | unknown_location | other"
    )
    not_returned_reason_text: str | None = Field(default=None, description="required for other")

    def form(self) -> ReturnForm:
        return ReturnForm(**self.model_dump(exclude={"contract_no"}))


@router.post("", status_code=202)
async def submit(
    request: Request,
    user: CurrentUser,
    body: ReturnBody,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> views.Accepted:
    """Submit a result → 202 `{request_id}`; the same `Idempotency-Key` again returns the same id."""
    request_id, replayed = await use_cases.submit_return(
        request.app.state.runtime,
        user,
        body.contract_no,
        body.form(),
        now=request.app.state.clock(),
        idempotency_key=idempotency_key,
    )
    return views.Accepted(request_id=request_id, replayed=replayed)


@router.get("/eligibility")
async def eligibility(request: Request, user: CurrentUser, contract_no: str) -> views.Eligibility:
    """May the user submit a return for the contract now? `{eligible, code, detail, contract}`."""
    async with request.app.state.runtime.sessionmaker() as session:
        view = await queries.load_contract(session, contract_no)
    refusal = check_eligibility(view.facts if view else None, user)
    if refusal is not None and refusal.kind == "not_found":
        raise refusal
    return views.eligibility(contract_no, view, refusal)


@router.get("/{request_id}")
async def submitted(request: Request, user: CurrentUser, request_id: str) -> views.Submitted:
    """What was submitted, with the latest status approvals reported (None until it has)."""
    async with request.app.state.runtime.sessionmaker() as session:
        s = await queries.get_submission(session, user, request_id)
        status = await queries.request_status(session, request_id)
    return views.submitted(s, status)


@router.get(
    "/{request_id}/print.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "入力内容印刷 (A4)"}},
)
async def print_pdf(request: Request, user: CurrentUser, request_id: str) -> Response:
    """入力内容印刷: the input as a PDF (Japanese font embedded)."""
    async with request.app.state.runtime.sessionmaker() as session:
        s = await queries.get_submission(session, user, request_id)
        status = await queries.request_status(session, request_id)
    return views.pdf_response(s, status.reception_no if status else None)
