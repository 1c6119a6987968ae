"""Pure rules of SPEC §9.1: the reason an approver's send-back carries, and the 受付番号's shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.approvals import domain
from shared.refusal import Refusal

# --------------------------------------------------------------------------------------------
# Send-back reasons


@pytest.mark.parametrize("role", ["store_manager", "hq"])
def test_the_comment_is_the_reason(role: str) -> None:
    assert domain.approver_send_back_reason(role, "  受領日を確認  ", None, None) == "受領日を確認"
    # the comment wins over a 貴社連絡欄 written with it
    assert domain.approver_send_back_reason(role, "コメント", "前の連絡", "新しい連絡") == "コメント"


def test_hq_may_give_the_reason_in_the_dealer_note_written_with_the_send_back() -> None:
    assert domain.approver_send_back_reason("hq", "", None, "返却書類の不備") == "返却書類の不備"
    assert domain.approver_send_back_reason("hq", None, "前の連絡", " 今回の連絡 ") == "今回の連絡"


@pytest.mark.parametrize(
    ("role", "note", "before", "after"),
    [
        ("store_manager", None, None, None),
        ("store_manager", "   \n", None, None),
        ("store_manager", "", None, "店長は貴社連絡欄を書けない"),  # only hq's note counts
        ("hq", None, None, None),
        ("hq", "", "前回の理由", "前回の理由"),  # an older round's note is not this send-back's reason
        ("hq", "", "前回の理由", " 前回の理由 "),
        ("hq", "", "前回の理由", ""),  # clearing the note gives no reason either
        ("hq", " ", None, "  "),
    ],
)
def test_a_send_back_without_a_reason_is_refused(
    role: str, note: str | None, before: str | None, after: str | None
) -> None:
    with pytest.raises(Refusal) as refused:
        domain.approver_send_back_reason(role, note, before, after)
    assert refused.value.code == "send_back_reason_required"
    assert refused.value.message == "差戻し理由を入力してください。"


# --------------------------------------------------------------------------------------------
# 受付番号


def test_the_period_is_the_tokyo_month_of_the_submission() -> None:
    # 2026-11-30 15:30 UTC is already 1 December in Tokyo
    assert domain.reception_period(datetime(2026, 11, 30, 14, 59, tzinfo=UTC)) == "2611"
    assert domain.reception_period(datetime(2026, 11, 30, 15, 0, tzinfo=UTC)) == "2612"
    assert domain.reception_period(datetime(2026, 12, 31, 15, 0, tzinfo=UTC)) == "2701"


def test_the_number_reads_like_the_spec_example() -> None:
    assert domain.reception_no("2612", 123) == "2612-000123"
    assert domain.reception_no("2612", 999_999) == "2612-999999"
    assert domain.reception_no("2612", 1_000_000) == "2612-1000000"  # 12 characters, still allowed
    for period, seq in (("2612", 0), ("2612", 10_000_000), ("26123", 1), ("26a2", 1), ("", 1)):
        with pytest.raises(ValueError):
            domain.reception_no(period, seq)


@given(
    moment=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 1), timezones=st.just(UTC)),
    seq=st.integers(min_value=1, max_value=domain.RECEPTION_NO_MAX_SEQ),
)
def test_every_number_is_short_digits_and_a_hyphen_and_names_its_month(moment: datetime, seq: int) -> None:
    no = domain.reception_no(domain.reception_period(moment), seq)
    assert len(no) <= 12 and re.fullmatch(r"[0-9-]+", no)
    assert domain.is_reception_no(no)
    period, number = no.split("-")
    assert int(number) == seq
    tokyo = moment + timedelta(hours=9)
    assert period == f"{tokyo.year % 100:02d}{tokyo.month:02d}"


@given(a=st.integers(1, domain.RECEPTION_NO_MAX_SEQ), b=st.integers(1, domain.RECEPTION_NO_MAX_SEQ))
def test_different_sequences_of_a_month_never_share_a_number(a: int, b: int) -> None:
    assert (domain.reception_no("2612", a) == domain.reception_no("2612", b)) == (a == b)
    assert domain.reception_no("2611", a) != domain.reception_no("2612", b)


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("2612-000123", "2612-000123"),
        ("  2612-000123\t", "2612-000123"),
        ("２６１２－０００１２３", "2612-000123"),  # full width
        ("２６１２ー０００１２３", "2612-000123"),  # the IME's long vowel mark
        ("2612‐000123", "2612-000123"),  # U+2010
        ("2612 - 000123", "2612-000123"),
        ("", ""),
    ],
)
def test_what_people_type_is_normalised(typed: str, normalised: str) -> None:
    assert domain.normalise_reception_no(typed) == normalised


@pytest.mark.parametrize("text", ["2612000123", "2612-00012", "261-000123", "2612-000123X", "abcd-000123"])
def test_other_shapes_are_not_reception_numbers(text: str) -> None:
    assert not domain.is_reception_no(domain.normalise_reception_no(text))
