"""requests.reception_no (受付番号) with its monthly counter; requests.last_send_back (reason and sender)

Existing requests get their numbers in submission order (YYMM of the Tokyo submission date) and their
latest send-back from the history, so the column can be NOT NULL and unique from the start.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKYO = ZoneInfo("Asia/Tokyo")
requests = sa.table(
    "requests",
    sa.column("request_id", sa.String()),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
    sa.column("reception_no", sa.String()),
    sa.column("last_send_back", sa.JSON()),
)
history = sa.table(
    "request_history",
    sa.column("id", sa.Integer()),
    sa.column("request_id", sa.String()),
    sa.column("action", sa.String()),
    sa.column("actor", sa.JSON()),
    sa.column("note", sa.Text()),
    sa.column("at", sa.DateTime(timezone=True)),
)
counters = sa.table(
    "reception_counters", sa.column("period", sa.String()), sa.column("last_no", sa.Integer())
)


def _period(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(TOKYO).strftime("%y%m")


def _backfill(conn: sa.Connection) -> None:
    last: dict[str, int] = {}
    rows = conn.execute(
        sa.select(requests.c.request_id, requests.c.submitted_at).order_by(
            requests.c.submitted_at, requests.c.request_id
        )
    ).all()
    for request_id, submitted_at in rows:
        period = _period(submitted_at)
        last[period] = last.get(period, 0) + 1
        conn.execute(
            requests.update()
            .where(requests.c.request_id == request_id)
            .values(reception_no=f"{period}-{last[period]:06d}")
        )
    if last:
        conn.execute(counters.insert(), [{"period": p, "last_no": n} for p, n in last.items()])
    send_backs = conn.execute(
        sa.select(history.c.request_id, history.c.actor, history.c.note, history.c.at)
        .where(history.c.action == "send_back")
        .order_by(history.c.id)
    ).all()
    latest = {r.request_id: r for r in send_backs}  # the last one per request wins
    for request_id, r in latest.items():
        at = r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)
        value = {"reason": r.note or None, "sender": r.actor, "at": at.isoformat()}
        conn.execute(
            requests.update().where(requests.c.request_id == request_id).values(last_send_back=value)
        )


def upgrade() -> None:
    op.create_table(
        "reception_counters",
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("last_no", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("period"),
    )
    op.add_column("requests", sa.Column("reception_no", sa.String(length=12), nullable=True))
    op.add_column("requests", sa.Column("last_send_back", sa.JSON(), nullable=True))
    _backfill(op.get_bind())
    with op.batch_alter_table("requests") as batch:
        batch.alter_column("reception_no", existing_type=sa.String(length=12), nullable=False)
    op.create_index("ux_requests_reception_no", "requests", ["reception_no"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_requests_reception_no", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("last_send_back")
        batch.drop_column("reception_no")
    op.drop_table("reception_counters")
