"""Japanese labels of the mail log (one place)."""

from __future__ import annotations

from services.mailer.db import MAIL_FAILED, MAIL_PENDING, MAIL_SENT, Mail

STATUS_LABELS = {MAIL_PENDING: "送信待ち", MAIL_SENT: "送信済み", MAIL_FAILED: "送信失敗"}


def status_label(mail: Mail) -> str:
    if mail.status == MAIL_PENDING and mail.attempts:
        return f"再送待ち（失敗 {mail.attempts} 回）"
    return STATUS_LABELS.get(mail.status, mail.status)
