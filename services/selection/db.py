"""Tables of the selection service (its own database).

`contracts` is selection's own copy of what it needs from TFC's feed plus the per-contract `seq`
counter that every change (selection, memo, assignment) increments under a row lock. `change_log`
has one row per seq (primary key contract_no + seq), so two changes with the same seq cannot both commit.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import Inbox, Outbox


class Base(DeclarativeBase):
    pass


class Contract(Base):
    __tablename__ = "contracts"

    contract_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    dealer_code: Mapped[str] = mapped_column(String(16))
    dealer_name: Mapped[str] = mapped_column(String(100))
    # ownership as TFC last sent it
    tfc_store_code: Mapped[str] = mapped_column(String(16))
    tfc_store_name: Mapped[str] = mapped_column(String(100))
    tfc_staff_code: Mapped[str] = mapped_column(String(32))
    # effective ownership: TFC's, or the last 店舗・スタッフ変更 made here since TFC last changed it
    store_code: Mapped[str] = mapped_column(String(16))
    store_name: Mapped[str] = mapped_column(String(100))
    staff_code: Mapped[str] = mapped_column(String(32))
    reassigned: Mapped[bool] = mapped_column(Boolean, default=False)
    # shared.rules ownership: since which snapshot TFC's store/staff are unchanged; the snapshot version
    # the standing reassignment was made on
    tfc_owner_since: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reassign_basis_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    contractor_name: Mapped[str] = mapped_column(String(200))
    contractor_name_kana: Mapped[str] = mapped_column(String(200))
    contractor_postal_code: Mapped[str] = mapped_column(String(16), default="")
    contractor_address: Mapped[str] = mapped_column(Text, default="")
    registration_no: Mapped[str] = mapped_column(String(64), default="")
    brand: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(100))
    program: Mapped[str] = mapped_column(String(32))
    contract_kind: Mapped[str] = mapped_column(String(16))
    final_payment_date: Mapped[date] = mapped_column(Date)
    final_payment_amount: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[Decimal] = mapped_column(Numeric(8, 6))
    status: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_sel_contracts_dealer_store", "dealer_code", "store_code"),)


class SelectionRecord(Base):
    """The current selection of a contract (one row per contract)."""

    __tablename__ = "selections"

    contract_no: Mapped[str] = mapped_column(ForeignKey("contracts.contract_no"), primary_key=True)
    category: Mapped[str] = mapped_column(String(20))
    replacement: Mapped[str] = mapped_column(String(3))
    replacement_model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    confirmation_received_on: Mapped[date] = mapped_column(Date)
    late: Mapped[bool] = mapped_column(Boolean)
    seq: Mapped[int] = mapped_column(Integer)
    recorded_by_id: Mapped[str] = mapped_column(String(64))
    recorded_by_name: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MemoEntry(Base):
    """Every saved version of the memo (自由記入欄); the newest is the current text."""

    __tablename__ = "memo_entries"

    contract_no: Mapped[str] = mapped_column(ForeignKey("contracts.contract_no"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(String(64))
    author_name: Mapped[str] = mapped_column(String(100))
    author_role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChangeLog(Base):
    """One row per change of a contract: kind (selection / memo / assignment), who, when, what."""

    __tablename__ = "change_log"

    contract_no: Mapped[str] = mapped_column(ForeignKey("contracts.contract_no"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContractRequest(Base):
    """The requests of a contract as approvals reports them (newest `version` wins), and the ones the
    intake reported submitted before approvals did (status `submitted`, version 0): what the category
    rules of SPEC §9.1 need."""

    __tablename__ = "contract_requests"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(32), index=True)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(BigInteger)
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)  # 審査結果 (再分割審査申込)
    reception_no: Mapped[str | None] = mapped_column(String(12), nullable=True)  # 受付番号 approvals gave


class RequestSubmission(Base):
    """A 再分割審査申込 or 早期完済受付 submitted here (SPEC §9.2): what was sent (for 送信が完了しました,
    入力内容印刷 and GET) and the idempotency key it was sent with."""

    __tablename__ = "request_submissions"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    contract_no: Mapped[str] = mapped_column(String(32), index=True)
    dealer_code: Mapped[str] = mapped_column(String(16))
    store_code: Mapped[str] = mapped_column(String(16))
    submitter_user_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    body_fingerprint: Mapped[str] = mapped_column(String(64))
    submitter: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    contract: Mapped[dict[str, Any]] = mapped_column(JSON)  # the facts shown on screen and in print
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("submitter_user_id", "idempotency_key", name="uq_request_submissions_idempotency"),
        Index("ix_request_submissions_user_time", "submitter_user_id", "submitted_at"),
    )


outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
