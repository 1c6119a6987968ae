"""TFC's answers of the request types of SPEC §9.2 in the read model: contract_requests.result / plan /
payoff_amount, contracts.request_result (a declined 再分割審査申込 does not complete the contract)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contract_requests", sa.Column("result", sa.String(length=16), nullable=True))
    op.add_column("contract_requests", sa.Column("plan", sa.JSON(), nullable=True))
    op.add_column("contract_requests", sa.Column("payoff_amount", sa.BigInteger(), nullable=True))
    op.add_column("contracts", sa.Column("request_result", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("request_result")
    with op.batch_alter_table("contract_requests") as batch:
        batch.drop_column("payoff_amount")
        batch.drop_column("plan")
        batch.drop_column("result")
