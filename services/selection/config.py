from __future__ import annotations

from datetime import date

from shared.settings import CommonSettings


class SelectionSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/selection.db"
    # Pins "today" (an Asia/Tokyo date) for demos and tests; unset = the real date in Tokyo.
    fixed_today: date | None = None
    consumer_group: str = "selection"
