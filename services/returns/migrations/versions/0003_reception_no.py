"""request_status.reception_no: the 受付番号 approvals gave the request (from RequestStatusChanged)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Known from the next status event of each request; until then the pages say 受付処理中.
    op.add_column("request_status", sa.Column("reception_no", sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_status") as batch:
        batch.drop_column("reception_no")
