from __future__ import annotations

from shared.settings import CommonSettings


class SearchSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/search.db"
