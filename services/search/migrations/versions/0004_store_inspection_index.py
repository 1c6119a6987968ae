"""the inspection-axis search of a store reads its own rows (車検軸検索 by staff and store managers)

Without it a store's 車検軸検索 went through the dealer's (dealer_code, first_registration_month)
index and dropped the other stores' rows one by one: in a dealer of 1,000,000 contracts, a months
range of 0-23 walks hundreds of thousands of index entries for one store's few thousand.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LISTED = sa.text("version > -1 AND status <> 'cancelled'")


def upgrade() -> None:
    op.create_index(
        "ix_contracts_scope_first_reg",
        "contracts",
        ["dealer_code", "store_code", "first_registration_month"],
        postgresql_where=LISTED,
        sqlite_where=LISTED,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_contracts_scope_first_reg", table_name="contracts", postgresql_where=LISTED, sqlite_where=LISTED
    )
