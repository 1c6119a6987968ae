"""SPEC §9.2 in the workflow's pure rules: TFC's answers per request type, each type's payload and what a
correction may change."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.approvals import domain
from services.approvals.domain import tfc_answer
from shared.refusal import Refusal
from shared.requests import REQUEST_TYPES

TODAY = date(2026, 5, 15)
TYPES = ("vehicle_return", "refinance_application", "early_payoff")
PLAN = {
    "principal": 1_200_000,
    "months": 24,
    "annual_rate": 0.049,
    "first_payment": 54_706,
    "monthly_payment": 52_500,
    "total_payment": 1_262_206,
    "total_interest": 62_206,
}
CONTACTS = {"contact1": "03-1234-5678", "contact3_email": "tanto@example.com", "notify_on_completion": True}


def refinance(**kw: Any) -> dict[str, Any]:
    return {**CONTACTS, "consent_obtained_on": "2026-05-14", "plan": dict(PLAN), **kw}


def early_payoff(**kw: Any) -> dict[str, Any]:
    return {
        **CONTACTS,
        "desired_payoff_date": "2026-06-01",
        "payment_method": "bank_transfer",
        "final_payment_date": "2026-06-30",
        **kw,
    }


def answer(request_type: str, action: str, **kw: Any) -> domain.TfcAnswer:
    args: dict[str, Any] = {
        "message": None,
        "result": None,
        "payoff_amount": None,
        "known_payoff_amount": None,
    }
    return tfc_answer(request_type, action, **{**args, **kw})


@pytest.mark.parametrize("request_type", TYPES)
@pytest.mark.parametrize("action", domain.TFC_ACTIONS)
def test_a_result_belongs_only_to_a_refinance_applications_complete(request_type: str, action: str) -> None:
    for result in ("approved", "declined"):
        if request_type == "refinance_application" and action == "complete":
            assert answer(request_type, action, result=result).result == result
        else:
            with pytest.raises(Refusal) as refused:
                answer(request_type, action, result=result)
            assert refused.value.code == "result_not_applicable"


def test_a_refinance_application_completes_only_with_its_result() -> None:
    with pytest.raises(Refusal) as refused:
        answer("refinance_application", "complete", message="承認しました")
    assert refused.value.code == "result_required"
    for action in ("accept", "hold", "message", "resume", "send_back"):
        assert answer("refinance_application", action, message="x").result is None


@pytest.mark.parametrize("request_type", TYPES)
@pytest.mark.parametrize("action", domain.TFC_ACTIONS)
def test_a_payoff_amount_belongs_to_an_early_payoffs_message_or_complete(
    request_type: str, action: str
) -> None:
    fits = request_type == "early_payoff" and action in ("message", "complete")
    if fits:
        assert answer(request_type, action, payoff_amount=1_234_567).payoff_amount == 1_234_567
    else:
        result = "approved" if (request_type, action) == ("refinance_application", "complete") else None
        with pytest.raises(Refusal) as refused:
            answer(request_type, action, payoff_amount=1_234_567, result=result)
        assert refused.value.code == "payoff_amount_not_applicable"


def test_an_early_payoff_completes_only_once_the_amount_is_known() -> None:
    with pytest.raises(Refusal) as refused:
        answer("early_payoff", "complete")
    assert refused.value.code == "payoff_amount_required"
    assert answer("early_payoff", "complete", known_payoff_amount=900_000).payoff_amount == 900_000
    assert answer("early_payoff", "complete", payoff_amount=0).payoff_amount == 0  # zero is an amount
    # The amount alone makes the TFC連絡事項; TFC's own text wins.
    assert (
        answer("early_payoff", "message", payoff_amount=1_234_567).message
        == "早期完済金額は1,234,567円です。"
    )
    assert (
        answer("early_payoff", "message", message="振込先は別途", payoff_amount=1).message == "振込先は別途"
    )
    assert answer("vehicle_return", "complete").payoff_amount is None  # returns are unchanged


@pytest.mark.parametrize(
    ("request_type", "payload", "errors"),
    [
        ("refinance_application", refinance(), {}),
        ("refinance_application", refinance(consent_obtained_on="2026-05-16"), {"consent_obtained_on"}),
        ("refinance_application", refinance(plan={**PLAN, "total_payment": 1}), {"plan"}),
        ("refinance_application", refinance(plan={**PLAN, "months": 6}), {"plan"}),
        ("refinance_application", refinance(contact1="abc"), {"contact1"}),
        ("early_payoff", early_payoff(), {}),
        ("early_payoff", early_payoff(desired_payoff_date="2026-05-15"), {}),
        ("early_payoff", early_payoff(desired_payoff_date="2026-06-30"), {}),
        ("early_payoff", early_payoff(desired_payoff_date="2026-05-14"), {"desired_payoff_date"}),
        ("early_payoff", early_payoff(desired_payoff_date="2026-07-01"), {"desired_payoff_date"}),
        ("early_payoff", early_payoff(payment_method="cash"), {"payment_method"}),
    ],
)
def test_each_types_payload(request_type: str, payload: dict[str, Any], errors: set[str]) -> None:
    data, found = domain.validate_payload(
        REQUEST_TYPES[request_type], payload, submitter_role="staff", today=TODAY, request_type=request_type
    )
    assert set(found) == set(errors), found
    assert (data is None) == bool(errors)
    for message in found.values():
        assert message and message != "入力内容に誤りがあります。"


def test_hq_needs_its_email_in_every_type() -> None:
    for request_type, payload in (("refinance_application", refinance()), ("early_payoff", early_payoff())):
        _, errors = domain.validate_payload(
            REQUEST_TYPES[request_type],
            {**payload, "contact3_email": None},
            submitter_role="hq",
            today=TODAY,
            request_type=request_type,
        )
        assert set(errors) == {"contact3_email"}


def test_a_correction_keeps_the_plan_and_the_final_date() -> None:
    previous = refinance()
    # The page sends no plan: the stored one is kept.
    data, errors = domain.validate_payload(
        REQUEST_TYPES["refinance_application"],
        {**CONTACTS, "contact1": "03-9999-0000", "consent_obtained_on": "2026-05-10"},
        submitter_role="staff",
        today=TODAY,
        request_type="refinance_application",
        previous=previous,
    )
    assert errors == {} and data is not None and data["plan"] == PLAN and data["contact1"] == "03-9999-0000"
    # A different plan is refused with the reason, not silently dropped.
    _, errors = domain.validate_payload(
        REQUEST_TYPES["refinance_application"],
        refinance(plan={**PLAN, "months": 36}),
        submitter_role="staff",
        today=TODAY,
        request_type="refinance_application",
        previous=previous,
    )
    assert set(errors) == {"plan"} and "取下げ" in errors["plan"]
    _, errors = domain.validate_payload(
        REQUEST_TYPES["early_payoff"],
        early_payoff(final_payment_date="2027-01-31", desired_payoff_date="2026-12-01"),
        submitter_role="staff",
        today=TODAY,
        request_type="early_payoff",
        previous=early_payoff(),
    )
    assert set(errors) == {"final_payment_date"}


def test_the_history_shows_tfcs_result_of_an_application_as_its_result_not_a_return_result() -> None:
    """TFC's 審査結果 is recorded in the history under `result`, the field name of a return's 車両返却結果."""
    from services.approvals.pages import change_label, fmt_value

    assert change_label("refinance_application", "result") == "審査結果"
    assert fmt_value("result", "approved", "refinance_application") == "承認"
    assert fmt_value("result", "declined", "refinance_application") == "否決"
    assert change_label("vehicle_return", "result") == "車両返却結果"
    assert fmt_value("result", "returned", "vehicle_return") == "返却済み"
    assert change_label("early_payoff", "payoff_amount") == "早期完済金額"
    assert fmt_value("payoff_amount", 1_187_650, "early_payoff") == "1,187,650円"
