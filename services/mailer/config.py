from __future__ import annotations

from shared.settings import CommonSettings


class MailerSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/mailer.db"
