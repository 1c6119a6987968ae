"""Dependencies shared by the API and the pages: the clock (Asia/Tokyo "today") and the handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Request

from services.selection.use_cases import Handlers

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo_today() -> date:
    return datetime.now(TOKYO).date()


def make_clock(fixed_today: date | None) -> Callable[[], date]:
    if fixed_today is not None:
        return lambda: fixed_today
    return tokyo_today


async def _today(request: Request) -> date:
    return request.app.state.clock()


async def _handlers(request: Request) -> Handlers:
    return request.app.state.handlers


Today = Annotated[date, Depends(_today)]
HandlersDep = Annotated[Handlers, Depends(_handlers)]
