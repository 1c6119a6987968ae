from __future__ import annotations

from shared.settings import CommonSettings


class ReturnsSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/returns.db"
    # After OK, how long the 送信が完了しました page waits for approvals to report the request's status.
    status_wait_s: float = 2.0
