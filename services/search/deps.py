"""Dependencies of the search routes: the clock and a read session."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Request

from services.search import queries
from shared.identity import User


async def today(request: Request) -> date:
    """Today in Asia/Tokyo, from the app's injectable clock (async: no thread-pool hand-off per request)."""
    return request.app.state.clock()


Today = Annotated[date, Depends(today)]


async def read_your_writes(request: Request, user: User, after: str | None) -> bool:
    """Wait briefly until the writer's change (`<contract_no>@<seq>`) is visible; True if it is. Never
    waits for a contract outside the user's scope (queries.wait_for_seq)."""
    token = queries.parse_consistency_token(after)
    if token is None:
        return True
    return await queries.wait_for_seq(
        request.app.state.runtime.sessionmaker,
        user,
        *token,
        request.app.state.settings.read_your_writes_wait_s,
    )
