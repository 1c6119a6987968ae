"""contracts: TFC ownership's since-version and the latest reassignment (one ownership rule, shared.rules)

Existing rows keep their effective owner; a reassignment already in effect is recorded as standing
(its basis is the snapshot held now).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 23:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "contracts", sa.Column("tfc_owner_since", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column("contracts", sa.Column("assigned_store_code", sa.String(length=16), nullable=True))
    op.add_column("contracts", sa.Column("assigned_store_name", sa.String(length=100), nullable=True))
    op.add_column("contracts", sa.Column("assigned_staff_code", sa.String(length=32), nullable=True))
    op.add_column("contracts", sa.Column("assignment_basis_version", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE contracts SET assigned_store_code = store_code, assigned_store_name = store_name,"
        " assigned_staff_code = staff_code, assignment_basis_version = version"
        " WHERE assignment_seq IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        for column in (
            "assignment_basis_version",
            "assigned_staff_code",
            "assigned_store_name",
            "assigned_store_code",
            "tfc_owner_since",
        ):
            batch.drop_column(column)
