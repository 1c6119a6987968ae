"""The search read model: contracts from TFC plus what the other services tell us about them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Index, Integer, Numeric, String, Text
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
    store_code: Mapped[str] = mapped_column(String(16))
    store_name: Mapped[str] = mapped_column(String(100))
    staff_code: Mapped[str] = mapped_column(String(32))
    contractor_name: Mapped[str] = mapped_column(String(200))
    contractor_name_kana: Mapped[str] = mapped_column(String(200))
    contractor_postal_code: Mapped[str] = mapped_column(String(16), default="")
    contractor_address: Mapped[str] = mapped_column(Text, default="")
    registration_no: Mapped[str] = mapped_column(String(64), default="")
    brand: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(100))
    vehicle_use: Mapped[str] = mapped_column(String(16))
    first_registration_date: Mapped[str] = mapped_column(String(10))
    program: Mapped[str] = mapped_column(String(32))
    contract_kind: Mapped[str] = mapped_column(String(16))
    final_payment_date: Mapped[date] = mapped_column(Date)
    final_payment_amount: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[float] = mapped_column(Numeric(6, 4))
    tfc_handling: Mapped[str | None] = mapped_column(String(64), nullable=True)
    receivable_purchased: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    # normalised for forgiving search (see search rules)
    search_name: Mapped[str] = mapped_column(Text, default="")
    search_plate: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_contracts_scope_final", "dealer_code", "store_code", "final_payment_date"),
        Index("ix_contracts_dealer_final", "dealer_code", "final_payment_date"),
    )


outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
