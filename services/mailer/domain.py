"""Which e-mails a request event triggers (SPEC §6). Pure rules: no I/O, no framework.

One `MailOrder` per (trigger, recipient). Its idempotency key names the trigger (request, version,
kind, and for reminders the period) and the recipient, so the same trigger arriving twice — the same
event redelivered, or republished under a new envelope id — never yields a second e-mail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from shared.events import RequestStatusChanged, RequestTimedOut

MailKind = Literal["completion", "status_check", "send_back", "approval_request", "approval_status_check"]

KIND_LABELS: dict[str, str] = {
    "completion": "手続完了メール",
    "status_check": "手続状況確認メール",
    "send_back": "差戻しメール",
    "approval_request": "承認依頼メール",
    "approval_status_check": "承認状況確認メール",
}

COMPLETED = "completed"
HQ_PENDING = "hq_pending"
BACK_STATUSES = frozenset({"staff_back", "store_back", "hq_back"})
# 手続状況確認メール: a week unchanged in one of these (manual II-6 8).
SUBMITTER_CHECK_STATUSES = frozenset({"store_pending", "hq_pending", "staff_back", "store_back", "hq_back"})
# 承認状況確認メール: three days unchanged in 本部承認者手続中 (manual II-7 5).
HQ_CHECK_STATUSES = frozenset({HQ_PENDING})


@dataclass(frozen=True)
class MailOrder:
    kind: MailKind
    recipient: str
    recipient_name: str | None
    idempotency_key: str


@dataclass(frozen=True)
class KnownRequest:
    """The newest status change of a request the mailer has seen."""

    version: int
    status: str


def normalise_address(address: str) -> str:
    return address.strip().lower()


def _unique(candidates: Iterable[tuple[str | None, str | None]]) -> list[tuple[str, str | None]]:
    """Addresses in order of first appearance, blanks dropped, duplicates (case-insensitive) merged."""
    seen: set[str] = set()
    out: list[tuple[str, str | None]] = []
    for address, name in candidates:
        if not address or not address.strip():
            continue
        key = normalise_address(address)
        if key in seen:
            continue
        seen.add(key)
        out.append((address.strip(), name))
    return out


def status_change_key(request_id: str, version: int, kind: str, recipient: str) -> str:
    return f"{request_id}:v{version}:{kind}:{normalise_address(recipient)}"


def timeout_key(request_id: str, kind: str, period_no: int, version: int, recipient: str) -> str:
    return f"{request_id}:timeout:{kind}:{period_no}:v{version}:{normalise_address(recipient)}"


def message_id_for(idempotency_key: str, from_address: str) -> str:
    """A Message-ID derived from the key: a resend after a crash carries the same id (receivers and
    relays that dedupe by Message-ID drop it)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = from_address.rsplit("@", 1)[-1] or "jpass.invalid"
    return f"<{digest}@{domain}>"


def is_send_back(event: RequestStatusChanged) -> bool:
    """A 差戻し (by the store manager, hq or TFC): only a send-back moves a request into a *_back status."""
    return event.new_status in BACK_STATUSES and event.old_status != event.new_status


# What the recipient of a 差戻しメール can do (SPEC §9.1): the submitter corrects and resends or withdraws;
# an approver (store manager, hq) corrects, approves or sends back — never withdraws.
SUBMITTER_SEND_BACK_ACTIONS = ("訂正・再送信", "取下げ")
APPROVER_SEND_BACK_ACTIONS = ("訂正", "承認", "差戻し")


def send_back_actions(event: RequestStatusChanged) -> tuple[str, ...]:
    """What the send-back's recipient can do: staff_back is the submitter's step, the others an approver's."""
    if not is_send_back(event):
        return ()
    return SUBMITTER_SEND_BACK_ACTIONS if event.new_status == "staff_back" else APPROVER_SEND_BACK_ACTIONS


def mails_for_status_change(event: RequestStatusChanged) -> list[MailOrder]:
    if event.old_status == event.new_status:
        return []  # a correction within a step, not a transition
    if event.new_status == COMPLETED:
        kind: MailKind = "completion"
        recipients = _completion_recipients(event)
    elif is_send_back(event):
        kind = "send_back"
        r = event.send_back_recipient
        recipients = _unique([(r.email, r.name)]) if r is not None else []
    elif event.new_status == HQ_PENDING:
        kind = "approval_request"
        recipients = _unique((a, None) for a in event.hq_approver_emails)
    else:
        return []
    return [
        MailOrder(kind, address, name, status_change_key(event.request_id, event.version, kind, address))
        for address, name in recipients
    ]


def _completion_recipients(event: RequestStatusChanged) -> list[tuple[str, str | None]]:
    # Only when 連絡先3 is given and the submitter asked for it; then the approvers are told too.
    if not event.contact_email or not event.notify_on_completion:
        return []
    return _unique(
        [(event.contact_email, event.submitter.name), *((a.email, a.name) for a in event.approvers)]
    )


def mails_for_timeout(event: RequestTimedOut, known: KnownRequest | None) -> list[MailOrder]:
    """A reminder, unless the request moved on since the sweep saw it (the status change wins)."""
    if known is not None and (
        known.version > event.version or (known.version == event.version and known.status != event.status)
    ):
        return []
    if event.period_no < 1:
        return []
    if event.kind == "submitter_status_check":
        if event.status not in SUBMITTER_CHECK_STATUSES:
            return []
        kind: MailKind = "status_check"
        recipients = _unique([(event.contact_email, event.submitter.name)])
    else:
        if event.status not in HQ_CHECK_STATUSES:
            return []
        kind = "approval_status_check"
        recipients = _unique((a, None) for a in event.hq_approver_emails)
    return [
        MailOrder(
            kind,
            address,
            name,
            timeout_key(event.request_id, kind, event.period_no, event.version, address),
        )
        for address, name in recipients
    ]


def is_newer(known: KnownRequest | None, version: int) -> bool:
    return known is None or version > known.version


# Delivery: what to do after a failed SMTP attempt.


def retry_delay_s(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential backoff after the `attempts`-th failure: base, 2·base, 4·base… capped at max."""
    if attempts < 1:
        return 0.0
    return float(min(base_s * 2 ** min(attempts - 1, 30), max_s))


def is_permanent_smtp_failure(code: int | None) -> bool:
    """5xx replies to a recipient or to the message itself will not change by retrying."""
    return code is not None and 500 <= code < 600
