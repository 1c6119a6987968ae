"""The workflow table against SPEC §5.2–5.3, every combination, plus labels, colours and payload rules.

`spec_next` below is the spec written out as plain if/else (independent of the module's table).
"""

from __future__ import annotations

import itertools
import re
from datetime import date

import pytest

from services.approvals import domain
from services.approvals.domain import Actor, Flow, decide, effective_flow
from shared.refusal import Refusal
from shared.requests import VehicleReturnPayload

ALL_ACTIONS = (
    "approve",
    "send_back",
    "withdraw",
    "correct",
    "accept",
    "hold",
    "message",
    "resume",
    "complete",
)
SETTINGS = list(itertools.product([False, True], repeat=2))  # (store_approval, hq_approval)
SUBMITTER_ROLES = ("staff", "store_manager", "hq")
DUPLICATE = "duplicate"


def spec_next(status: str, action: str, role: str, is_submitter: bool, flow: Flow) -> str | None:
    """SPEC §5.3 as prose → code. None = refused; DUPLICATE = a TFC update already applied."""
    first = "store_pending" if flow.store_step else ("hq_pending" if flow.hq_step else "requested")
    tfc_back = "hq_back" if flow.hq_step else ("store_back" if flow.store_step else "staff_back")
    if role == "tfc":
        sources = {
            "accept": ({"requested"}, "tfc_processing"),
            "hold": ({"tfc_processing", "tfc_message"}, "tfc_on_hold"),
            "message": ({"tfc_processing", "tfc_on_hold", "tfc_message"}, "tfc_message"),
            "resume": ({"tfc_on_hold", "tfc_message"}, "tfc_processing"),
            "complete": ({"tfc_processing", "tfc_on_hold", "tfc_message"}, "completed"),
            "send_back": ({"requested", "tfc_processing", "tfc_on_hold", "tfc_message"}, tfc_back),
        }
        if action not in sources:
            return None
        allowed_from, target = sources[action]
        if status in allowed_from:
            return target
        return DUPLICATE if status == target else None
    if action not in ("approve", "send_back", "withdraw", "correct"):
        return None
    if status in ("completed", "withdrawn"):
        return None
    submitter_may = status in {
        "staff_back",
        "store_pending",
        "store_back",
        "hq_pending",
        "hq_back",
        "requested",
    }
    if is_submitter:
        if action == "withdraw":
            return "withdrawn" if submitter_may else None
        if action == "correct":
            return first if submitter_may else None
        return None  # nobody approves or sends back their own request
    if role == "store_manager" and status in ("store_pending", "store_back"):
        return {
            "approve": "hq_pending" if flow.hq_step else "requested",
            "send_back": "staff_back",
            "correct": status,
        }.get(action)
    if role == "hq" and status in ("hq_pending", "hq_back"):
        return {
            "approve": "requested",
            "send_back": "store_back" if flow.store_step else "staff_back",
            "correct": status,
        }.get(action)
    return None


def combinations():
    for status, action, role, (store_on, hq_on), submitter_role in itertools.product(
        domain.STATUSES, ALL_ACTIONS, domain.ACTOR_ROLES, SETTINGS, SUBMITTER_ROLES
    ):
        for is_submitter in (False, True):
            if is_submitter and role != submitter_role:
                continue
            yield status, action, role, is_submitter, store_on, hq_on, submitter_role


def test_every_combination_matches_the_spec() -> None:
    walked = allowed = 0
    for status, action, role, is_submitter, store_on, hq_on, submitter_role in combinations():
        flow = effective_flow(store_on, hq_on, submitter_role)
        actor = Actor(role, is_submitter)  # type: ignore[arg-type]
        expected = spec_next(status, action, role, is_submitter, flow)
        case = (status, action, role, is_submitter, store_on, hq_on, submitter_role)
        walked += 1
        if expected is None:
            with pytest.raises(Refusal) as refused:
                decide(status, action, actor, flow, flow_now=flow, new_tfc_message="連絡")
            assert re.search(r"[ぁ-んァ-ン一-龥]", refused.value.message), case
            assert refused.value.code, case
            continue
        outcome = decide(status, action, actor, flow, flow_now=flow, new_tfc_message="連絡")
        if expected == DUPLICATE:
            assert outcome.duplicate and outcome.status == status, case
            continue
        allowed += 1
        assert not outcome.duplicate, case
        assert outcome.status == expected, case
        assert outcome.restart == (is_submitter and action == "correct"), case
    assert walked == 11 * 9 * 4 * 4 * 3 + 11 * 9 * 4 * 3  # role==submitter_role adds the submitter case
    assert allowed > 100


def test_self_approval_is_skipped() -> None:
    assert effective_flow(True, True, "staff") == Flow(True, True)
    assert effective_flow(True, True, "store_manager") == Flow(False, True)
    assert effective_flow(True, True, "hq") == Flow(False, False)
    assert domain.first_status(effective_flow(True, True, "store_manager")) == "hq_pending"
    assert domain.first_status(effective_flow(True, True, "hq")) == "requested"
    # the store manager's own request sent back by hq goes to the submitter
    flow = effective_flow(True, True, "store_manager")
    assert decide("hq_pending", "send_back", Actor("hq"), flow).status == "staff_back"
    assert (
        decide("requested", "send_back", domain.TFC, effective_flow(True, True, "hq")).status == "staff_back"
    )


def test_submitter_correction_restarts_on_the_current_settings() -> None:
    old = Flow(store_step=False, hq_step=False)
    new = Flow(store_step=True, hq_step=True)
    outcome = decide("requested", "correct", Actor("staff", True), old, flow_now=new)
    assert outcome == domain.Outcome("store_pending", new, restart=True)
    # an approver's correction keeps the request where it is
    outcome = decide("hq_back", "correct", Actor("hq"), new, flow_now=old)
    assert outcome == domain.Outcome("hq_back", new)


def test_refusal_messages_are_specific() -> None:
    flow = Flow(True, True)
    with pytest.raises(Refusal, match="取下げ・訂正はできません") as e:
        decide("tfc_processing", "withdraw", Actor("staff", True), flow)
    assert e.value.code == "tfc_processing_locked"
    with pytest.raises(Refusal, match="本部承認者のみ"):
        decide("hq_pending", "approve", Actor("store_manager"), flow)
    with pytest.raises(Refusal, match="店舗承認者（店長）のみ"):
        decide("store_pending", "approve", Actor("staff"), flow)
    with pytest.raises(Refusal, match="「完了」のため"):
        decide("completed", "correct", Actor("staff", True), flow)
    with pytest.raises(Refusal, match="起票者のみ"):
        decide("store_pending", "withdraw", Actor("store_manager"), flow)
    with pytest.raises(Refusal, match="連絡事項が入力されていません"):
        decide("tfc_processing", "message", domain.TFC, flow, new_tfc_message=" ")


def test_tfc_message_duplicates_and_replacements() -> None:
    flow = Flow(False, False)
    same = decide("tfc_message", "message", domain.TFC, flow, tfc_message="a", new_tfc_message="a")
    assert same.duplicate
    other = decide("tfc_message", "message", domain.TFC, flow, tfc_message="a", new_tfc_message="b")
    assert not other.duplicate and other.status == "tfc_message"


def test_labels_and_colours_exactly_as_the_spec() -> None:
    assert domain.STATUS_LABELS == {
        "staff_back": "担当者手続中（差戻）",
        "store_pending": "店舗承認者手続中",
        "store_back": "店舗承認者手続中（差戻）",
        "hq_pending": "本部承認者手続中",
        "hq_back": "本部承認者手続中（差戻）",
        "requested": "依頼中",
        "tfc_processing": "TFC対応中（取下げ・訂正NG）",
        "tfc_on_hold": "TFC対応保留",
        "tfc_message": "TFC連絡事項入力中",
        "completed": "完了",
        "withdrawn": "取下げ",
    }
    reds = {s for s in domain.STATUSES if domain.status_colour(s) == "red"}
    yellows = {s for s in domain.STATUSES if domain.status_colour(s) == "yellow"}
    assert reds == {"staff_back", "store_back", "hq_back"}
    assert yellows == {"store_pending", "hq_pending"}


def test_allowed_actions_are_the_buttons() -> None:
    flow = Flow(True, True)
    assert domain.allowed_actions("store_pending", Actor("store_manager"), flow) == [
        "approve",
        "send_back",
        "correct",
    ]
    assert domain.allowed_actions("store_pending", Actor("staff", True), flow) == ["withdraw", "correct"]
    assert domain.allowed_actions("store_pending", Actor("staff"), flow) == []
    assert domain.allowed_actions("tfc_processing", Actor("staff", True), flow) == []


def test_payload_rules() -> None:
    today = date(2026, 4, 30)
    good = {"contact1": "03-1234-5678", "result": "returned", "returned_on": "2026-04-30"}
    data, errors = domain.validate_payload(VehicleReturnPayload, good, submitter_role="staff", today=today)
    assert errors == {} and data is not None and data["returned_on"] == "2026-04-30"
    future = {**good, "returned_on": "2026-05-01"}
    assert (
        "returned_on"
        in domain.validate_payload(VehicleReturnPayload, future, submitter_role="staff", today=today)[1]
    )
    assert (
        "contact3_email"
        in domain.validate_payload(VehicleReturnPayload, good, submitter_role="hq", today=today)[1]
    )
    bad = {"contact1": "abc", "result": "not_returned", "not_returned_reason": "other"}
    _, errors = domain.validate_payload(VehicleReturnPayload, bad, submitter_role="staff", today=today)
    assert "contact1" in errors
    assert domain.payload_changes({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {"b": [2, 3], "c": [None, 4]}
