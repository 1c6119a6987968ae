from __future__ import annotations

from datetime import date

from shared.settings import CommonSettings


class SelectionSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/selection.db"
    # Pins "today" (Asia/Tokyo) for demos and tests (JPASS_TODAY=2026-03-01, as search); None = the real date.
    today: date | None = None
    consumer_group: str = "selection"
