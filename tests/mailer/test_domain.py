"""SPEC §6: which e-mails a status change or a timeout triggers, to whom, and when none (pure rules)."""

from __future__ import annotations

import pytest

from services.mailer.domain import (
    BACK_STATUSES,
    HQ_CHECK_STATUSES,
    SUBMITTER_CHECK_STATUSES,
    KnownRequest,
    is_newer,
    is_permanent_smtp_failure,
    mails_for_status_change,
    mails_for_timeout,
    message_id_for,
    retry_delay_s,
)
from tests.mailer.factories import ALL_STATUSES, party, status_changed, timed_out

MANAGER = party("d1s1-manager", "伊藤 誠", "store_manager", "manager@example.com")
HQ = party("d1-hq", "森 隆之", "hq", "hq@example.com")
NO_MAIL_HQ = party("d1-hq2", "本部 二郎", "hq", None)


def sent(orders) -> list[tuple[str, str]]:
    return [(o.kind, o.recipient) for o in orders]


# --- 手続完了メール ------------------------------------------------------------------------------


def test_completion_goes_to_contact_and_every_approver_with_an_address() -> None:
    e = status_changed(
        old_status="tfc_processing",
        new_status="completed",
        action="complete",
        actor=None,
        approvers=[MANAGER, NO_MAIL_HQ, HQ],
    )
    orders = mails_for_status_change(e)
    assert sent(orders) == [
        ("completion", "staff@example.com"),
        ("completion", "manager@example.com"),
        ("completion", "hq@example.com"),
    ]
    assert [o.recipient_name for o in orders] == ["佐藤 健一", "伊藤 誠", "森 隆之"]
    assert orders[0].idempotency_key == f"{e.request_id}:v{e.version}:completion:staff@example.com"


@pytest.mark.parametrize(
    ("contact_email", "notify"), [(None, True), ("staff@example.com", False), (None, False)]
)
def test_no_completion_mail_without_contact3_and_the_checkbox(contact_email, notify) -> None:
    e = status_changed(
        old_status="tfc_processing",
        new_status="completed",
        contact_email=contact_email,
        notify_on_completion=notify,
        approvers=[MANAGER, HQ],  # the approvers are not told either
    )
    assert mails_for_status_change(e) == []


def test_completion_recipients_are_merged_case_insensitively() -> None:
    same = party("d1s1-manager", "伊藤 誠", "store_manager", "Staff@Example.com")
    e = status_changed(old_status="tfc_processing", new_status="completed", approvers=[same, HQ, HQ])
    assert sent(mails_for_status_change(e)) == [
        ("completion", "staff@example.com"),
        ("completion", "hq@example.com"),
    ]


def test_completed_again_is_not_a_new_completion() -> None:
    e = status_changed(old_status="completed", new_status="completed", action="note")
    assert mails_for_status_change(e) == []


# --- 差戻しメール -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "actor"),
    [
        ("store_pending", "staff_back", MANAGER),  # 店長 → 営業スタッフ
        ("store_back", "staff_back", MANAGER),
        ("hq_pending", "store_back", HQ),  # 本部 → 店長
        ("hq_pending", "staff_back", HQ),  # no store step
        ("hq_back", "store_back", HQ),
        ("requested", "hq_back", None),  # TFC → 本部承認者
        ("tfc_processing", "store_back", None),
        ("tfc_on_hold", "staff_back", None),
        ("tfc_message", "hq_back", None),
    ],
)
def test_every_send_back_mails_whoever_receives_it(old, new, actor) -> None:
    recipient = party("x", "受取 人", "staff", "receiver@example.com")
    e = status_changed(
        old_status=old, new_status=new, action="send_back", actor=actor, send_back_recipient=recipient
    )
    orders = mails_for_status_change(e)
    assert sent(orders) == [("send_back", "receiver@example.com")]
    assert orders[0].recipient_name == "受取 人"
    assert orders[0].idempotency_key == f"{e.request_id}:v{e.version}:send_back:receiver@example.com"


@pytest.mark.parametrize("new", sorted(BACK_STATUSES))
def test_no_send_back_mail_when_the_receiver_has_no_address(new) -> None:
    nobody = party("d1s1-staff1", "佐藤 健一", "staff", None)
    assert mails_for_status_change(status_changed(new_status=new, send_back_recipient=nobody)) == []
    assert mails_for_status_change(status_changed(new_status=new, send_back_recipient=None)) == []


@pytest.mark.parametrize("status", sorted(BACK_STATUSES))
def test_a_correction_within_a_sent_back_step_is_not_a_send_back(status) -> None:
    recipient = party("x", "受取 人", "staff", "receiver@example.com")
    e = status_changed(old_status=status, new_status=status, action="correct", send_back_recipient=recipient)
    assert mails_for_status_change(e) == []


# --- 承認依頼メール ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "action"),
    [(None, "submit"), ("store_pending", "approve"), ("store_back", "approve"), ("hq_back", "correct")],
)
def test_entering_hq_pending_asks_every_hq_approver(old, action) -> None:
    e = status_changed(
        old_status=old,
        new_status="hq_pending",
        action=action,
        hq_approver_emails=["a@example.com", "b@example.com", "A@example.com"],
    )
    orders = mails_for_status_change(e)
    assert sent(orders) == [("approval_request", "a@example.com"), ("approval_request", "b@example.com")]
    assert {o.recipient_name for o in orders} == {None}


def test_no_approval_request_without_hq_addresses_or_when_already_in_hq_pending() -> None:
    assert mails_for_status_change(status_changed(new_status="hq_pending", hq_approver_emails=[])) == []
    again = status_changed(
        old_status="hq_pending", new_status="hq_pending", hq_approver_emails=["a@example.com"]
    )
    assert mails_for_status_change(again) == []


@pytest.mark.parametrize("new", sorted(set(ALL_STATUSES) - {"completed", "hq_pending"} - BACK_STATUSES))
@pytest.mark.parametrize("old", [None, "store_pending", "requested"])
def test_other_transitions_send_nothing(old, new) -> None:
    if old == new:
        return
    e = status_changed(
        old_status=old,
        new_status=new,
        hq_approver_emails=["a@example.com"],
        send_back_recipient=party("x", "受取 人", "staff", "receiver@example.com"),
        approvers=[HQ],
    )
    assert mails_for_status_change(e) == []


def test_the_same_trigger_gives_the_same_keys_and_another_version_other_keys() -> None:
    e = status_changed(new_status="hq_pending", hq_approver_emails=["a@example.com"])
    again = e.model_copy()
    later = e.model_copy(update={"version": e.version + 2})
    keys = [o.idempotency_key for o in mails_for_status_change(e)]
    assert keys == [o.idempotency_key for o in mails_for_status_change(again)]
    assert set(keys).isdisjoint(o.idempotency_key for o in mails_for_status_change(later))


# --- 手続状況確認メール / 承認状況確認メール --------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(SUBMITTER_CHECK_STATUSES))
def test_status_check_reminds_the_submitter_in_each_waiting_status(status) -> None:
    e = timed_out(status=status, kind="submitter_status_check", period_no=3, version=4)
    orders = mails_for_timeout(e, None)
    assert sent(orders) == [("status_check", "staff@example.com")]
    assert orders[0].recipient_name == "佐藤 健一"
    assert orders[0].idempotency_key == (f"{e.request_id}:timeout:status_check:3:v4:staff@example.com")


@pytest.mark.parametrize("status", sorted(set(ALL_STATUSES) - SUBMITTER_CHECK_STATUSES))
def test_no_status_check_outside_the_waiting_statuses(status) -> None:
    assert mails_for_timeout(timed_out(status=status, kind="submitter_status_check"), None) == []


def test_no_status_check_without_contact3() -> None:
    assert mails_for_timeout(timed_out(contact_email=None), None) == []


@pytest.mark.parametrize("status", sorted(HQ_CHECK_STATUSES))
def test_approval_status_check_reminds_every_hq_approver(status) -> None:
    e = timed_out(
        status=status,
        kind="hq_approval_status_check",
        hq_approver_emails=["a@example.com", "b@example.com"],
        contact_email="staff@example.com",
    )
    assert sent(mails_for_timeout(e, None)) == [
        ("approval_status_check", "a@example.com"),
        ("approval_status_check", "b@example.com"),
    ]


@pytest.mark.parametrize("status", sorted(set(ALL_STATUSES) - HQ_CHECK_STATUSES))
def test_no_approval_status_check_outside_hq_pending(status) -> None:
    e = timed_out(status=status, kind="hq_approval_status_check", hq_approver_emails=["a@example.com"])
    assert mails_for_timeout(e, None) == []


def test_no_approval_status_check_without_hq_addresses() -> None:
    e = timed_out(status="hq_pending", kind="hq_approval_status_check", hq_approver_emails=[])
    assert mails_for_timeout(e, None) == []


def test_each_period_is_its_own_trigger() -> None:
    first = timed_out(period_no=1)
    second = first.model_copy(update={"period_no": 2})
    assert (
        mails_for_timeout(first, None)[0].idempotency_key
        != mails_for_timeout(second, None)[0].idempotency_key
    )
    assert mails_for_timeout(first.model_copy(update={"period_no": 0}), None) == []


@pytest.mark.parametrize(
    ("known", "expect_mail"),
    [
        (None, True),
        (KnownRequest(version=4, status="store_pending"), True),  # the status change we know of
        (KnownRequest(version=3, status="staff_back"), True),  # we are behind: the sweep saw more
        (KnownRequest(version=5, status="hq_pending"), False),  # moved on since the sweep
        (KnownRequest(version=4, status="hq_pending"), False),  # inconsistent: do not nag
    ],
)
def test_a_reminder_for_a_request_that_moved_on_is_stale(known, expect_mail) -> None:
    e = timed_out(status="store_pending", version=4)
    assert bool(mails_for_timeout(e, known)) is expect_mail


def test_is_newer() -> None:
    assert is_newer(None, 1)
    assert is_newer(KnownRequest(1, "requested"), 2)
    assert not is_newer(KnownRequest(2, "requested"), 2)
    assert not is_newer(KnownRequest(3, "requested"), 2)


# --- delivery rules ------------------------------------------------------------------------------


def test_retry_delay_doubles_up_to_the_cap() -> None:
    assert [retry_delay_s(n, 5, 60) for n in range(0, 7)] == [0, 5, 10, 20, 40, 60, 60]
    assert retry_delay_s(10_000, 5, 600) == 600


@pytest.mark.parametrize(
    ("code", "permanent"),
    [
        (None, False),
        (421, False),
        (450, False),
        (499, False),
        (500, True),
        (550, True),
        (554, True),
        (599, True),
    ],
)
def test_only_5xx_replies_are_permanent(code, permanent) -> None:
    assert is_permanent_smtp_failure(code) is permanent


def test_message_id_is_derived_from_the_key() -> None:
    a = message_id_for("r:v1:completion:x@example.com", "j-pass_uketsuke@jpass.example")
    assert a == message_id_for("r:v1:completion:x@example.com", "j-pass_uketsuke@jpass.example")
    assert a != message_id_for("r:v2:completion:x@example.com", "j-pass_uketsuke@jpass.example")
    assert a.startswith("<") and a.endswith("@jpass.example>")
