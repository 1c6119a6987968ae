"""Tables of the selection service (its own database)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.outbox import Inbox, Outbox


class Base(DeclarativeBase):
    pass


outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
