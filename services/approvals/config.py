from __future__ import annotations

from shared.settings import CommonSettings


class ApprovalsSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/approvals.db"
    # Timeout sweep (SPEC §6, §7): JPASS_SWEEP_INTERVAL_S, JPASS_REMINDER_SUBMITTER_AFTER_S,
    # JPASS_REMINDER_HQ_AFTER_S. Tests shorten the periods to seconds.
    sweep_interval_s: float = 60.0
    reminder_submitter_after_s: float = 604800.0  # 7 days: 手続状況確認メール
    reminder_hq_after_s: float = 259200.0  # 3 days: 承認状況確認メール
