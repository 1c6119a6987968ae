"""Background delivery of recorded e-mails over SMTP (aiosmtplib), with retries and backoff.

Each mail is sent in its own short transaction that holds the row lock (PostgreSQL: FOR UPDATE SKIP
LOCKED, so several mailer instances never send the same row) and marks it sent right after the
relay accepted it. Residual risk: if the process dies, or the database fails, after the relay
accepted the message but before that commit, the row is still pending and the mail is sent again
on restart. The Message-ID is derived from the idempotency key, so the resend carries the same
Message-ID as the first (relays and mail clients that dedupe by Message-ID drop it).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from enum import Enum

import aiosmtplib
from opentelemetry.trace import SpanKind
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.mailer import domain
from services.mailer.config import MailerSettings
from services.mailer.db import MAIL_FAILED, MAIL_PENDING, MAIL_SENT, Mail, as_utc, utcnow
from shared.observability import EMAILS, attach_from_headers, detach, tracer

log = logging.getLogger(__name__)


class Outcome(Enum):
    IDLE = "idle"  # nothing due
    SENT = "sent"
    FAILED = "failed"  # permanently refused: never retried
    RETRY = "retry"  # refused for now (4xx): retried later
    UNREACHABLE = "unreachable"  # the relay is down or misconfigured: wait before the next mail


def build_message(mail: Mail, settings: MailerSettings) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = mail.subject
    msg["From"] = Address(display_name=settings.mail_from_name, addr_spec=settings.mail_from)
    msg["To"] = mail.recipient
    msg["Date"] = format_datetime(as_utc(mail.created_at))
    msg["Message-ID"] = mail.message_id
    msg["X-JPASS-Mail-Kind"] = mail.kind
    msg.set_content(mail.body_text)
    msg.add_alternative(mail.body_html, subtype="html")
    return msg


def classify(error: BaseException) -> Outcome:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in error.recipients]
        permanent = bool(codes) and all(domain.is_permanent_smtp_failure(c) for c in codes)
        return Outcome.FAILED if permanent else Outcome.RETRY
    if isinstance(error, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return Outcome.FAILED if domain.is_permanent_smtp_failure(error.code) else Outcome.RETRY
    # Connection, TLS, authentication, sender refused, timeouts: the relay's trouble, not the mail's.
    return Outcome.UNREACHABLE


class MailSender:
    def __init__(self, settings: MailerSettings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """New mails were recorded: send them now rather than at the next poll."""
        self._wake.set()

    async def _send(self, msg: EmailMessage, recipient: str) -> None:
        s = self.settings
        await aiosmtplib.send(
            msg,
            sender=s.mail_from,
            recipients=[recipient],
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_tls,
            start_tls=False if s.smtp_tls else s.smtp_starttls,
            timeout=s.smtp_timeout_s,
        )

    async def deliver_one(self) -> Outcome:
        """Send the oldest due mail, if any, and record the outcome."""
        async with self.sessionmaker() as session, session.begin():
            now = utcnow()
            mail = (
                await session.execute(
                    select(Mail)
                    .where(Mail.status == MAIL_PENDING, Mail.next_attempt_at <= now)
                    .order_by(Mail.next_attempt_at, Mail.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if mail is None:
                return Outcome.IDLE
            mail.attempts += 1
            # Take the write lock before sending (SQLite: a later lock upgrade could fail after the
            # relay accepted the mail, leaving it pending and so sent twice).
            await session.flush()
            token = attach_from_headers({"traceparent": mail.traceparent} if mail.traceparent else {})
            try:
                with tracer().start_as_current_span("send e-mail", kind=SpanKind.CLIENT) as span:
                    span.set_attribute("jpass.mail.kind", mail.kind)
                    await self._send(build_message(mail, self.settings), mail.recipient)
            except Exception as e:
                outcome = classify(e)
                mail.last_error = f"{type(e).__name__}: {e}"[:1000]
                EMAILS.labels(mail.kind, "failed" if outcome is Outcome.FAILED else "retried").inc()
                if outcome is Outcome.FAILED:
                    mail.status = MAIL_FAILED
                    log.error("mail %s refused permanently: %s", mail.id, mail.last_error)
                else:
                    delay = domain.retry_delay_s(
                        mail.attempts, self.settings.mail_retry_base_s, self.settings.mail_retry_max_s
                    )
                    mail.next_attempt_at = utcnow() + timedelta(seconds=delay)
                    log.warning("mail %s not sent (attempt %d): %s", mail.id, mail.attempts, mail.last_error)
                return outcome
            finally:
                detach(token)
            mail.status, mail.sent_at, mail.last_error = MAIL_SENT, utcnow(), None
            EMAILS.labels(mail.kind, "sent").inc()
            return Outcome.SENT

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver forever; survive SMTP and database outages (pending rows stay until sent)."""
        while not stopping.is_set():
            try:
                outcome = await self.deliver_one()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # database unreachable: the rows are safe, try again later
                log.warning("mail delivery round failed: %s", type(e).__name__)
                outcome = Outcome.UNREACHABLE
            if outcome in (Outcome.SENT, Outcome.FAILED, Outcome.RETRY):
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.mail_poll_interval_s)
            except TimeoutError:
                pass
