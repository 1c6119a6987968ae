"""contracts.tfc_owner_since / reassign_basis_version (one ownership rule, shared.rules); contract_requests
(the requests of each contract, for the category rules of SPEC §9.1)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 23:40:00.000000
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
    op.add_column("contracts", sa.Column("reassign_basis_version", sa.BigInteger(), nullable=True))
    op.create_table(
        "contract_requests",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("contract_no", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index(
        op.f("ix_contract_requests_contract_no"), "contract_requests", ["contract_no"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_contract_requests_contract_no"), table_name="contract_requests")
    op.drop_table("contract_requests")
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("reassign_basis_version")
        batch.drop_column("tfc_owner_since")
