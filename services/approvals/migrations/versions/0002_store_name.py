"""requests.store_name: the store's name from the submission (shown instead of its code)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills the rows that exist (SQLite also requires it for a NOT NULL column).
    op.add_column(
        "requests", sa.Column("store_name", sa.String(length=200), server_default="", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("store_name")
