from __future__ import annotations

from shared.settings import CommonSettings


class SelectionSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/selection.db"
