from __future__ import annotations

from datetime import date
from pathlib import Path

from shared.settings import CommonSettings


class SelectionSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/selection.db"
    # Pins "today" (Asia/Tokyo) for demos and tests (JPASS_TODAY=2026-03-01, as search); None = the real date.
    today: date | None = None
    consumer_group: str = "selection"
    # The identity provider's users as a JSON file (JPASS_STAFF_DIRECTORY; services/selection/staff.py):
    # the names and staff codes 店舗・スタッフ変更 offers beside the codes TFC's feed carries. Locally
    # `make run` writes the demo users' export to var/staff-directory.json. None: the feed's codes only.
    staff_directory: Path | None = None
    # 送信が完了しました waits this long for approvals' first status of a request (受付番号), then 受付処理中
    request_status_wait_s: float = 2.0
