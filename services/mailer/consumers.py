"""Subscribers: request status changes and reminder timeouts → pending e-mails (each event once: inbox)."""

from __future__ import annotations

from functools import partial

from services.mailer import use_cases
from services.mailer.config import MailerSettings
from services.mailer.render import MailRenderer
from services.mailer.sender import MailSender
from shared.events import REQUEST_STATUS_CHANGED, REQUEST_TIMED_OUT, RequestStatusChanged, RequestTimedOut
from shared.messaging import EventTable, subscribe
from shared.runtime import Runtime
from shared.topics import REQUEST_STATUS, REQUEST_TIMEOUTS


def register(runtime: Runtime, settings: MailerSettings, renderer: MailRenderer, sender: MailSender) -> None:
    status_change = partial(use_cases.record_status_change, renderer=renderer, mail_from=settings.mail_from)
    timeout = partial(use_cases.record_timeout, renderer=renderer, mail_from=settings.mail_from)
    events: dict[str, EventTable] = {
        REQUEST_STATUS: {REQUEST_STATUS_CHANGED: (RequestStatusChanged, status_change)},
        REQUEST_TIMEOUTS: {REQUEST_TIMED_OUT: (RequestTimedOut, timeout)},
    }
    for topic, table in events.items():
        # the sender goes out at once rather than at its next poll
        subscribe(runtime, topic, events=table, inbox=True, after_commit=sender.notify)
