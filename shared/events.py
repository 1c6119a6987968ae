"""Event envelope and the event models every service agrees on.

Internal topics carry a CloudEvents-style JSON envelope (structured mode): id, source, type, time,
subject, data. TFC's topics carry plain JSON of the shapes in SPEC §1/§7 (TFC is an external system);
their models are here too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel, Generic[T]):
    """CloudEvents-style envelope (specversion 1.0, structured JSON mode)."""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    time: datetime = Field(default_factory=utcnow)
    subject: str  # contract_no or request_id: also the Kafka key
    datacontenttype: Literal["application/json"] = "application/json"
    data: T


class RawEnvelope(Envelope[dict[str, Any]]):
    """An envelope whose data is not parsed yet (routing on `type` first)."""


# --------------------------------------------------------------------------------------------
# TFC topics (stable interface, SPEC §1 and §7)

Program = Literal[
    "gamma_finance",
    "max_value_a",
    "max_value_r",
    "deferred_dealer",
    "deferred_tfc",
    "smart_value_a",
    "smart_value_r",
    "smart_twice_a",
    "smart_twice_r",
    "smart_value_open",
    "smart_twice_open",
]

PROGRAM_LABELS: dict[str, str] = {
    "gamma_finance": "ガンマファイナンス",
    "max_value_a": "マックスバリュープランA（エース）",
    "max_value_r": "マックスバリュープランR（アール）",
    "deferred_dealer": "残額据置き払い（販売店保証）",
    "deferred_tfc": "残額据置き払い（TFC保証）",
    "smart_value_a": "スマートバリュープランA（エース）",
    "smart_value_r": "スマートバリュープランR（アール）",
    "smart_twice_a": "スマートバリュートゥワイスA（エース）",
    "smart_twice_r": "スマートバリュートゥワイスR（アール）",
    "smart_value_open": "スマートバリュープラン（オープンエンド）",
    "smart_twice_open": "スマートバリュートゥワイス（オープンエンド）",
}
OPEN_END_PROGRAMS = frozenset({"smart_value_open", "smart_twice_open"})
EXTRA_TFC_PROCEDURE_PROGRAMS = frozenset({"max_value_a", "deferred_tfc", "smart_value_a", "smart_twice_a"})


class ContractSnapshot(BaseModel):
    """A message of `tfc.contracts.v1` (key contract_no; newest `version` wins)."""

    model_config = ConfigDict(extra="ignore")

    contract_no: str = Field(min_length=1, max_length=32)
    version: int = Field(ge=0)
    # Length limits: what every service's columns hold; a longer value is dead-lettered (issue 18).
    dealer_code: str = Field(max_length=16)
    dealer_name: str = Field(max_length=100)
    store_code: str = Field(max_length=16)
    store_name: str = Field(max_length=100)
    staff_code: str = Field(max_length=32)
    contractor_name: str = Field(max_length=200)
    contractor_name_kana: str = Field(max_length=200)
    contractor_postal_code: str = Field("", max_length=16)
    contractor_address: str = Field("", max_length=500)
    registration_no: str = Field("", max_length=64)
    brand: Literal["toyota", "lexus"]
    model: str = Field(max_length=100)
    vehicle_use: Literal["passenger", "commercial"] = "passenger"
    first_registration_date: str = Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    program: Program
    contract_kind: Literal["installment", "lease"] = "installment"
    final_payment_date: date
    final_payment_amount: int = Field(ge=0)
    annual_rate: float = Field(ge=0, le=1)
    tfc_handling: str | None = Field(None, max_length=64)
    receivable_purchased: bool = False
    status: Literal["active", "settled", "returned", "refinanced", "cancelled"] = "active"


def foreign_dealer(existing_dealer_code: str | None, snapshot: ContractSnapshot) -> str | None:
    """Why a snapshot must not be applied, or None. One rule for every service that keeps a contract copy:
    a known contract never moves to another dealer — and so to a store of another dealer — on the feed's
    word (a dealer's customers would show to another company); it is dead-lettered for a person to look
    at (docs/decisions.md, issue 18)."""
    if existing_dealer_code is not None and existing_dealer_code != snapshot.dealer_code:
        return (
            f"contract {snapshot.contract_no} belongs to dealer {existing_dealer_code}: "
            f"a snapshot cannot move it to dealer {snapshot.dealer_code} (store {snapshot.store_code})"
        )
    return None


TFC_MESSAGE_MAX_CHARS = 2000  # as a dealer's notes; longer is dead-lettered
RequestUpdateAction = Literal["accept", "hold", "message", "resume", "complete", "send_back"]


RefinanceResult = Literal["approved", "declined"]


class RequestUpdate(BaseModel):
    """A message of `tfc.request-updates.v1` (key request_id)."""

    model_config = ConfigDict(extra="ignore")

    request_id: str = Field(max_length=64)
    action: RequestUpdateAction
    message: str | None = Field(None, max_length=TFC_MESSAGE_MAX_CHARS)
    at: datetime
    update_id: str | None = Field(None, max_length=128)  # optional; duplicates are recognised by it
    # SPEC §9.2 (optional, additive): TFC's answer to a 再分割審査申込 on `complete` ...
    result: RefinanceResult | None = Field(
        default=None, description="refinance_application only, on complete: approved | declined (審査結果)"
    )
    # ... and the early-payoff amount of an 早期完済受付 (on `message`, or with `complete`)
    payoff_amount: int | None = Field(
        default=None, ge=0, le=10**12, description="early_payoff only: 早期完済金額 in yen"
    )


class Party(BaseModel):
    """A person acting on or receiving a request."""

    user_id: str
    name: str
    role: Literal["staff", "store_manager", "hq"]
    email: EmailStr | None = None


class JpassRequest(BaseModel):
    """A message of `jpass.requests.v1` (out, key request_id): a request for TFC."""

    event: Literal["requested", "corrected", "withdrawn"]
    request_id: str
    type: str
    version: int
    contract_no: str
    dealer_code: str
    store_code: str
    submitter: Party
    payload: dict[str, Any]
    requested_at: datetime | None
    at: datetime
    reception_no: str | None = None  # 受付番号 (SPEC §9.1), e.g. 2612-000123; None from older producers


# --------------------------------------------------------------------------------------------
# Internal events (enveloped). `type` values:

SELECTION_RECORDED = "jpass.selection.recorded"
MEMO_UPDATED = "jpass.memo.updated"
ASSIGNMENT_CHANGED = "jpass.assignment.changed"
RETURN_SUBMITTED = "jpass.return.submitted"
REFINANCE_APPLICATION_SUBMITTED = "jpass.refinance_application.submitted"
EARLY_PAYOFF_SUBMITTED = "jpass.early_payoff.submitted"
REQUEST_STATUS_CHANGED = "jpass.request.status_changed"
REQUEST_TIMED_OUT = "jpass.request.timed_out"

SelectionCategory = Literal["early_payoff", "cash", "vehicle_return", "refinance"]


class SelectionRecorded(BaseModel):
    contract_no: str
    dealer_code: str
    store_code: str
    seq: int  # per-contract version of the selection record: newer wins in read models
    category: SelectionCategory
    replacement: Literal["yes", "no"]
    replacement_model: str | None = None
    confirmation_received_on: date
    late: bool
    recorded_by: Party
    recorded_at: datetime


class MemoUpdated(BaseModel):
    contract_no: str
    dealer_code: str
    seq: int
    text: str
    author: Party
    updated_at: datetime


class AssignmentChanged(BaseModel):
    contract_no: str
    dealer_code: str
    seq: int
    from_store_code: str
    store_code: str
    store_name: str
    staff_code: str
    changed_by: Party
    changed_at: datetime
    # The TFC snapshot version the reassignment was made on (shared.rules ownership); None from older
    # producers: the consumer takes the version it holds when it applies the event.
    tfc_version: int | None = None


class SubmittedContract(BaseModel):
    """The contract as the intake held it at submission: what an approver checks beside the request (SPEC §4
    契約者情報; the manual: 「入力内容が正しいか確認し」). Limits as ContractSnapshot's."""

    model_config = ConfigDict(extra="ignore")

    contractor_postal_code: str = Field("", max_length=16)
    contractor_address: str = Field("", max_length=500)
    model: str = Field("", max_length=100, description="車種")
    registration_no: str = Field("", max_length=64, description="登録番号")
    contract_kind: Literal["installment", "lease"] = "installment"
    final_payment_date: date = Field(description="最終回年月日 (a lease: リース満了年月日)")
    final_payment_amount: int | None = Field(None, ge=0, le=10**12, description="最終回金額 (yen)")


class RequestSubmitted(BaseModel):
    """An intake submitted a request (topic jpass.returns.v1, the submissions topic): approvals creates it.
    The event type says the request type; `payload` is validated by that type's schema
    (shared.requests.REQUEST_TYPES)."""

    request_id: str
    contract_no: str
    dealer_code: str
    store_code: str
    contractor_name: str
    program: str
    submitter: Party
    payload: dict[str, Any]
    submitted_at: datetime
    store_name: str = ""  # the contract's store (after any reassignment); "" from older producers
    contractor_name_kana: str = ""  # a search by reading finds it (はしもと: 橋本); "" from older producers
    # the contract's facts for the approver's review (additive); None from older producers
    contract: SubmittedContract | None = None


class ReturnSubmitted(RequestSubmitted):
    """車両返却 submitted (returns); payload: shared.requests.VehicleReturnPayload."""


# Submission event type → request type (one table for every consumer of the submissions topic).
SUBMISSION_EVENT_TYPES: dict[str, str] = {
    RETURN_SUBMITTED: "vehicle_return",
    REFINANCE_APPLICATION_SUBMITTED: "refinance_application",
    EARLY_PAYOFF_SUBMITTED: "early_payoff",
}


class SendBack(BaseModel):
    """One send-back (差戻し): its reason and who sent it (SPEC §9.1)."""

    reason: str | None = None  # the approver's note (required); TFC's message (TFC may send none)
    sender: Party | None = None  # None when TFC sent it back
    at: datetime


class RequestStatusChanged(BaseModel):
    request_id: str
    type: str
    contract_no: str
    contractor_name: str
    dealer_code: str
    store_code: str
    version: int
    action: str
    old_status: str | None
    new_status: str
    new_status_label: str
    actor: Party | None  # None when TFC acted
    submitter: Party
    approvers: list[Party] = []  # everyone who approved in the current round
    contact_email: EmailStr | None = None  # 連絡先3
    notify_on_completion: bool = False
    hq_approver_emails: list[EmailStr] = []
    send_back_recipient: Party | None = None
    dealer_note: str | None = None
    tfc_message: str | None = None
    at: datetime
    store_name: str = ""  # "" when unknown (requests stored before it was recorded)
    reception_no: str | None = None  # 受付番号 (SPEC §9.1); None from older producers
    send_back: SendBack | None = None  # on a send-back: the reason and sender of this very send-back
    # SPEC §9.2 (optional, additive): the request's payload at this version (the 再分割 plan, the desired
    # payoff date ...), TFC's 審査結果 of a 再分割審査申込 and the 早期完済金額 TFC answered.
    payload: dict[str, Any] | None = None
    result: RefinanceResult | None = None
    payoff_amount: int | None = None


class RequestTimedOut(BaseModel):
    request_id: str
    type: str
    kind: Literal["submitter_status_check", "hq_approval_status_check"]
    period_no: int  # 1 for the first period, 2 for the next...: part of the e-mail idempotency key
    contract_no: str
    contractor_name: str
    dealer_code: str
    store_code: str
    status: str
    status_label: str
    version: int
    submitter: Party
    contact_email: EmailStr | None = None
    hq_approver_emails: list[EmailStr] = []
    at: datetime
    reception_no: str | None = None  # 受付番号 (SPEC §9.1); None from older producers
