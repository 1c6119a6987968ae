"""受付番号 of each request in the read model (contract_requests.reception_no, contracts.request_reception_no)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contract_requests", sa.Column("reception_no", sa.String(length=16), nullable=True))
    op.add_column("contracts", sa.Column("request_reception_no", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.drop_column("request_reception_no")
    with op.batch_alter_table("contract_requests") as batch:
        batch.drop_column("reception_no")
