from __future__ import annotations

from shared.settings import CommonSettings


class ReturnsSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/returns.db"
