"""JSON API: approval flow settings, the progress list, a request and the actions on it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, EmailStr, Field

from services.approvals import domain, queries, views
from services.approvals.deps import approvals_of
from services.approvals.use_cases import ActResult, FlowView
from shared.identity import CurrentUser, User, require_role
from shared.refusal import Refusal
from shared.requests import REQUEST_TYPE_LABELS

router = APIRouter(prefix="/api/v1", tags=["approvals"])

NO_EMAIL_NOTICE = (
    "差戻し先のメールアドレスが登録されていないため、メールは送信されません。別途ご連絡ください。"
)


class FlowBody(BaseModel):
    store_approval: bool = False
    hq_approval: bool = False
    hq_approver_emails: list[EmailStr] = Field(default_factory=list, max_length=domain.MAX_HQ_APPROVERS)


class ActionBody(BaseModel):
    version: int
    note: str | None = Field(
        default=None, max_length=2000, description="comment; for send-back the reason (required)"
    )
    dealer_note: str | None = Field(default=None, max_length=2000, description="貴社連絡欄 (hq only)")
    payload: dict[str, Any] | None = Field(default=None, description="a correction made in the same step")


class CorrectionBody(ActionBody):
    payload: dict[str, Any]


async def perform(
    request: Request, user: User, request_id: str, action: str, body: ActionBody
) -> views.RequestActed:
    result = await approvals_of(request).act(
        user,
        request_id,
        action,
        version=body.version,
        note=body.note,
        payload=body.payload,
        dealer_note=body.dealer_note,
    )
    return await respond(request, user, result)


async def respond(request: Request, user: User, result: ActResult) -> views.RequestActed:
    async with approvals_of(request).sessionmaker() as session:
        history = await queries.history_of(session, result.request.request_id)
    notice = NO_EMAIL_NOTICE if result.recipient_unreachable else None
    return views.acted(result.request, history, user, result.send_back_recipient, notice)


# --------------------------------------------------------------------------------------------
# 承認フロー設定（本部用）

HqUser = Annotated[User, Depends(require_role("hq"))]


@router.get("/approval-flow")
async def get_approval_flow(request: Request, user: HqUser) -> views.ApprovalFlow:
    return views.approval_flow(await approvals_of(request).get_flow(user.dealer_code))


@router.put("/approval-flow")
async def put_approval_flow(request: Request, user: HqUser, body: FlowBody) -> views.ApprovalFlow:
    view = FlowView(body.store_approval, body.hq_approval, [str(e) for e in body.hq_approver_emails])
    return views.approval_flow(await approvals_of(request).put_flow(user, view))


# --------------------------------------------------------------------------------------------
# 進捗一覧 and a request


@router.get("/requests")
async def list_requests(
    request: Request,
    user: CurrentUser,
    tab: Literal["current", "past"] = "current",
    type: str = "",
    status: Annotated[list[str] | None, Query()] = None,
    contractor_name: str = "",
    contract_no: str = "",
    reception_no: str = "",
    updated_from: str | None = None,
    updated_to: str | None = None,
) -> views.RequestList:
    unknown = [s for s in status or [] if s not in domain.STATUS_LABELS]
    if unknown:
        raise Refusal(
            "invalid", "invalid_status", f"ステータスの指定が正しくありません（{', '.join(unknown)}）。"
        )
    if type and type not in REQUEST_TYPE_LABELS:
        raise Refusal("invalid", "invalid_type", f"申込内容の指定が正しくありません（{type}）。")
    wanted_no = domain.normalise_reception_no(reception_no)
    if wanted_no and not domain.is_reception_no(wanted_no):
        raise Refusal("invalid", "invalid_reception_no", domain.INVALID_RECEPTION_NO)
    try:
        filters = queries.ListFilters(
            tab=tab,
            type=type,
            statuses=list(status or []),
            contractor_name=contractor_name,
            contract_no=contract_no,
            reception_no=wanted_no,
            updated_from=queries.parse_moment(updated_from, end=False),
            updated_to=queries.parse_moment(updated_to, end=True),
        )
    except ValueError as e:
        raise Refusal(
            "invalid", "invalid_updated_range", "最終更新日時はYYYY-MM-DD形式で入力してください。"
        ) from e
    if queries.reversed_range(filters.updated_from, filters.updated_to):
        raise Refusal("invalid", "reversed_updated_range", queries.MSG_REVERSED_RANGE)
    async with approvals_of(request).sessionmaker() as session:
        rows, counts = await queries.list_requests(session, user, filters)
        type_counts = await queries.count_types(session, user, tab)
    return views.RequestList(items=views.list_items(rows), counts=counts, type_counts=type_counts)


@router.get("/requests/{request_id}")
async def get_request(request: Request, user: CurrentUser, request_id: str) -> views.RequestDetail:
    async with approvals_of(request).sessionmaker() as session:
        req = await queries.get_request(session, user, request_id)
        if req is None:
            raise domain.not_found()
        history = await queries.history_of(session, request_id)
    return views.detail(req, history, user)


@router.post("/requests/{request_id}/approve")
async def approve(
    request: Request, user: CurrentUser, request_id: str, body: ActionBody
) -> views.RequestActed:
    return await perform(request, user, request_id, "approve", body)


@router.post("/requests/{request_id}/send-back")
async def send_back(
    request: Request, user: CurrentUser, request_id: str, body: ActionBody
) -> views.RequestActed:
    return await perform(request, user, request_id, "send_back", body)


@router.post("/requests/{request_id}/withdraw")
async def withdraw(
    request: Request, user: CurrentUser, request_id: str, body: ActionBody
) -> views.RequestActed:
    return await perform(request, user, request_id, "withdraw", body)


@router.put("/requests/{request_id}")
async def correct(
    request: Request, user: CurrentUser, request_id: str, body: CorrectionBody
) -> views.RequestActed:
    return await perform(request, user, request_id, "correct", body)
