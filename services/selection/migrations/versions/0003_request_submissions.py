"""request_submissions (再分割審査申込 and 早期完済受付 submitted here, SPEC §9.2); contract_requests.result
(TFC's 審査結果) and contract_requests.reception_no (受付番号)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contract_requests", sa.Column("result", sa.String(length=16), nullable=True))
    op.add_column("contract_requests", sa.Column("reception_no", sa.String(length=12), nullable=True))
    op.create_table(
        "request_submissions",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("contract_no", sa.String(length=32), nullable=False),
        sa.Column("dealer_code", sa.String(length=16), nullable=False),
        sa.Column("store_code", sa.String(length=16), nullable=False),
        sa.Column("submitter_user_id", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("body_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("submitter", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("contract", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
        sa.UniqueConstraint(
            "submitter_user_id", "idempotency_key", name="uq_request_submissions_idempotency"
        ),
    )
    op.create_index(
        op.f("ix_request_submissions_contract_no"), "request_submissions", ["contract_no"], unique=False
    )
    op.create_index(
        "ix_request_submissions_user_time",
        "request_submissions",
        ["submitter_user_id", "submitted_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_request_submissions_user_time", table_name="request_submissions")
    op.drop_index(op.f("ix_request_submissions_contract_no"), table_name="request_submissions")
    op.drop_table("request_submissions")
    with op.batch_alter_table("contract_requests") as batch:
        batch.drop_column("reception_no")
        batch.drop_column("result")
