"""Events as approvals publishes them, built with sensible defaults (override any field)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shared.events import (
    REQUEST_STATUS_CHANGED,
    REQUEST_TIMED_OUT,
    Envelope,
    Party,
    RequestStatusChanged,
    RequestTimedOut,
)

STATUS_LABELS = {
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
ALL_STATUSES = tuple(STATUS_LABELS)


def party(
    user_id: str = "d1s1-staff1", name: str = "佐藤 健一", role: str = "staff", email: str | None = None
):
    return Party(user_id=user_id, name=name, role=role, email=email)  # type: ignore[arg-type]


def status_changed(**kw: Any) -> RequestStatusChanged:
    new_status = kw.pop("new_status", "requested")
    base: dict[str, Any] = dict(
        request_id=str(uuid.uuid4()),
        type="vehicle_return",
        contract_no="C000001",
        contractor_name="山田 太郎",
        dealer_code="D001",
        store_code="S0101",
        version=2,
        action="approve",
        old_status="store_pending",
        new_status=new_status,
        new_status_label=STATUS_LABELS[new_status],
        actor=party("d1s1-manager", "伊藤 誠", "store_manager", "manager@example.com"),
        submitter=party(),
        approvers=[],
        contact_email="staff@example.com",
        notify_on_completion=True,
        hq_approver_emails=[],
        send_back_recipient=None,
        dealer_note=None,
        tfc_message=None,
        at=datetime.now(UTC),
    )
    base.update(kw)
    return RequestStatusChanged(**base)


def timed_out(**kw: Any) -> RequestTimedOut:
    status = kw.pop("status", "store_pending")
    base: dict[str, Any] = dict(
        request_id=str(uuid.uuid4()),
        type="vehicle_return",
        kind="submitter_status_check",
        period_no=1,
        contract_no="C000001",
        contractor_name="山田 太郎",
        dealer_code="D001",
        store_code="S0101",
        status=status,
        status_label=STATUS_LABELS[status],
        version=1,
        submitter=party(),
        contact_email="staff@example.com",
        hq_approver_emails=[],
        at=datetime.now(UTC),
    )
    base.update(kw)
    return RequestTimedOut(**base)


def envelope(event: RequestStatusChanged | RequestTimedOut, **kw: Any) -> Envelope[Any]:
    type_ = REQUEST_STATUS_CHANGED if isinstance(event, RequestStatusChanged) else REQUEST_TIMED_OUT
    return Envelope(source="approvals", type=type_, subject=event.request_id, data=event, **kw)
