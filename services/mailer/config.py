from __future__ import annotations

from pydantic import SecretStr

from shared.settings import CommonSettings


class MailerSettings(CommonSettings):
    database_url: str = "sqlite+aiosqlite:///var/mailer.db"

    # Sender: the address is CommonSettings.mail_from (the forms show it too); the display name is ours.
    mail_from_name: str = "J-PASS 受付"

    # SMTP relay: locally the mail catcher of `make run` (devtools, 127.0.0.1:1025).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # STARTTLS: None = use it when the server offers it, True = required, False = never.
    smtp_starttls: bool | None = None
    smtp_tls: bool = False  # implicit TLS (SMTPS, usually port 465)
    smtp_timeout_s: float = 10.0

    # Background delivery: pending mails are retried with exponential backoff while SMTP fails.
    mail_poll_interval_s: float = 2.0
    mail_retry_base_s: float = 5.0
    mail_retry_max_s: float = 600.0
    mail_batch_size: int = 50
