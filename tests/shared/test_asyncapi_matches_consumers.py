"""Each service's AsyncAPI document names exactly what its consumers handle: the channel list in main.py
is written by hand (it documents typed payloads and what each topic means), the dispatch tables in
consumers.py are what runs — this keeps the two from drifting apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from services.approvals.config import ApprovalsSettings
from services.approvals.main import create_app as approvals_app
from services.mailer.config import MailerSettings
from services.mailer.main import create_app as mailer_app
from services.returns.config import ReturnsSettings
from services.returns.main import create_app as returns_app
from services.search.config import SearchSettings
from services.search.main import create_app as search_app
from services.selection.config import SelectionSettings
from services.selection.main import create_app as selection_app
from shared.asyncapi import Channel


def build(name: str, tmp_path: Path) -> FastAPI:
    url = f"sqlite+aiosqlite:///{tmp_path}/{name}.db"
    return {
        "search": lambda: search_app(SearchSettings(database_url=url)),
        "selection": lambda: selection_app(SelectionSettings(database_url=url)),
        "returns": lambda: returns_app(ReturnsSettings(database_url=url)),
        "approvals": lambda: approvals_app(ApprovalsSettings(database_url=url)),
        "mailer": lambda: mailer_app(MailerSettings(database_url=url)),
    }[name]()


@pytest.mark.parametrize("name", ["search", "selection", "returns", "approvals", "mailer"])
def test_documented_channels_are_the_consumed_ones(name: str, tmp_path: Path) -> None:
    app = build(name, tmp_path)
    consumed: dict[str, tuple[str, ...]] = app.state.runtime.consumed
    channels: list[Channel] = app.state.channels
    documented = {ch.topic: {m for m, _ in ch.messages} for ch in channels if ch.direction == "subscribe"}
    assert set(documented) == set(consumed), "a consumed topic without a channel, or a channel nobody reads"
    for topic, event_types in consumed.items():
        assert set(event_types) <= documented[topic], (topic, set(event_types) - documented[topic])


@pytest.mark.parametrize("name", ["search", "selection", "returns", "approvals", "mailer"])
def test_every_published_channel_is_a_topic_the_service_creates(name: str, tmp_path: Path) -> None:
    app = build(name, tmp_path)
    published = {ch.topic for ch in app.state.channels if ch.direction == "publish"}
    assert published <= set(app.state.runtime.topics)
