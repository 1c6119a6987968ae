"""contracts.tfc_owner_since, contract_selection.assignment_basis_version: one ownership rule (shared.rules)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 23:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "contracts", sa.Column("tfc_owner_since", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "contract_selection",
        sa.Column("assignment_basis_version", sa.BigInteger(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("contract_selection") as batch:
        batch.drop_column("assignment_basis_version")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("tfc_owner_since")
