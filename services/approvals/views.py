"""The shapes the JSON API and the pages show: 進捗一覧, a request with its history, 承認フロー設定 (typed
response models). Their JSON is a stable interface (SPEC §7): field names, nulls and types stay."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from services.approvals import domain
from services.approvals.db import HistoryEntry, Request
from services.approvals.use_cases import FlowView, aware, request_flow
from shared.events import Party, SubmittedContract
from shared.identity import User
from shared.requests import REQUEST_TYPE_LABELS
from shared.rules import REFINANCE_RESULT_LABELS


def iso(dt: datetime | None) -> str | None:
    dt = aware(dt)
    return dt.isoformat() if dt else None


def actor_of(user: User, req: Request) -> domain.Actor:
    return domain.Actor(role=user.role, is_submitter=req.submitter.get("user_id") == user.user_id)


class ApprovalFlow(BaseModel):
    """承認フロー設定（本部用）: which approval steps a request of the dealer passes."""

    store_approval: bool
    hq_approval: bool
    hq_approver_emails: list[str]


def approval_flow(view: FlowView) -> ApprovalFlow:
    return ApprovalFlow(
        store_approval=view.store_approval,
        hq_approval=view.hq_approval,
        hq_approver_emails=list(view.hq_approver_emails),
    )


class RequestItem(BaseModel):
    """A row of 進捗一覧."""

    request_id: str
    reception_no: str = Field(description="受付番号, e.g. 2612-000123")
    type: str = Field(description="vehicle_return | refinance_application | early_payoff")
    type_label: str
    status: str
    status_label: str
    status_color: str
    version: int
    contract_no: str
    contractor_name: str
    dealer_code: str
    store_code: str
    store_name: str
    submitter: dict[str, Any] = Field(description="user_id, name, role, email")
    submitted_at: str
    requested_at: str | None = Field(description="依頼日時: when it went to TFC")
    updated_at: str


class RequestList(BaseModel):
    items: list[RequestItem]
    counts: dict[str, int] = Field(description="requests per status, over the user's whole scope")
    type_counts: dict[str, int] = Field(description="requests per type in the tab")


class HistoryItem(BaseModel):
    version: int
    at: str
    actor: dict[str, Any] | None = Field(description="who (null: TFC)")
    role: str
    role_label: str
    action: str
    action_label: str
    from_status: str | None
    from_status_label: str | None
    to_status: str
    to_status_label: str
    changes: dict[str, Any] = Field(description="{field: [old, new]}")
    note: str | None


class SendBack(BaseModel):
    """The latest 差戻し: the reason, who sent it back (null: TFC) and who that is in words."""

    reason: str | None
    sender: dict[str, Any] | None
    sender_label: str
    at: str | None


class FlowSteps(BaseModel):
    store_step: bool
    hq_step: bool


class ContractFacts(BaseModel):
    """The contract beside the request, as its submission carried it (shared.events.SubmittedContract; null:
    not known — a request submitted before submissions carried the contract)."""

    model_config = ConfigDict(extra="allow")  # what a newer intake adds is shown as it was stored

    contractor_name_kana: str | None
    contractor_postal_code: str | None
    contractor_address: str | None
    model: str | None
    registration_no: str | None
    contract_kind: str | None = Field(description="installment | lease")
    final_payment_date: str | None = Field(description="YYYY-MM-DD")
    final_payment_amount: int | None = Field(description="yen")
    recorded: bool = Field(description="false: the submission carried no contract")


class RequestDetail(RequestItem):
    """A request with everything its page shows."""

    program: str
    contract: ContractFacts
    payload: dict[str, Any] = Field(description="the type's payload (shared.requests)")
    result: str | None = Field(description="TFC's 審査結果 of a 再分割審査申込: approved | declined")
    result_label: str | None
    payoff_amount: int | None = Field(description="TFC's 早期完済金額 (yen)")
    dealer_note: str | None = Field(description="貴社連絡欄")
    tfc_message: str | None
    last_send_back: SendBack | None
    approvers: list[dict[str, Any]]
    flow: FlowSteps
    allowed_actions: list[str] = Field(description="what this user may do now")
    history: list[HistoryItem]


class RequestActed(RequestDetail):
    """The request after an action, and whom to tell next."""

    send_back_recipient: Party | None
    notice: str | None = Field(description="set when the send-back cannot be e-mailed")


def _item_fields(req: Request) -> dict[str, Any]:
    return {
        "request_id": req.request_id,
        "reception_no": req.reception_no,
        "type": req.type,
        "type_label": REQUEST_TYPE_LABELS.get(req.type, req.type),
        "status": req.status,
        "status_label": domain.STATUS_LABELS[req.status],
        "status_color": domain.status_colour(req.status),
        "version": req.version,
        "contract_no": req.contract_no,
        "contractor_name": req.contractor_name,
        "dealer_code": req.dealer_code,
        "store_code": req.store_code,
        "store_name": req.store_name,
        "submitter": req.submitter,
        "submitted_at": iso(req.submitted_at),
        "requested_at": iso(req.requested_at),
        "updated_at": iso(req.updated_at),
    }


_ITEMS = TypeAdapter(list[RequestItem])


def list_items(requests: Iterable[Request]) -> list[RequestItem]:
    """The rows of 進捗一覧 (up to 500), validated in one pass: cheaper than a model built per row."""
    return _ITEMS.validate_python([_item_fields(r) for r in requests])


def history_item(h: HistoryEntry) -> HistoryItem:
    return HistoryItem(
        version=h.version,
        at=iso(h.at),
        actor=h.actor,
        role=h.actor_role,
        role_label=domain.ACTOR_ROLE_LABELS.get(h.actor_role, h.actor_role),
        action=h.action,
        action_label=domain.ACTION_LABELS.get(h.action, h.action),
        from_status=h.from_status,
        from_status_label=domain.STATUS_LABELS.get(h.from_status or "", None),
        to_status=h.to_status,
        to_status_label=domain.STATUS_LABELS[h.to_status],
        changes=h.changes or {},
        note=h.note,
    )


def send_back_item(stored: dict[str, Any] | None) -> SendBack | None:
    if not stored:
        return None
    sender = stored.get("sender")
    if sender is None:
        sender_label = domain.ACTOR_ROLE_LABELS["tfc"]
    else:
        role = domain.ACTOR_ROLE_LABELS.get(sender.get("role", ""), sender.get("role", ""))
        sender_label = f"{sender.get('name', '')}（{role}）"
    return SendBack(
        reason=stored.get("reason"), sender=sender, sender_label=sender_label, at=stored.get("at")
    )


def contract_facts(req: Request) -> ContractFacts:
    """The facts its submission carried; for a request submitted before submissions carried them, the
    最終回年月日 an 早期完済受付's payload holds (else None: not known)."""
    facts: dict[str, Any] = {key: None for key in ("contractor_name_kana", *SubmittedContract.model_fields)}
    facts.update(req.contract_facts or {})
    facts["final_payment_date"] = facts["final_payment_date"] or (req.payload or {}).get("final_payment_date")
    facts["recorded"] = req.contract_facts is not None
    return ContractFacts(**facts)


def _detail_fields(req: Request, history: list[HistoryEntry], user: User) -> dict[str, Any]:
    return {
        **_item_fields(req),
        "program": req.program,
        "contract": contract_facts(req),
        "payload": req.payload,
        "result": req.result,
        "result_label": REFINANCE_RESULT_LABELS.get(req.result or "", None),
        "payoff_amount": req.payoff_amount,
        "dealer_note": req.dealer_note,
        "tfc_message": req.tfc_message,
        "last_send_back": send_back_item(req.last_send_back),
        "approvers": req.approvers or [],
        "flow": FlowSteps(store_step=req.store_step, hq_step=req.hq_step),
        "allowed_actions": domain.allowed_actions(req.status, actor_of(user, req), request_flow(req)),
        "history": [history_item(h) for h in history],
    }


def detail(req: Request, history: list[HistoryEntry], user: User) -> RequestDetail:
    return RequestDetail(**_detail_fields(req, history, user))


def acted(
    req: Request, history: list[HistoryEntry], user: User, recipient: Party | None, notice: str | None
) -> RequestActed:
    return RequestActed(**_detail_fields(req, history, user), send_back_recipient=recipient, notice=notice)
