"""The pure intake rules (SPEC §4): eligibility, the extra TFC procedure, the form."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from devtools.demo import USERS_BY_ID
from services.returns.domain import (
    ContractFacts,
    ReturnForm,
    check_eligibility,
    needs_extra_tfc_procedure,
    status_colour,
    today_in_tokyo,
    validate_form,
)
from shared.events import EXTRA_TFC_PROCEDURE_PROGRAMS, OPEN_END_PROGRAMS, PROGRAM_LABELS
from shared.requests import NOT_RETURNED_REASONS, VehicleReturnPayload, normalise_phone
from shared.rules import RequestFact

TODAY = date(2026, 5, 15)
ELIGIBLE = ContractFacts(
    contract_no="C1",
    dealer_code="D001",
    store_code="S0101",
    program="gamma_finance",
    receivable_purchased=False,
    selection_category="vehicle_return",
)
OPEN = (RequestFact("r1", "vehicle_return", "hq_pending"),)
STAFF, MANAGER, HQ = USERS_BY_ID["d1s1-staff1"], USERS_BY_ID["d1s1-manager"], USERS_BY_ID["d1-hq"]
OTHER_STORE_STAFF, OTHER_DEALER_HQ = USERS_BY_ID["d1s2-staff1"], USERS_BY_ID["d2-hq"]


def code(facts: ContractFacts | None, user=STAFF) -> str | None:
    refusal = check_eligibility(facts, user)
    return refusal.code if refusal else None


# ---------------------------------------------------------------------------------------- eligibility


def test_an_eligible_contract_passes_for_its_store_and_its_dealers_hq() -> None:
    assert code(ELIGIBLE, STAFF) is None
    assert code(ELIGIBLE, MANAGER) is None
    assert code(ELIGIBLE, HQ) is None


@pytest.mark.parametrize("user", [OTHER_STORE_STAFF, USERS_BY_ID["d1s2-manager"], OTHER_DEALER_HQ])
def test_outside_the_users_scope_looks_like_no_contract(user) -> None:
    refusal = check_eligibility(ELIGIBLE, user)
    assert refusal is not None and (refusal.kind, refusal.code) == ("not_found", "contract_not_found")


def test_an_unknown_contract_is_not_found() -> None:
    assert code(None) == "contract_not_found"


@pytest.mark.parametrize("program", sorted(PROGRAM_LABELS))
def test_only_open_end_programs_are_refused(program: str) -> None:
    refusal = check_eligibility(replace(ELIGIBLE, program=program), STAFF)
    if program in OPEN_END_PROGRAMS:
        assert refusal is not None and (refusal.kind, refusal.code) == ("invalid", "open_end_program")
        assert "対象外" in refusal.message and "TFCへ必要書類の送付" in refusal.message
        assert PROGRAM_LABELS[program] in refusal.message
    else:
        assert refusal is None


@pytest.mark.parametrize("category", [None, "early_payoff", "cash", "refinance"])
def test_the_selection_must_be_vehicle_return(category: str | None) -> None:
    refusal = check_eligibility(replace(ELIGIBLE, selection_category=category), STAFF)
    assert refusal is not None and (refusal.kind, refusal.code) == ("invalid", "selection_not_vehicle_return")
    assert "「車両返却」" in refusal.message
    assert ("未選択" if category is None else "（現在: ") in refusal.message


def test_an_open_request_refuses_with_409() -> None:
    refusal = check_eligibility(replace(ELIGIBLE, requests=OPEN), STAFF)
    assert refusal is not None and (refusal.kind, refusal.code) == ("conflict", "open_request_exists")


def test_a_completed_return_is_final_and_a_withdrawn_one_is_not() -> None:
    done = (
        RequestFact("r0", "vehicle_return", "withdrawn"),
        RequestFact("r1", "vehicle_return", "completed"),
    )
    refusal = check_eligibility(replace(ELIGIBLE, requests=done), STAFF)
    assert refusal is not None and (refusal.kind, refusal.code) == ("conflict", "request_completed")
    assert check_eligibility(replace(ELIGIBLE, requests=done[:1]), STAFF) is None


def test_preconditions_are_checked_in_the_specs_order() -> None:
    everything_wrong = replace(ELIGIBLE, program="smart_value_open", selection_category="cash", requests=OPEN)
    assert code(everything_wrong, OTHER_STORE_STAFF) == "contract_not_found"
    assert code(everything_wrong) == "open_end_program"
    assert code(replace(everything_wrong, program="max_value_a")) == "selection_not_vehicle_return"
    assert code(replace(everything_wrong, program="max_value_a", selection_category="vehicle_return")) == (
        "open_request_exists"
    )


@pytest.mark.parametrize("program", sorted(PROGRAM_LABELS))
@pytest.mark.parametrize("purchased", [False, True])
def test_extra_tfc_procedure(program: str, purchased: bool) -> None:
    expected = purchased or program in {"max_value_a", "deferred_tfc", "smart_value_a", "smart_twice_a"}
    assert needs_extra_tfc_procedure(program, purchased) is expected
    assert EXTRA_TFC_PROCEDURE_PROGRAMS == {"max_value_a", "deferred_tfc", "smart_value_a", "smart_twice_a"}


# ---------------------------------------------------------------------------------------- the form

VALID = ReturnForm(contact1="03-1234-5678", result="returned", returned_on="2026-05-14")


def check(form: ReturnForm, role: str = "staff", today: date = TODAY):
    return validate_form(form, submitter_role=role, today=today)


def codes(form: ReturnForm, role: str = "staff") -> list[tuple[str | None, str]]:
    return [(r.field, r.code) for r in check(form, role)[1]]


def test_a_minimal_returned_form_gives_the_shared_payload() -> None:
    payload, errors = check(VALID)
    assert errors == [] and isinstance(payload, VehicleReturnPayload)
    assert payload.model_dump() == {
        "contact1": "03-1234-5678",
        "contact2": None,
        "contact3_email": None,
        "notify_on_completion": True,
        "result": "returned",
        "returned_on": date(2026, 5, 14),
        "not_returned_reason": None,
        "not_returned_reason_text": None,
    }
    VehicleReturnPayload.model_validate(payload.model_dump(mode="json"))


def test_notify_defaults_on_and_can_be_turned_off() -> None:
    assert ReturnForm().notify_on_completion is True
    payload, _ = check(replace(VALID, notify_on_completion=False))
    assert payload is not None and payload.notify_on_completion is False


@pytest.mark.parametrize("phone", [None, "", "   "])
def test_contact1_is_required(phone: str | None) -> None:
    assert codes(replace(VALID, contact1=phone)) == [("contact1", "contact1_required")]


@pytest.mark.parametrize(
    "phone",
    [
        "0312345678",
        "03-1234-5678",
        "090-1234-5678",
        "０３－１２３４－５６７８",
        "03 1234 5678",
        "0120-123-456",
    ],
)
def test_phone_numbers_people_type_are_accepted(phone: str) -> None:
    payload, errors = check(replace(VALID, contact1=phone, contact2=phone))
    assert errors == [] and payload is not None
    assert payload.contact1 == payload.contact2 == normalise_phone(phone)
    assert payload.contact1.isascii()


@pytest.mark.parametrize(
    "phone", ["abc", "3-1234-5678", "03-1234-56", "03--1234-5678", "+81312345678", "03-1234-56789"]
)
def test_malformed_phone_numbers_are_refused(phone: str) -> None:
    assert codes(replace(VALID, contact1=phone)) == [("contact1", "invalid_phone")]
    assert codes(replace(VALID, contact2=phone)) == [("contact2", "invalid_phone")]


def test_contact2_is_optional() -> None:
    for empty in (None, "", "  "):
        payload, errors = check(replace(VALID, contact2=empty))
        assert errors == [] and payload is not None and payload.contact2 is None


@pytest.mark.parametrize("role", ["staff", "store_manager"])
def test_contact3_is_optional_for_store_roles(role: str) -> None:
    assert check(replace(VALID, contact3_email=""), role)[1] == []


def test_contact3_is_required_for_hq() -> None:
    assert codes(replace(VALID, contact3_email=" "), "hq") == [("contact3_email", "contact3_required_for_hq")]
    payload, errors = check(replace(VALID, contact3_email="hq@dealer.example.jp"), "hq")
    assert errors == [] and payload is not None and payload.contact3_email == "hq@dealer.example.jp"


@pytest.mark.parametrize("role", ["staff", "store_manager", "hq"])
@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.jp", "a b@c.jp", "a@b"])
def test_malformed_email_is_refused(role: str, email: str) -> None:
    assert codes(replace(VALID, contact3_email=email), role) == [("contact3_email", "invalid_email")]


def test_returned_on_may_be_today_or_earlier_but_not_tomorrow() -> None:
    assert check(replace(VALID, returned_on="2026-05-15"))[1] == []
    assert check(replace(VALID, returned_on="2020-01-01"))[1] == []
    assert check(replace(VALID, returned_on=date(2026, 5, 15)))[1] == []
    assert codes(replace(VALID, returned_on="2026-05-16")) == [("returned_on", "returned_on_in_future")]
    assert "本日までの日付" in check(replace(VALID, returned_on="2026-05-16"))[1][0].message


def test_returned_on_accepts_slashes_and_full_width() -> None:
    payload, errors = check(replace(VALID, returned_on="２０２６/０５/１０"))
    assert errors == [] and payload is not None and payload.returned_on == date(2026, 5, 10)


@pytest.mark.parametrize("raw", [None, "", " "])
def test_returned_on_is_required_when_returned(raw: str | None) -> None:
    assert codes(replace(VALID, returned_on=raw)) == [("returned_on", "returned_on_required")]


@pytest.mark.parametrize("raw", ["2026-02-30", "yesterday", "2026-13-01"])
def test_returned_on_must_be_a_date(raw: str) -> None:
    assert codes(replace(VALID, returned_on=raw)) == [("returned_on", "invalid_date")]


def test_returned_drops_reason_fields() -> None:
    payload, _ = check(replace(VALID, not_returned_reason="theft", not_returned_reason_text="x"))
    assert (
        payload is not None
        and payload.not_returned_reason is None
        and payload.not_returned_reason_text is None
    )


NOT_RETURNED = ReturnForm(contact1="03-1234-5678", result="not_returned")


@pytest.mark.parametrize("reason", sorted(set(NOT_RETURNED_REASONS) - {"other"}))
def test_each_listed_reason_is_accepted(reason: str) -> None:
    payload, errors = check(replace(NOT_RETURNED, not_returned_reason=reason, returned_on="2099-01-01"))
    assert errors == [] and payload is not None
    assert (payload.result, payload.not_returned_reason, payload.returned_on) == (
        "not_returned",
        reason,
        None,
    )


def test_reason_labels_follow_the_spec() -> None:
    assert list(NOT_RETURNED_REASONS.values()) == ["顧客買取", "車両全損", "盗難", "所在不明", "その他"]


@pytest.mark.parametrize("reason", [None, "", " "])
def test_a_reason_is_required_when_not_returned(reason: str | None) -> None:
    assert codes(replace(NOT_RETURNED, not_returned_reason=reason)) == [
        ("not_returned_reason", "reason_missing")
    ]


def test_other_needs_its_text() -> None:
    other = replace(NOT_RETURNED, not_returned_reason="other")
    assert codes(other) == [("not_returned_reason_text", "reason_missing")]
    assert codes(replace(other, not_returned_reason_text="  ")) == [
        ("not_returned_reason_text", "reason_missing")
    ]
    payload, errors = check(replace(other, not_returned_reason_text="顧客と連絡不通"))
    assert errors == [] and payload is not None and payload.not_returned_reason_text == "顧客と連絡不通"
    assert codes(replace(other, not_returned_reason_text="あ" * 201)) == [
        ("not_returned_reason_text", "reason_too_long")
    ]
    assert check(replace(other, not_returned_reason_text="あ" * 200))[1] == []


def test_text_of_a_listed_reason_is_dropped() -> None:
    payload, _ = check(replace(NOT_RETURNED, not_returned_reason="theft", not_returned_reason_text="x"))
    assert payload is not None and payload.not_returned_reason_text is None


def test_an_unlisted_reason_or_result_is_refused() -> None:
    assert codes(replace(NOT_RETURNED, not_returned_reason="flood")) == [
        ("not_returned_reason", "invalid_reason")
    ]
    assert codes(replace(VALID, result="lost")) == [("result", "invalid_result")]


def test_every_problem_is_reported_in_screen_order() -> None:
    form = ReturnForm(
        contact1="", contact2="x", contact3_email="", result="returned", returned_on="2030-01-01"
    )
    assert codes(form, "hq") == [
        ("contact1", "contact1_required"),
        ("contact2", "invalid_phone"),
        ("contact3_email", "contact3_required_for_hq"),
        ("returned_on", "returned_on_in_future"),
    ]
    assert all(r.kind == "invalid" and r.message for r in check(form, "hq")[1])


@pytest.mark.parametrize(
    ("utc", "tokyo_date"),
    [
        (datetime(2026, 5, 14, 14, 59, 59, tzinfo=UTC), date(2026, 5, 14)),
        (datetime(2026, 5, 14, 15, 0, 0, tzinfo=UTC), date(2026, 5, 15)),
    ],
)
def test_today_is_the_tokyo_date(utc: datetime, tokyo_date: date) -> None:
    assert today_in_tokyo(utc) == tokyo_date


def test_the_tokyo_day_boundary_decides_the_future() -> None:
    just_before_midnight_utc = datetime(2026, 5, 14, 15, 0, tzinfo=UTC)  # 2026-05-15 00:00 in Tokyo
    form = replace(VALID, returned_on="2026-05-15")
    assert check(form, today=today_in_tokyo(just_before_midnight_utc))[1] == []
    assert codes(form) == []
    assert check(form, today=date(2026, 5, 14))[1][0].code == "returned_on_in_future"


@pytest.mark.parametrize(
    ("status", "colour"),
    [
        ("staff_back", "red"),
        ("store_back", "red"),
        ("hq_back", "red"),
        ("store_pending", "yellow"),
        ("hq_pending", "yellow"),
        ("requested", ""),
        ("tfc_processing", ""),
        ("completed", ""),
        ("withdrawn", ""),
    ],
)
def test_status_colour_follows_spec_5_2(status: str, colour: str) -> None:
    assert status_colour(status) == colour
