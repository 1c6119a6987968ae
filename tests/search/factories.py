"""Builders of TFC snapshots and internal events for the search tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from shared.events import (
    ASSIGNMENT_CHANGED,
    MEMO_UPDATED,
    REQUEST_STATUS_CHANGED,
    SELECTION_RECORDED,
    AssignmentChanged,
    Envelope,
    MemoUpdated,
    Party,
    RawEnvelope,
    RequestStatusChanged,
    SelectionRecorded,
)
from tests.factories import STORE_NAMES as STORES
from tests.factories import contract_snapshot

STAFF = Party(user_id="d1s1-staff1", name="佐藤 健一", role="staff")
MANAGER = Party(user_id="d1s1-manager", name="伊藤 誠", role="store_manager")
AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


# Search's cases: final payment in August 2026, first registration in April 2023.
snapshot = partial(
    contract_snapshot,
    final_payment_date=date(2026, 8, 20),
    first_registration_date="2023-04-10",
)


def envelope(type_: str, subject: str, data: Any, event_id: str | None = None) -> RawEnvelope:
    env = Envelope[Any](
        id=event_id or str(uuid.uuid4()),
        source="tests",
        type=type_,
        subject=subject,
        data=data.model_dump(mode="json"),
    )
    return RawEnvelope.model_validate(env.model_dump(mode="json"))


def selection(
    no: str,
    seq: int,
    *,
    category: str = "cash",
    replacement: str = "no",
    store: str = "S0101",
    model: str | None = None,
    dealer: str = "D001",
) -> RawEnvelope:
    data = SelectionRecorded(
        contract_no=no,
        dealer_code=dealer,
        store_code=store,
        seq=seq,
        category=category,  # type: ignore[arg-type]
        replacement=replacement,  # type: ignore[arg-type]
        replacement_model=model,
        confirmation_received_on=date(2026, 4, 28),
        late=False,
        recorded_by=STAFF,
        recorded_at=AT,
    )
    return envelope(SELECTION_RECORDED, no, data)


def memo(no: str, seq: int, text: str) -> RawEnvelope:
    data = MemoUpdated(contract_no=no, dealer_code="D001", seq=seq, text=text, author=STAFF, updated_at=AT)
    return envelope(MEMO_UPDATED, no, data)


def assignment(
    no: str, seq: int, *, to: str = "S0102", frm: str = "S0101", staff: str = "010201"
) -> RawEnvelope:
    data = AssignmentChanged(
        contract_no=no,
        dealer_code="D001",
        seq=seq,
        from_store_code=frm,
        store_code=to,
        store_name=STORES[to],
        staff_code=staff,
        changed_by=MANAGER,
        changed_at=AT,
    )
    return envelope(ASSIGNMENT_CHANGED, no, data)


def request_status(
    no: str,
    request_id: str,
    version: int,
    status: str,
    label: str,
    *,
    old: str | None = None,
    at: datetime = AT,
) -> RawEnvelope:
    data = RequestStatusChanged(
        request_id=request_id,
        type="vehicle_return",
        contract_no=no,
        contractor_name="山田 太郎",
        dealer_code="D001",
        store_code="S0101",
        version=version,
        action="submit",
        old_status=old,
        new_status=status,
        new_status_label=label,
        actor=STAFF,
        submitter=STAFF,
        at=at,
    )
    return envelope(REQUEST_STATUS_CHANGED, request_id, data)
