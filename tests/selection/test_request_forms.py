"""The rules of 再分割審査申込 and 早期完済受付 at selection's intake (SPEC §9.2), at their boundaries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.selection import domain
from services.selection import request_forms as forms
from services.selection.request_forms import Contacts, EarlyPayoffForm, RefinanceApplicationForm
from shared.refusal import Refusal
from shared.requests import EarlyPayoffPayload, RefinanceApplicationPayload
from shared.rules import RequestFact

FINAL = date(2026, 6, 30)
TODAY = date(2026, 5, 15)
PLAN = domain.simulate_refinance(1_200_000, 36, Decimal("0.049"))
GOOD = Contacts("０３ー１２３４ー５６７８", None, "tanto@example.com", True)


def codes(e: pytest.ExceptionInfo[Refusal]) -> dict[str, str]:
    return {x.field: x.code for x in e.value.errors}


@pytest.mark.parametrize(
    ("today", "category", "requests", "code"),
    [
        (TODAY, "refinance", [], None),
        (date(2025, 9, 30), "refinance", [], None),  # the window opens at final − 9 months
        (date(2025, 9, 29), "refinance", [], "refinance_not_available"),
        (FINAL, "refinance", [], None),
        (date(2026, 7, 1), "refinance", [], "refinance_not_available"),
        (TODAY, None, [], "selection_not_refinance"),
        (TODAY, "cash", [], "selection_not_refinance"),
        (
            TODAY,
            "refinance",
            [RequestFact("r", "refinance_application", "hq_pending")],
            "open_request_exists",
        ),
        (TODAY, "refinance", [RequestFact("r", "refinance_application", "submitted")], "open_request_exists"),
        (TODAY, "refinance", [RequestFact("r", "refinance_application", "withdrawn")], None),
        (
            TODAY,
            "refinance",
            [RequestFact("r", "refinance_application", "completed", "approved")],
            "request_completed",
        ),
        (TODAY, "refinance", [RequestFact("r", "refinance_application", "completed", "declined")], None),
        (TODAY, "refinance", [RequestFact("r", "early_payoff", "hq_pending")], None),  # another type
    ],
)
def test_when_a_refinance_application_may_start(
    today: date, category: str | None, requests: list[RequestFact], code: str | None
) -> None:
    refusal = forms.refinance_application_refusal(FINAL, today, category, requests)
    assert (refusal.code if refusal else None) == code
    if refusal is not None:
        assert refusal.kind == "conflict" and refusal.message


@pytest.mark.parametrize(
    ("today", "category", "requests", "code"),
    [
        (TODAY, "early_payoff", [], None),
        (FINAL, "early_payoff", [], None),
        (date(2026, 7, 1), "early_payoff", [], "early_payoff_closed"),
        (TODAY, "refinance", [], "not_early_payoff"),
        (TODAY, "early_payoff", [RequestFact("r", "early_payoff", "requested")], "open_request_exists"),
        (TODAY, "early_payoff", [RequestFact("r", "early_payoff", "completed")], "request_completed"),
        (TODAY, "early_payoff", [RequestFact("r", "early_payoff", "withdrawn")], None),
    ],
)
def test_when_an_early_payoff_may_start(
    today: date, category: str | None, requests: list[RequestFact], code: str | None
) -> None:
    refusal = forms.early_payoff_refusal(FINAL, today, category, requests)
    assert (refusal.code if refusal else None) == code


def test_a_refinance_application_payload_carries_the_simulated_plan() -> None:
    payload = forms.validate_refinance_application(
        RefinanceApplicationForm(GOOD, "2026/05/15"), PLAN, role="staff", today=TODAY
    )
    parsed = RefinanceApplicationPayload.model_validate(payload)
    assert parsed.contact1 == "03-1234-5678" and parsed.consent_obtained_on == TODAY
    assert parsed.plan.total_payment == PLAN.total_payment and parsed.plan.months == 36
    assert parsed.plan.annual_rate == 0.049


@pytest.mark.parametrize(
    ("contacts", "consent", "role", "expected"),
    [
        (GOOD, "2026-05-16", "staff", {"consent_obtained_on": "consent_in_future"}),
        (GOOD, "", "staff", {"consent_obtained_on": "consent_required"}),
        (GOOD, "2026-02-30", "staff", {"consent_obtained_on": "invalid_date"}),
        (
            Contacts("", "12", None),
            "2026-05-15",
            "hq",
            {
                "contact1": "contact1_required",
                "contact2": "invalid_phone",
                "contact3_email": "contact3_required_for_hq",
            },
        ),
        (
            Contacts("03-1234-5678", None, "not-an-address"),
            "2026-05-15",
            "staff",
            {"contact3_email": "invalid_email"},
        ),
    ],
)
def test_refinance_application_form_errors(
    contacts: Contacts, consent: str, role: str, expected: dict[str, str]
) -> None:
    with pytest.raises(Refusal) as refused:
        forms.validate_refinance_application(
            RefinanceApplicationForm(contacts, consent), PLAN, role=role, today=TODAY
        )
    assert codes(refused) == expected
    assert refused.value.kind == "invalid"


@pytest.mark.parametrize(
    ("desired", "method", "expected"),
    [
        ("2026-05-15", "bank_transfer", {}),
        ("2026-06-30", "account_transfer", {}),
        ("2026-05-14", "bank_transfer", {"desired_payoff_date": "payoff_date_in_past"}),
        ("2026-07-01", "bank_transfer", {"desired_payoff_date": "payoff_date_after_final"}),
        ("", "bank_transfer", {"desired_payoff_date": "payoff_date_required"}),
        ("2026-06-01", "", {"payment_method": "payment_method_required"}),
        ("2026-06-01", "cash", {"payment_method": "invalid_payment_method"}),
    ],
)
def test_early_payoff_form(desired: str, method: str, expected: dict[str, str]) -> None:
    form = EarlyPayoffForm(GOOD, desired, method)
    if not expected:
        payload = EarlyPayoffPayload.model_validate(
            forms.validate_early_payoff(form, FINAL, role="staff", today=TODAY)
        )
        assert payload.final_payment_date == FINAL and payload.payment_method == method
        return
    with pytest.raises(Refusal) as refused:
        forms.validate_early_payoff(form, FINAL, role="staff", today=TODAY)
    assert codes(refused) == expected


def test_a_declined_application_frees_the_category_inside_the_last_month() -> None:
    final = date(2026, 6, 10)  # category change deadline 2026-05-10, behind TODAY
    current = domain.Selection("refinance", "no", None, TODAY, False)
    to_cash = domain.SelectionInput("cash", "no", None, TODAY)
    with pytest.raises(Refusal) as locked:
        domain.decide_selection(current, to_cash, final, TODAY, [])
    assert locked.value.code == "category_change_locked"
    declined = [RequestFact("r", "refinance_application", "completed", "declined")]
    assert domain.decide_selection(current, to_cash, final, TODAY, declined).selection.category == "cash"
    approved = [RequestFact("r", "refinance_application", "completed", "approved")]
    with pytest.raises(Refusal) as final_:
        domain.decide_selection(current, to_cash, final, TODAY, approved)
    assert final_.value.code == "request_completed"
    # Once moved away from 再分割, the calendar holds again.
    cash = domain.Selection("cash", "no", None, TODAY, True)
    with pytest.raises(Refusal):
        domain.decide_selection(
            cash, domain.SelectionInput("vehicle_return", "no", None, TODAY), final, TODAY, declined
        )
