"""Read-side shapes shared by the JSON API and the pages (no rules here: they live in domain.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.selection import domain, labels
from services.selection.confirmation_pdf import ConfirmationForm
from services.selection.db import Contract, MemoEntry, SelectionRecord
from shared import rules


def contract_summary(
    c: Contract, today: date, lock: rules.Refusal | None = None, *, freed: bool = False
) -> dict[str, Any]:
    """The contract as the screens show it; `lock` says why the category cannot change now (SPEC §9.1),
    `freed` that a declined 再分割審査申込 lets it change even inside the last month (SPEC §9.2)."""
    final = c.final_payment_date
    return {
        "contract_no": c.contract_no,
        "contractor_name": c.contractor_name,
        "contractor_name_kana": c.contractor_name_kana,
        "model": c.model,
        "registration_no": c.registration_no,
        "contract_kind": c.contract_kind,
        "final_label": labels.CONTRACT_KIND_FINAL_LABEL.get(c.contract_kind, "最終回年月日"),
        "final_payment_date": final.isoformat(),
        "final_payment_amount": c.final_payment_amount,
        "annual_rate": float(c.annual_rate),
        "dealer_code": c.dealer_code,
        "store_code": c.store_code,
        "store_name": c.store_name,
        "staff_code": c.staff_code,
        "result_input_deadline": domain.result_input_deadline(final).isoformat(),
        "category_change_deadline": domain.category_change_deadline(final).isoformat(),
        "refinance_opens_on": domain.refinance_opens_on(final).isoformat(),
        "late_now": domain.is_late(final, today),
        "can_change_category": domain.can_change_category(final, today) or freed,
        "refinance_available": domain.refinance_available(final, today),
        "seq": c.seq,
        "category_lock": {"code": lock.code, "message": lock.message} if lock else None,
    }


def selection_view(row: SelectionRecord | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "category": row.category,
        "category_label": labels.CATEGORY_LABELS[row.category],
        "replacement": row.replacement,
        "replacement_model": row.replacement_model,
        "confirmation_received_on": row.confirmation_received_on.isoformat(),
        "late": row.late,
        "seq": row.seq,
        "recorded_by": {"user_id": row.recorded_by_id, "name": row.recorded_by_name},
        "recorded_at": row.recorded_at.isoformat(),
    }


def memo_entry_view(e: MemoEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "text": e.text,
        "author": {"user_id": e.author_id, "name": e.author_name, "role": e.author_role},
        "created_at": e.created_at.isoformat(),
    }


def memo_view(c: Contract, history: list[MemoEntry]) -> dict[str, Any]:
    latest = history[0] if history else None
    return {
        "contract_no": c.contract_no,
        "seq": c.seq,
        "text": latest.text if latest else "",
        "author": memo_entry_view(latest)["author"] if latest else None,
        "updated_at": latest.created_at.isoformat() if latest else None,
        "max_chars": domain.MEMO_MAX_CHARS,
        "history": [memo_entry_view(e) for e in history],
    }


def plan_view(contract_no: str, plan: domain.RefinancePlan) -> dict[str, Any]:
    return {
        "contract_no": contract_no,
        "principal": plan.principal,
        "months": plan.months,
        "annual_rate": float(plan.annual_rate),
        "first_payment": plan.first_payment,
        "monthly_payment": plan.monthly_payment,
        "total_payment": plan.total_payment,
        "total_interest": plan.total_interest,
        "schedule": [
            {
                "no": r.no,
                "payment": r.payment,
                "principal": r.principal,
                "interest": r.interest,
                "balance": r.balance,
            }
            for r in plan.schedule
        ],
    }


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


def staff_view(staff: dict[str, list[domain.StaffMember]]) -> dict[str, list[dict[str, str]]]:
    """The staff directory per store, as 店舗・スタッフ変更 offers it: code, name (may be empty), label."""
    return {
        store: [{"staff_code": m.staff_code, "name": m.name, "label": m.label} for m in people]
        for store, people in staff.items()
    }
