"""Tables of the approvals service (its own database)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import Inbox, Outbox


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Request(Base):
    """A request (申込) and where it stands. `version` + 1 per change (optimistic concurrency)."""

    __tablename__ = "requests"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reception_no: Mapped[str] = mapped_column(String(12))  # 受付番号, unique (ux_requests_reception_no)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    contract_no: Mapped[str] = mapped_column(String(32))
    contractor_name: Mapped[str] = mapped_column(String(200))
    contractor_search: Mapped[str] = mapped_column(Text, default="")
    program: Mapped[str] = mapped_column(String(32), default="")
    dealer_code: Mapped[str] = mapped_column(String(16))
    store_code: Mapped[str] = mapped_column(String(16))
    store_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The contract's facts at submission (shared.events.SubmittedContract as JSON, with the kana), shown
    # read-only beside the request; None for submissions of older producers
    contract_facts: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    submitter: Mapped[dict[str, Any]] = mapped_column(JSON)  # Party
    # The request's own flow (dealer settings at submit/restart, minus self-approval)
    store_step: Mapped[bool] = mapped_column(Boolean)
    hq_step: Mapped[bool] = mapped_column(Boolean)
    approvers: Mapped[list[Any]] = mapped_column(JSON, default=list)  # Parties approving this round
    dealer_note: Mapped[str | None] = mapped_column(Text, nullable=True)  # 貴社連絡欄
    tfc_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # TFC's answers beyond the status (SPEC §9.2): 審査結果 of a 再分割審査申込, 早期完済金額 (yen)
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    payoff_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The latest send-back: shared.events.SendBack as JSON ({reason, sender (None = TFC), at})
    last_send_back: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # 依頼日時
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_requests_scope", "dealer_code", "store_code", "updated_at"),
        Index("ix_requests_status", "status", "status_changed_at"),
        Index("ux_requests_reception_no", "reception_no", unique=True),
    )


class ReceptionCounter(Base):
    """The last 受付番号 sequence given in a month (`period` = YYMM, Tokyo): one row per month."""

    __tablename__ = "reception_counters"

    period: Mapped[str] = mapped_column(String(4), primary_key=True)
    last_no: Mapped[int] = mapped_column(Integer)


class HistoryEntry(Base):
    """Append-only history of a request: one row per change."""

    __tablename__ = "request_history"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.request_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # Party; None = TFC
    actor_role: Mapped[str] = mapped_column(String(16))  # staff | store_manager | hq | tfc
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str] = mapped_column(String(32))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {field: [old, new]}
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class FlowSettings(Base):
    """承認フロー設定（本部用）: one row per dealer; no row = both steps off."""

    __tablename__ = "flow_settings"

    dealer_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    store_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    hq_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    hq_approver_emails: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))


class TimeoutNotice(Base):
    """A reminder period already published (written with its outbox row: never repeated)."""

    __tablename__ = "timeout_notices"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    status_since: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    period_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
