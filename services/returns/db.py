"""Tables of the returns service (its own database, shared by all its instances).

Copies of other services' facts (contracts, selection category and store, request statuses) and the
submissions themselves. `open_returns` holds at most one row per contract (its primary key): the
database, not a process, guarantees one open return request per contract across instances.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import Inbox, Outbox


class Base(DeclarativeBase):
    pass


class Contract(Base):
    """TFC's contract snapshot (newest `version` wins), with the store after 店舗・スタッフ変更."""

    __tablename__ = "contracts"

    contract_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    dealer_code: Mapped[str] = mapped_column(String(16))
    dealer_name: Mapped[str] = mapped_column(String(100))
    tfc_store_code: Mapped[str] = mapped_column(String(16))  # as TFC last sent it
    tfc_store_name: Mapped[str] = mapped_column(String(100))
    tfc_staff_code: Mapped[str] = mapped_column(String(32))
    contractor_name: Mapped[str] = mapped_column(String(200))
    contractor_name_kana: Mapped[str] = mapped_column(String(200))
    contractor_postal_code: Mapped[str] = mapped_column(String(16), default="")
    contractor_address: Mapped[str] = mapped_column(Text, default="")
    registration_no: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(100))
    program: Mapped[str] = mapped_column(String(32))
    contract_kind: Mapped[str] = mapped_column(String(16))
    final_payment_date: Mapped[date] = mapped_column(Date)
    final_payment_amount: Mapped[int] = mapped_column(BigInteger)
    receivable_purchased: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    # shared.rules ownership: since which snapshot TFC's store/staff are unchanged
    tfc_owner_since: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ContractSelection(Base):
    """From selection's events: the latest 選択区分 and the store/staff reassignment, if any."""

    __tablename__ = "contract_selection"

    contract_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    category_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    assignment_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    store_code: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: TFC's store
    store_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    staff_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # the TFC snapshot version the reassignment was made on (shared.rules ownership)
    assignment_basis_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class RequestStatus(Base):
    """From approvals' RequestStatusChanged (newest `version` wins)."""

    __tablename__ = "request_status"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    contract_no: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    status_label: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reception_no: Mapped[str | None] = mapped_column(String(12), nullable=True)  # 受付番号 approvals gave


class Submission(Base):
    """What was submitted (for 入力内容印刷 and GET), and the idempotency key it was sent with."""

    __tablename__ = "submissions"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(32))
    dealer_code: Mapped[str] = mapped_column(String(16))
    store_code: Mapped[str] = mapped_column(String(16))
    submitter_user_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body_fingerprint: Mapped[str] = mapped_column(String(64))
    submitter: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    contract: Mapped[dict[str, Any]] = mapped_column(JSON)  # the facts shown on screen and in print
    needs_extra_tfc_procedure: Mapped[bool] = mapped_column(Boolean)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("submitter_user_id", "idempotency_key", name="uq_submissions_idempotency"),
        Index("ix_submissions_user_time", "submitter_user_id", "submitted_at"),
    )


class OpenReturn(Base):
    """One row per contract with an open return request; released on completed / withdrawn."""

    __tablename__ = "open_returns"

    contract_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
