"""The shapes the JSON API and the pages show (typed response models; no rules here: they live in
domain.py). Their JSON is a stable interface (SPEC §7): field names, nulls and types stay as they are."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from services.selection import domain, labels
from services.selection.confirmation_pdf import ConfirmationForm
from services.selection.db import Contract, MemoEntry, SelectionRecord
from shared.refusal import Refusal

if TYPE_CHECKING:  # use_cases builds its results' data with these views
    from services.selection.use_cases import WriteResult


class CategoryLock(BaseModel):
    code: str
    message: str


class ContractSummary(BaseModel):
    """The contract as the screens show it, with what may change now."""

    contract_no: str
    contractor_name: str
    contractor_name_kana: str
    model: str
    registration_no: str
    contract_kind: str
    final_label: str
    final_payment_date: str = Field(description="YYYY-MM-DD")
    final_payment_amount: int = Field(description="yen")
    annual_rate: float
    dealer_code: str
    store_code: str
    store_name: str
    staff_code: str
    result_input_deadline: str
    category_change_deadline: str
    refinance_opens_on: str
    late_now: bool
    can_change_category: bool
    refinance_available: bool
    seq: int
    category_lock: CategoryLock | None = Field(description="why the category cannot change now (SPEC §9.1)")


def contract_summary(
    c: Contract, today: date, lock: Refusal | None = None, *, freed: bool = False
) -> ContractSummary:
    """`lock` says why the category cannot change now (SPEC §9.1), `freed` that a declined 再分割審査申込
    lets it change even inside the last month (SPEC §9.2)."""
    final = c.final_payment_date
    return ContractSummary(
        contract_no=c.contract_no,
        contractor_name=c.contractor_name,
        contractor_name_kana=c.contractor_name_kana,
        model=c.model,
        registration_no=c.registration_no,
        contract_kind=c.contract_kind,
        final_label=labels.CONTRACT_KIND_FINAL_LABEL.get(c.contract_kind, "最終回年月日"),
        final_payment_date=final.isoformat(),
        final_payment_amount=c.final_payment_amount,
        annual_rate=float(c.annual_rate),
        dealer_code=c.dealer_code,
        store_code=c.store_code,
        store_name=c.store_name,
        staff_code=c.staff_code,
        result_input_deadline=domain.result_input_deadline(final).isoformat(),
        category_change_deadline=domain.category_change_deadline(final).isoformat(),
        refinance_opens_on=domain.refinance_opens_on(final).isoformat(),
        late_now=domain.is_late(final, today),
        can_change_category=domain.can_change_category(final, today) or freed,
        refinance_available=domain.refinance_available(final, today),
        seq=c.seq,
        category_lock=CategoryLock(code=lock.code, message=lock.message) if lock else None,
    )


class RecordedBy(BaseModel):
    user_id: str
    name: str


class SelectionView(BaseModel):
    """The recorded final-payment choice (進捗・結果入力)."""

    category: str = Field(description="early_payoff | cash | vehicle_return | refinance")
    category_label: str
    replacement: str | None = Field(description="yes | no")
    replacement_model: str | None
    confirmation_received_on: str = Field(description="YYYY-MM-DD")
    late: bool
    seq: int
    recorded_by: RecordedBy
    recorded_at: str


class ContractSelection(BaseModel):
    contract: ContractSummary
    selection: SelectionView | None


def selection_view(row: SelectionRecord | None) -> SelectionView | None:
    if row is None:
        return None
    return SelectionView(
        category=row.category,
        category_label=labels.CATEGORY_LABELS[row.category],
        replacement=row.replacement,
        replacement_model=row.replacement_model,
        confirmation_received_on=row.confirmation_received_on.isoformat(),
        late=row.late,
        seq=row.seq,
        recorded_by=RecordedBy(user_id=row.recorded_by_id, name=row.recorded_by_name),
        recorded_at=row.recorded_at.isoformat(),
    )


class MemoAuthor(BaseModel):
    user_id: str
    name: str
    role: str


class MemoEntryView(BaseModel):
    seq: int
    text: str
    author: MemoAuthor
    created_at: str


class MemoView(BaseModel):
    """自由記入欄: the latest text and every earlier one."""

    contract_no: str
    seq: int
    text: str
    author: MemoAuthor | None
    updated_at: str | None
    max_chars: int
    history: list[MemoEntryView]


def memo_entry_view(e: MemoEntry) -> MemoEntryView:
    return MemoEntryView(
        seq=e.seq,
        text=e.text,
        author=MemoAuthor(user_id=e.author_id, name=e.author_name, role=e.author_role),
        created_at=e.created_at.isoformat(),
    )


def memo_view(c: Contract, history: list[MemoEntry]) -> MemoView:
    entries = [memo_entry_view(e) for e in history]
    latest = entries[0] if entries else None
    return MemoView(
        contract_no=c.contract_no,
        seq=c.seq,
        text=latest.text if latest else "",
        author=latest.author if latest else None,
        updated_at=latest.created_at if latest else None,
        max_chars=domain.MEMO_MAX_CHARS,
        history=entries,
    )


class InstalmentView(BaseModel):
    no: int
    payment: int
    principal: int
    interest: int
    balance: int


class PlanView(BaseModel):
    """A 再分割シミュレーション (元利均等, whole yen)."""

    contract_no: str
    principal: int
    months: int
    annual_rate: float
    first_payment: int
    monthly_payment: int = Field(description="2回目以降 (a multiple of 100 yen)")
    total_payment: int
    total_interest: int
    schedule: list[InstalmentView]


def plan_view(contract_no: str, plan: domain.RefinancePlan) -> PlanView:
    return PlanView(
        contract_no=contract_no,
        principal=plan.principal,
        months=plan.months,
        annual_rate=float(plan.annual_rate),
        first_payment=plan.first_payment,
        monthly_payment=plan.monthly_payment,
        total_payment=plan.total_payment,
        total_interest=plan.total_interest,
        schedule=[
            InstalmentView(
                no=r.no, payment=r.payment, principal=r.principal, interest=r.interest, balance=r.balance
            )
            for r in plan.schedule
        ],
    )


def confirmation_form(c: Contract, today: date) -> ConfirmationForm:
    return ConfirmationForm(
        contract_no=c.contract_no,
        contractor_name=c.contractor_name,
        postal_code=c.contractor_postal_code,
        address=c.contractor_address,
        model=c.model,
        registration_no=c.registration_no,
        contract_kind=c.contract_kind,
        final_payment_date=c.final_payment_date,
        final_payment_amount=c.final_payment_amount,
        dealer_name=c.dealer_name,
        store_name=c.store_name,
        staff_code=c.staff_code,
        issued_on=today,
    )


class StoreView(BaseModel):
    store_code: str
    store_name: str


class StaffView(BaseModel):
    staff_code: str
    name: str = Field(description="may be empty (a staff code TFC's feed carries, not in the directory)")
    label: str = Field(description='"010101 佐藤 健一"')


class AssignmentView(BaseModel):
    """店舗・スタッフ変更: the contract's store and staff, and whom it may be handed to."""

    contract_no: str
    store_code: str
    store_name: str
    staff_code: str
    seq: int
    stores: list[StoreView]
    staff: dict[str, list[StaffView]] = Field(description="per store code")
    staff_codes: dict[str, list[str]] = Field(description="per store code")


def assignment_view(
    c: Contract, stores: dict[str, str], staff: dict[str, list[domain.StaffMember]]
) -> AssignmentView:
    return AssignmentView(
        contract_no=c.contract_no,
        store_code=c.store_code,
        store_name=c.store_name,
        staff_code=c.staff_code,
        seq=c.seq,
        stores=[StoreView(store_code=code, store_name=name) for code, name in stores.items()],
        staff={
            store: [StaffView(staff_code=m.staff_code, name=m.name, label=m.label) for m in people]
            for store, people in staff.items()
        },
        staff_codes={store: [m.staff_code for m in people] for store, people in staff.items()},
    )


# ---------------------------------------------------------------------------------------------
# What a write answers: the consistency token and the state after the write


class Written(BaseModel):
    contract_no: str
    changed: bool = Field(description="false: the same as before, nothing recorded")
    seq: int
    consistency_token: str = Field(description="<contract_no>@<seq>: pass as `after` to search's reads")


class SelectionWritten(Written):
    selection: SelectionView | None


class MemoWritten(Written):
    text: str
    author: MemoAuthor | None
    updated_at: str | None


class AssignmentWritten(Written):
    from_store_code: str
    store_code: str
    store_name: str
    staff_code: str


def selection_written(result: WriteResult) -> SelectionWritten:
    return SelectionWritten(**_written(result), **result.data)


def memo_written(result: WriteResult) -> MemoWritten:
    return MemoWritten(**_written(result), **result.data)


def assignment_written(result: WriteResult) -> AssignmentWritten:
    return AssignmentWritten(**_written(result), **result.data)


def _written(result: WriteResult) -> dict[str, object]:
    return {
        "contract_no": result.contract_no,
        "changed": result.changed,
        "seq": result.seq,
        "consistency_token": result.token,
    }


# ---------------------------------------------------------------------------------------------
# The two requests selection takes in (SPEC §9.2)


class Accepted(BaseModel):
    request_id: str
    replayed: bool = Field(description="true: the same Idempotency-Key again, the request sent before")


class Eligibility(BaseModel):
    contract_no: str
    type: str = Field(description="refinance_application | early_payoff")
    eligible: bool
    code: str | None = Field(description="why not: the refusal's stable code")
    detail: str | None = Field(description="why not, in Japanese")


def eligibility(contract_no: str, request_type: str, refusal: Refusal | None) -> Eligibility:
    return Eligibility(
        contract_no=contract_no,
        type=request_type,
        eligible=refusal is None,
        code=refusal.code if refusal else None,
        detail=refusal.message if refusal else None,
    )
