"""The sent-mail log (read-only, scoped to the user's dealer)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.mailer.db import Mail
from shared import rules

MAX_LOG_ROWS = 500
MAX_OFFSET = 10_000_000  # far beyond any dealer's mail log; a larger offset overflows the database's integer


def normalise_reception_no(text: str | None) -> str | None:
    """A 受付番号 as typed (shared.rules), None when empty."""
    return rules.normalise_reception_no(text) or None


async def mail_log(
    session: AsyncSession,
    dealer_code: str,
    *,
    request_id: str | None = None,
    reception_no: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[Mail]]:
    stmt = select(Mail).where(Mail.dealer_code == dealer_code)
    if request_id:
        stmt = stmt.where(Mail.request_id == request_id)
    if reception_no:
        stmt = stmt.where(Mail.reception_no == reception_no)
    total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    rows = (
        await session.execute(
            stmt.order_by(Mail.created_at.desc(), Mail.id.desc()).limit(limit).offset(offset)
        )
    ).scalars()
    return int(total), list(rows)
