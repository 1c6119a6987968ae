"""requests.result (審査結果 of a 再分割審査申込) and requests.payoff_amount (早期完済金額): TFC's answers of
the two request types of SPEC §9.2

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("result", sa.String(length=16), nullable=True))
    op.add_column("requests", sa.Column("payoff_amount", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("payoff_amount")
        batch.drop_column("result")
