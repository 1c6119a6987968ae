"""The search read model: contracts from TFC plus what the other services tell us about them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.outbox import Inbox, Outbox

STUB_VERSION = -1  # a row created by a selection/request event before TFC's snapshot arrived
# Rows a list can show: not a stub, not cancelled (the queries use exactly this predicate).
LISTED_SQL = "version > -1 AND status <> 'cancelled'"


class Base(DeclarativeBase):
    pass


class Contract(Base):
    __tablename__ = "contracts"

    contract_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    dealer_code: Mapped[str] = mapped_column(String(16))
    dealer_name: Mapped[str] = mapped_column(String(100))
    # effective ownership (TFC's, or a later 店舗・スタッフ変更)
    store_code: Mapped[str] = mapped_column(String(16))
    store_name: Mapped[str] = mapped_column(String(100))
    staff_code: Mapped[str] = mapped_column(String(32))
    # ownership as TFC last sent it (to tell TFC's own moves from an unchanged feed)
    tfc_store_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    tfc_store_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tfc_staff_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tfc_owner_since: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    contractor_name: Mapped[str] = mapped_column(String(200))
    contractor_name_kana: Mapped[str] = mapped_column(String(200))
    contractor_postal_code: Mapped[str] = mapped_column(String(16), default="")
    contractor_address: Mapped[str] = mapped_column(Text, default="")
    registration_no: Mapped[str] = mapped_column(String(64), default="")
    brand: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(100))
    vehicle_use: Mapped[str] = mapped_column(String(16))
    first_registration_date: Mapped[str] = mapped_column(String(10))
    first_registration_month: Mapped[int | None] = mapped_column(Integer, nullable=True)
    program: Mapped[str] = mapped_column(String(32))
    contract_kind: Mapped[str] = mapped_column(String(16))
    final_payment_date: Mapped[date] = mapped_column(Date)
    final_payment_amount: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[float] = mapped_column(Numeric(6, 4))
    tfc_handling: Mapped[str | None] = mapped_column(String(64), nullable=True)
    receivable_purchased: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    # normalised for forgiving search (rules.normalise_*)
    search_name: Mapped[str] = mapped_column(Text, default="")
    search_plate: Mapped[str] = mapped_column(Text, default="")
    search_model: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    # selection service's per-contract counter: the highest seq applied (read-your-writes)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    selection_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    selection_category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    replacement: Mapped[str | None] = mapped_column(String(8), nullable=True)
    replacement_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    confirmation_received_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    selection_late: Mapped[bool] = mapped_column(Boolean, default=False)
    selection_store_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    selection_recorded_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    selection_recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    memo_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    memo_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    memo_author: Mapped[str | None] = mapped_column(String(200), nullable=True)
    memo_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    assignment_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the latest 店舗・スタッフ変更 (shared.rules decides whether it still stands over TFC's ownership)
    assigned_store_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    assigned_store_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    assigned_staff_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    assignment_basis_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    transfer_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transferred_in: Mapped[bool] = mapped_column(Boolean, default=False)
    # the current request (rules.current_request) and the derived handling status
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_status_label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    request_reception_no: Mapped[str | None] = mapped_column(String(16), nullable=True)  # 受付番号
    request_result: Mapped[str | None] = mapped_column(String(16), nullable=True)  # 審査結果 (再分割)
    handling_status: Mapped[str] = mapped_column(String(16), default="unselected")
    completed: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = tuple(
        # Partial: exactly the rows a list can show (queries.LISTED), so counts can be index-only.
        Index(name, *columns, postgresql_where=text(LISTED_SQL), sqlite_where=text(LISTED_SQL))
        for name, columns in (
            ("ix_contracts_scope_final", ("dealer_code", "store_code", "final_payment_date")),
            ("ix_contracts_dealer_final", ("dealer_code", "final_payment_date")),
            ("ix_contracts_scope_staff", ("dealer_code", "store_code", "staff_code", "final_payment_date")),
            ("ix_contracts_dealer_staff", ("dealer_code", "staff_code", "final_payment_date")),
            ("ix_contracts_dealer_first_reg", ("dealer_code", "first_registration_month")),
            ("ix_contracts_scope_first_reg", ("dealer_code", "store_code", "first_registration_month")),
        )
    )


class MemoHistory(Base):
    """Every memo version the selection service published (自由記入欄の履歴)."""

    __tablename__ = "memo_history"

    contract_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    author_role: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ContractRequest(Base):
    """The latest known status of every request about a contract (from RequestStatusChanged)."""

    __tablename__ = "contract_requests"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(32), index=True)
    type: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    status_label: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reception_no: Mapped[str | None] = mapped_column(String(16), nullable=True)  # 受付番号
    # SPEC §9.2: TFC's 審査結果 and the plan of a 再分割審査申込; the 早期完済金額 of an 早期完済受付
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    payoff_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RequestStatusEvent(Base):
    """Every status change of every request (RequestStatusChanged), for the dashboard's step times."""

    __tablename__ = "request_status_events"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(32))
    dealer_code: Mapped[str] = mapped_column(String(16))
    store_code: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(32))
    old_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    new_status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_request_status_events_scope", "dealer_code", "store_code", "at"),)


class SavedSearch(Base):
    """A user's named search parameters (保存した検索条件), private to that user."""

    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64))
    dealer_code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    params: Mapped[str] = mapped_column(Text)  # JSON object of the list's query parameters
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_saved_searches_user_name"),)


# Partial name/plate/model search (PostgreSQL only; SQLite scans): GIN indexes over each row's
# scoped bigrams, `jpass_bigrams(dealer_code, store_code, column)` = {'D001:山田', 'D001/S0101:山田',
# 'D001:田太', 'D001/S0101:田太', …}: every 2-character piece once for its dealer and once for its store.
# A query ANDs `jpass_bigrams(...) @> <the needle's bigrams, for the user's dealer (hq) or store>`
# (queries._contains) to its LIKE, so a needle of two or more characters reads only the candidates of
# the user's own scope; a 2-character surname (山田) included, which a trigram index cannot narrow.
# The same statements are in migration 0003.
BIGRAM_COLUMNS = ("search_name", "search_plate", "search_model")
BIGRAM_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION jpass_bigrams(dealer text, store text, value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT scope || substr(value, i, 2)), '{}'::text[])
  FROM generate_series(1, length(value) - 1) AS i,
       unnest(ARRAY[dealer || ':', dealer || '/' || store || ':']) AS scope
$$"""


def bigram_index_sql(column: str) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS ix_contracts_bigram_{column} ON contracts "
        f"USING gin (jpass_bigrams(dealer_code, store_code, {column})) WHERE {LISTED_SQL}"
    )


event.listen(Contract.__table__, "before_create", DDL(BIGRAM_FUNCTION_SQL).execute_if(dialect="postgresql"))
for _column in BIGRAM_COLUMNS:
    event.listen(
        Contract.__table__, "after_create", DDL(bigram_index_sql(_column)).execute_if(dialect="postgresql")
    )

outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
