"""Tables of the mailer service (its own database)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import Inbox, Outbox


class Base(DeclarativeBase):
    pass


MAIL_PENDING = "pending"
MAIL_SENT = "sent"
MAIL_FAILED = "failed"


class Mail(Base):
    """One e-mail to one recipient for one trigger. Recorded by the consumer in the same transaction
    as its inbox entry; delivered by the background sender. The unique idempotency key is what makes
    a trigger yield at most one row, whatever the number of events that carry it."""

    __tablename__ = "mails"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(512), unique=True)
    message_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))
    request_type: Mapped[str] = mapped_column(String(32))
    request_version: Mapped[int] = mapped_column(Integer)
    reception_no: Mapped[str | None] = mapped_column(String(12), nullable=True)  # 受付番号; older: None
    contract_no: Mapped[str] = mapped_column(String(32))
    dealer_code: Mapped[str] = mapped_column(String(16))
    store_code: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=MAIL_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # W3C trace context of the event that triggered the mail: the sender continues that trace.
    traceparent: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_mails_due", "status", "next_attempt_at"),
        Index("ix_mails_dealer_created", "dealer_code", "created_at"),
        Index("ix_mails_request", "request_id"),
    )


class KnownRequestRow(Base):
    """The newest status change seen per request: a reminder for an older version is stale."""

    __tablename__ = "known_requests"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything stored here is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
