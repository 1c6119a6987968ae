"""Use cases of the consumers: an event in, pending e-mails recorded (in the consumer's transaction)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.mailer import domain
from services.mailer.db import MAIL_PENDING, KnownRequestRow, Mail, utcnow
from services.mailer.render import MailFacts, MailRenderer, facts_from_status_change, facts_from_timeout
from shared.db import rows_changed, upsert
from shared.events import RequestStatusChanged, RequestTimedOut
from shared.observability import current_trace_headers


@dataclass(frozen=True)
class RequestRef:
    """Where a mail belongs (the mail log's scope and link)."""

    request_id: str
    request_type: str
    version: int
    contract_no: str
    dealer_code: str
    store_code: str
    reception_no: str | None = None


async def record_status_change(
    session: AsyncSession, event: RequestStatusChanged, renderer: MailRenderer, mail_from: str
) -> int:
    """Returns how many new mails were recorded (0 for a duplicate trigger)."""
    await _remember(session, event)
    orders = domain.mails_for_status_change(event)
    ref = RequestRef(
        event.request_id,
        event.type,
        event.version,
        event.contract_no,
        event.dealer_code,
        event.store_code,
        event.reception_no,
    )
    return await _record(session, orders, ref, facts_from_status_change(event), renderer, mail_from)


async def record_timeout(
    session: AsyncSession, event: RequestTimedOut, renderer: MailRenderer, mail_from: str
) -> int:
    row = await session.get(KnownRequestRow, event.request_id)
    known = domain.KnownRequest(row.version, row.status) if row is not None else None
    orders = domain.mails_for_timeout(event, known)
    ref = RequestRef(
        event.request_id,
        event.type,
        event.version,
        event.contract_no,
        event.dealer_code,
        event.store_code,
        event.reception_no,
    )
    return await _record(session, orders, ref, facts_from_timeout(event), renderer, mail_from)


async def _remember(session: AsyncSession, event: RequestStatusChanged) -> None:
    row = await session.get(KnownRequestRow, event.request_id, with_for_update=True)
    known = domain.KnownRequest(row.version, row.status) if row is not None else None
    if not domain.is_newer(known, event.version):
        return
    if row is None:
        session.add(
            KnownRequestRow(request_id=event.request_id, version=event.version, status=event.new_status)
        )
    else:
        row.version, row.status = event.version, event.new_status
    await session.flush()


async def _record(
    session: AsyncSession,
    orders: list[domain.MailOrder],
    ref: RequestRef,
    facts: MailFacts,
    renderer: MailRenderer,
    mail_from: str,
) -> int:
    now = utcnow()
    recorded = 0
    for order in orders:
        content = renderer.render(order.kind, facts, order.recipient_name)
        recorded += await rows_changed(
            session,
            upsert(session, Mail)
            .values(
                idempotency_key=order.idempotency_key,
                message_id=domain.message_id_for(order.idempotency_key, mail_from),
                kind=order.kind,
                request_id=ref.request_id,
                request_type=ref.request_type,
                request_version=ref.version,
                reception_no=ref.reception_no,
                contract_no=ref.contract_no,
                dealer_code=ref.dealer_code,
                store_code=ref.store_code,
                recipient=order.recipient,
                subject=content.subject,
                body_text=content.text,
                body_html=content.html,
                status=MAIL_PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                traceparent=current_trace_headers().get("traceparent"),
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"]),
        )
    return recorded
