"""Rules of the two requests selection takes in (SPEC §9.2), pure: no framework, no I/O, no clock.

- 再分割審査申込 (`refinance_application`): from a simulation inside the refinance window, with 再分割
  recorded as the category; the plan, the customer's consent date (≤ today), contacts, notify checkbox.
- 早期完済受付 (`early_payoff`): after 早期完済 is recorded; the desired payoff date (today ≤ date ≤ final
  date), the payment method (振込 | 口座振替), contacts, notify checkbox.

Each question has its own function: may the user start this request now (`*_refusal`), and is the form
acceptable (`validate_*`, which builds the payload of shared.requests). Refusals carry a stable code, the
Japanese message and a kind (shared.refusal); form errors name their field.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.selection import domain
from shared import rules
from shared.refusal import Refusal
from shared.requests import (
    PAYMENT_METHOD_LABELS,
    EarlyPayoffPayload,
    FieldError,
    RefinanceApplicationPayload,
    check_contacts,
)
from shared.timefmt import jp_date

REFINANCE_APPLICATION = "refinance_application"
EARLY_PAYOFF = "early_payoff"
NOTIFY_LABEL = "TFCにて手続が完了した際のメール通知を希望する"
RECEPTION_PENDING = "受付処理中"

MSG_NOT_REFINANCE = (
    "最終回選択区分が「再分割」ではありません（現在: {current}）。"
    "進捗・結果入力で「再分割」を選択してから審査申込してください。"
)


# ---------------------------------------------------------------------------------------------
# May the user start the request now?


def _current(category: str | None) -> str:
    return rules.CATEGORY_LABELS.get(category or "", "未選択")


def refinance_application_refusal(
    final_payment_date: date,
    today: date,
    category: str | None,
    requests: Iterable[rules.RequestFact],
) -> Refusal | None:
    """Inside the refinance window, 再分割 recorded, no open or final 再分割審査申込."""
    try:
        domain.check_refinance_window(final_payment_date, today)
    except Refusal as refused:
        return refused
    if category != "refinance":
        return Refusal(
            "conflict", "selection_not_refinance", MSG_NOT_REFINANCE.format(current=_current(category))
        )
    return rules.may_submit_request(requests, REFINANCE_APPLICATION)


def early_payoff_refusal(
    final_payment_date: date,
    today: date,
    category: str | None,
    requests: Iterable[rules.RequestFact],
) -> Refusal | None:
    """早期完済 recorded, the final date not passed, no open or final 早期完済受付."""
    try:
        domain.check_early_payoff_recorded(category)  # the same rule as 早期完済確認's
    except Refusal as refused:
        return refused
    return rules.may_accept_early_payoff(final_payment_date, today, requests)


# ---------------------------------------------------------------------------------------------
# The forms


@dataclass(frozen=True)
class Contacts:
    """貴社情報 as typed (SPEC §4)."""

    contact1: str | None = None
    contact2: str | None = None
    contact3_email: str | None = None
    notify_on_completion: bool = True


@dataclass(frozen=True)
class RefinanceApplicationForm:
    contacts: Contacts
    consent_obtained_on: str | date | None = None


@dataclass(frozen=True)
class EarlyPayoffForm:
    contacts: Contacts
    desired_payoff_date: str | date | None = None
    payment_method: str | None = None


def parse_day(raw: str | date | None) -> date | None:
    """`YYYY-MM-DD` or `YYYY/MM/DD` (full-width digits too); None when blank; ValueError when not a date."""
    if raw is None or isinstance(raw, date):
        return raw
    text = unicodedata.normalize("NFKC", raw).strip().replace("/", "-")
    return date.fromisoformat(text) if text else None


def _contacts(form: Contacts, role: str, errors: list[FieldError]) -> dict[str, Any]:
    values, contact_errors = check_contacts(
        form.contact1, form.contact2, form.contact3_email, submitter_role=role
    )
    errors.extend(contact_errors)
    return {**values, "notify_on_completion": form.notify_on_completion}


def plan_payload(plan: domain.RefinancePlan) -> dict[str, Any]:
    return {
        "principal": plan.principal,
        "months": plan.months,
        "annual_rate": float(plan.annual_rate),
        "first_payment": plan.first_payment,
        "monthly_payment": plan.monthly_payment,
        "total_payment": plan.total_payment,
        "total_interest": plan.total_interest,
    }


def validate_refinance_application(
    form: RefinanceApplicationForm, plan: domain.RefinancePlan, *, role: str, today: date
) -> dict[str, Any]:
    """The payload (shared.requests.RefinanceApplicationPayload as JSON), or refused with every error."""
    errors: list[FieldError] = []
    contacts = _contacts(form.contacts, role, errors)
    consent: date | None = None
    try:
        consent = parse_day(form.consent_obtained_on)
    except ValueError:
        errors.append(
            FieldError("consent_obtained_on", "invalid_date", "同意取得日の日付が正しくありません。")
        )
    else:
        if consent is None:
            errors.append(
                FieldError(
                    "consent_obtained_on", "consent_required", "お客様の同意取得日を入力してください。"
                )
            )
        elif consent > today:
            errors.append(
                FieldError(
                    "consent_obtained_on",
                    "consent_in_future",
                    "同意取得日は本日までの日付で入力してください。",
                )
            )
    if errors or consent is None:
        raise Refusal.invalid(errors)
    payload = RefinanceApplicationPayload.model_validate(
        {**contacts, "consent_obtained_on": consent, "plan": plan_payload(plan)}
    )
    return payload.model_dump(mode="json")


def validate_early_payoff(
    form: EarlyPayoffForm, final_payment_date: date, *, role: str, today: date
) -> dict[str, Any]:
    """The payload (shared.requests.EarlyPayoffPayload as JSON), or refused with every error."""
    errors: list[FieldError] = []
    contacts = _contacts(form.contacts, role, errors)
    desired: date | None = None
    try:
        desired = parse_day(form.desired_payoff_date)
    except ValueError:
        errors.append(
            FieldError("desired_payoff_date", "invalid_date", "完済希望日の日付が正しくありません。")
        )
    else:
        window = f"本日（{jp_date(today)}）から最終回年月日（{jp_date(final_payment_date)}）までの日付"
        if desired is None:
            errors.append(
                FieldError("desired_payoff_date", "payoff_date_required", "完済希望日を入力してください。")
            )
        elif desired < today:
            errors.append(
                FieldError(
                    "desired_payoff_date", "payoff_date_in_past", f"完済希望日は{window}で入力してください。"
                )
            )
        elif desired > final_payment_date:
            errors.append(
                FieldError(
                    "desired_payoff_date",
                    "payoff_date_after_final",
                    f"完済希望日は{window}で入力してください。",
                )
            )
    method = (form.payment_method or "").strip()
    if method not in PAYMENT_METHOD_LABELS:
        errors.append(
            FieldError(
                "payment_method",
                "payment_method_required" if not method else "invalid_payment_method",
                "お支払方法（振込または口座振替）を選択してください。",
            )
        )
    if errors:
        raise Refusal.invalid(errors)
    payload = EarlyPayoffPayload.model_validate(
        {
            **contacts,
            "desired_payoff_date": desired,
            "payment_method": method,
            "final_payment_date": final_payment_date,
        }
    )
    return payload.model_dump(mode="json")
