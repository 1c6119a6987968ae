"""The rules every service applies identically (shared.rules), at their boundaries and against an oracle."""

from __future__ import annotations

import calendar
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import rules
from shared.rules import Owner, Reassignment, RequestFact, TfcOwnership

# --------------------------------------------------------------------------------------------
# Statuses and labels: one closed set


def test_request_statuses_are_one_closed_set() -> None:
    assert len(rules.REQUEST_STATUSES) == 11
    assert rules.OPEN_REQUEST_STATUSES | rules.CLOSED_REQUEST_STATUSES == set(rules.REQUEST_STATUSES)
    assert rules.CLOSED_REQUEST_STATUSES == {"completed", "withdrawn"}
    assert all(rules.request_is_open(s) for s in rules.OPEN_REQUEST_STATUSES)
    assert rules.request_is_open(rules.SUBMITTED)
    assert not any(rules.request_is_open(s) for s in rules.CLOSED_REQUEST_STATUSES)


def test_every_service_uses_the_shared_labels_and_statuses() -> None:
    from services.approvals import domain as approvals
    from services.returns import domain as returns
    from services.search import rules as search
    from services.selection import labels as selection

    assert approvals.STATUS_LABELS == rules.REQUEST_STATUS_LABELS
    assert returns.CLOSED_STATUSES == rules.CLOSED_REQUEST_STATUSES
    assert search.REQUEST_CLOSED_STATUSES == rules.CLOSED_REQUEST_STATUSES
    for labels in (returns.SELECTION_LABELS, search.SELECTION_LABELS, selection.CATEGORY_LABELS):
        assert labels == rules.CATEGORY_LABELS


# --------------------------------------------------------------------------------------------
# Calendar


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 4, 30), -2, date(2026, 2, 28)),
        (date(2028, 4, 30), -2, date(2028, 2, 29)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2026, 5, 31), -9, date(2025, 8, 31)),
    ],
)
def test_add_months_clamps_to_the_month_end(day: date, months: int, expected: date) -> None:
    assert rules.add_months(day, months) == expected


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2900, 12, 31)), st.integers(-120, 120))
def test_add_months_moves_exactly_that_many_calendar_months(day: date, months: int) -> None:
    moved = rules.add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day == min(day.day, calendar.monthrange(moved.year, moved.month)[1])


def test_the_deadlines_and_windows() -> None:
    final = date(2026, 5, 31)
    assert rules.result_input_deadline(final) == date(2026, 3, 31)
    assert rules.category_change_deadline(final) == date(2026, 4, 30)
    assert rules.replacement_required_from(final) == date(2026, 1, 31)
    assert rules.refinance_window(final) == (date(2025, 8, 31), final)
    assert not rules.refinance_available(final, date(2025, 8, 30))
    assert rules.refinance_available(final, date(2025, 8, 31))
    assert rules.refinance_available(final, final)
    assert not rules.refinance_available(final, date(2026, 6, 1))


# --------------------------------------------------------------------------------------------
# Ownership

A = Owner("S0101", "品川店", "010101")
A_RENAMED = Owner("S0101", "品川本店", "010101")
A_Z = Owner("S0101", "品川店", "010109")
B = Owner("S0102", "世田谷店", "010201")
C = Owner("S0103", "目黒店", "010301")


def test_tfc_ownership_remembers_since_when_it_is_unchanged() -> None:
    first = rules.tfc_after_snapshot(None, A, 1)
    assert first == TfcOwnership(A, 1, 1)
    same = rules.tfc_after_snapshot(first, A_RENAMED, 2)  # a store's new name is not a move
    assert same == TfcOwnership(A_RENAMED, 2, 1)
    staff = rules.tfc_after_snapshot(same, A_Z, 3)  # a staff change is
    assert staff == TfcOwnership(A_Z, 3, 3)


def test_a_reassignment_stands_until_tfc_changes_store_or_staff() -> None:
    tfc = TfcOwnership(A, 1, 1)
    moved = Reassignment(B, seq=5, basis_version=1)
    assert rules.effective_owner(tfc, moved) == B
    assert rules.effective_owner(rules.tfc_after_snapshot(tfc, A, 2), moved) == B  # unchanged feed
    # The finding: TFC changes only the staff (A / z): from then on TFC's store and staff stand.
    assert rules.effective_owner(rules.tfc_after_snapshot(tfc, A_Z, 2), moved) == A_Z
    # TFC moves it where J-PASS put it, or anywhere: TFC's owner
    assert rules.effective_owner(rules.tfc_after_snapshot(tfc, C, 2), moved) == C
    # a reassignment made after TFC's change stands again
    later = Reassignment(B, seq=6, basis_version=2)
    assert rules.effective_owner(rules.tfc_after_snapshot(tfc, A_Z, 2), later) == B
    assert rules.effective_owner(None, moved) == B  # an event before the first snapshot
    assert rules.effective_owner(tfc, None) == A
    assert rules.effective_owner(None, None) is None


def test_the_newest_reassignment_wins() -> None:
    one, two = Reassignment(B, 1, 0), Reassignment(C, 2, 0)
    assert rules.newer_reassignment(None, one) == one
    assert rules.newer_reassignment(one, two) == two
    assert rules.newer_reassignment(two, one) == two


def _sequential_oracle(steps: list[tuple[str, Owner]]) -> Owner:
    """Selection's point of view, written independently: apply snapshots and reassignments in the order
    they happened; a snapshot that changes TFC's store or staff drops the reassignment."""
    tfc: Owner | None = None
    reassigned: Owner | None = None
    for kind, owner in steps:
        if kind == "snapshot":
            if tfc is not None and (tfc.store_code, tfc.staff_code) != (owner.store_code, owner.staff_code):
                reassigned = None
            tfc = owner
        else:
            reassigned = owner
    assert tfc is not None
    return reassigned or tfc


OWNERS = st.sampled_from([A, A_RENAMED, A_Z, B, C])


@given(
    first=OWNERS,
    steps=st.lists(st.tuples(st.sampled_from(["snapshot", "reassign"]), OWNERS), max_size=12),
    data=st.data(),
)
def test_any_interleaving_of_the_two_streams_gives_the_sequential_owner(
    first: Owner, steps: list[tuple[str, Owner]], data: st.DataObject
) -> None:
    """What happened: snapshots and reassignments in one order (selection's). What a read model sees:
    the snapshots in order and the reassignments in order, interleaved any way. Same owner in the end."""
    history = [("snapshot", first), *steps]
    version, seq = 0, 0
    snapshots: list[tuple[int, Owner]] = []
    reassignments: list[Reassignment] = []
    for kind, owner in history:
        if kind == "snapshot":
            version += 1
            snapshots.append((version, owner))
        else:
            seq += 1
            reassignments.append(Reassignment(owner, seq, basis_version=version))
    # a random merge of the two streams, each kept in its order
    order = data.draw(st.permutations(["s"] * len(snapshots) + ["r"] * len(reassignments)))
    tfc: TfcOwnership | None = None
    standing: Reassignment | None = None
    s_iter, r_iter = iter(snapshots), iter(reassignments)
    for which in order:
        if which == "s":
            v, owner = next(s_iter)
            tfc = rules.tfc_after_snapshot(tfc, owner, v)
        else:
            standing = rules.newer_reassignment(standing, next(r_iter))
    assert rules.effective_owner(tfc, standing) == _sequential_oracle(history)


# --------------------------------------------------------------------------------------------
# Requests: one return per contract; a completed return is final


def fact(status: str, type_: str = "vehicle_return", rid: str = "r1") -> RequestFact:
    return RequestFact(rid, type_, status)


@pytest.mark.parametrize("status", sorted(rules.OPEN_REQUEST_STATUSES | {rules.SUBMITTED}))
def test_an_open_return_refuses_a_second_and_locks_the_category(status: str) -> None:
    facts = [fact(status)]
    assert rules.request_state(facts, "vehicle_return") == "open"
    refusal = rules.may_submit_request(facts, "vehicle_return")
    assert refusal is not None and refusal.code == "open_request_exists"
    for other in ("cash", "early_payoff", "refinance"):
        change = rules.may_change_category(facts, "vehicle_return", other)
        assert change is not None and change.code == "open_request_exists" and "取下げ" in change.message
    assert rules.may_change_category(facts, "vehicle_return", "vehicle_return") is None  # 自社代替 only


def test_a_completed_return_is_final() -> None:
    facts = [fact("withdrawn", rid="r0"), fact("completed", rid="r1")]
    assert rules.request_state(facts, "vehicle_return") == "completed"
    refusal = rules.may_submit_request(facts, "vehicle_return")
    assert refusal is not None and refusal.code == "request_completed"
    for category in rules.CATEGORIES:
        change = rules.may_change_category(facts, "vehicle_return", category)
        assert change is not None and change.code == "request_completed"


def test_after_a_withdrawal_the_normal_rules_apply_again() -> None:
    facts = [fact("withdrawn")]
    assert rules.request_state(facts, "vehicle_return") == "none"
    assert rules.may_submit_request(facts, "vehicle_return") is None
    assert rules.may_change_category(facts, "vehicle_return", "cash") is None
    assert rules.may_change_category([], None, "cash") is None


def test_an_unknown_status_from_a_newer_producer_counts_as_open() -> None:
    assert rules.request_state([fact("tfc_something_new")], "vehicle_return") == "open"


def test_requests_of_another_type_do_not_lock_returns() -> None:
    facts = [fact("hq_pending", type_="other_type")]
    assert rules.may_submit_request(facts, "vehicle_return") is None
    assert rules.may_change_category(facts, "vehicle_return", "cash") is None


# --------------------------------------------------------------------------------------------
# The request types of SPEC §9.2: the same rules per type


TYPES_AND_CATEGORIES = [
    ("vehicle_return", "vehicle_return"),
    ("refinance_application", "refinance"),
    ("early_payoff", "early_payoff"),
]


def test_every_type_belongs_to_a_category_and_has_a_label() -> None:
    assert rules.REQUEST_TYPE_CATEGORY == dict(TYPES_AND_CATEGORIES)
    assert rules.REQUEST_TYPE_LABELS == {
        "vehicle_return": "車両返却",
        "refinance_application": "再分割審査申込",
        "early_payoff": "早期完済受付",
    }
    assert set(rules.REQUEST_TYPE_CATEGORY.values()) <= set(rules.CATEGORIES)


@pytest.mark.parametrize(("request_type", "category"), TYPES_AND_CATEGORIES)
def test_one_open_request_per_contract_and_type(request_type: str, category: str) -> None:
    label = rules.REQUEST_TYPE_LABELS[request_type]
    facts = [fact("hq_pending", type_=request_type)]
    refusal = rules.may_submit_request(facts, request_type)
    assert refusal is not None and refusal.code == "open_request_exists" and label in refusal.message
    others = [t for t, _ in TYPES_AND_CATEGORIES if t != request_type]
    assert all(rules.may_submit_request(facts, other) is None for other in others)  # per type
    # No category change under an open request of that category; staying in it is fine.
    for other in rules.CATEGORIES:
        change = rules.may_change_category(facts, category, other)
        if other == category:
            assert change is None
        else:
            assert change is not None and change.code == "open_request_exists" and label in change.message
    assert rules.category_lock(facts, category) is not None


@pytest.mark.parametrize(("request_type", "category"), TYPES_AND_CATEGORIES)
def test_a_completed_request_of_any_type_is_final(request_type: str, category: str) -> None:
    result = "approved" if request_type == "refinance_application" else None
    facts = [RequestFact("r1", request_type, "completed", result)]
    assert rules.request_state(facts, request_type) == "completed"
    refusal = rules.may_submit_request(facts, request_type)
    assert refusal is not None and refusal.code == "request_completed"
    for other in rules.CATEGORIES:
        change = rules.may_change_category(facts, category, other)
        assert change is not None and change.code == "request_completed"
    assert not rules.declined_frees_category(facts, category)


def test_a_declined_refinance_application_is_not_final_and_frees_the_category() -> None:
    declined = [RequestFact("r1", "refinance_application", "completed", "declined")]
    assert not rules.request_is_final(declined[0])
    assert rules.request_state(declined, "refinance_application") == "none"
    assert (
        rules.may_submit_request(declined, "refinance_application") is None
    )  # a new plan may be applied for
    assert rules.may_change_category(declined, "refinance", "cash") is None
    assert rules.category_lock(declined, "refinance") is None
    assert rules.declined_frees_category(declined, "refinance")
    assert not rules.declined_frees_category(declined, "cash")  # only while 再分割 is still recorded
    assert not rules.declined_frees_category([fact("withdrawn", "refinance_application")], "refinance")
    # A new application after the declined one holds the category again while it is open.
    reopened = [*declined, RequestFact("r2", "refinance_application", "store_pending")]
    change = rules.may_change_category(reopened, "refinance", "cash")
    assert change is not None and change.code == "open_request_exists"


def test_the_vehicle_return_messages_are_unchanged() -> None:
    refusal = rules.may_submit_request([fact("requested")], "vehicle_return")
    assert refusal is not None
    assert (refusal.kind, refusal.code, refusal.message) == (
        "conflict",
        "open_request_exists",
        rules.MSG_SECOND_RETURN_OPEN,
    )
    assert (
        rules.MSG_SECOND_RETURN_OPEN
        == "このご契約には手続中の車両返却の申込がすでにあります。進捗一覧でご確認ください。"
    )
    assert (
        rules.MSG_RETURN_COMPLETED
        == "このご契約の車両返却の手続は完了しています。新たな車両返却の申込はできません。"
    )
