from __future__ import annotations

from shared.settings import CommonSettings


class ApprovalsSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/approvals.db"
