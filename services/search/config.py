from __future__ import annotations

from datetime import date

from shared.settings import CommonSettings


class SearchSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/search.db"
    # Fixes "today" (Asia/Tokyo) for demos and tests (JPASS_TODAY=2026-05-10); None = the real date.
    today: date | None = None
    # CSV exports running at once in one process; one more is refused with 429 (services/search/export.py).
    csv_export_slots: int = 8
