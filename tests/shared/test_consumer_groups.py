"""The consumer groups every service subscribes in, byte for byte: a deployed group keeps its committed
offsets only under its own name (shared.messaging.consumer_group). Built apps, never started."""

from __future__ import annotations

from pathlib import Path

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

GROUPS = {
    "search": [
        ("tfc.contracts.v1", "search.tfc.contracts.v1"),
        ("jpass.selection.v1", "search.jpass.selection.v1"),
        ("jpass.request-status.v1", "search.jpass.request-status.v1"),
    ],
    "selection": [
        ("tfc.contracts.v1", "selection.tfc.contracts.v1"),
        ("jpass.returns.v1", "selection.jpass.returns.v1"),
        ("jpass.request-status.v1", "selection.jpass.request-status.v1"),
    ],
    "returns": [
        ("tfc.contracts.v1", "returns-contracts.tfc.contracts.v1"),
        ("jpass.selection.v1", "returns-selection.jpass.selection.v1"),
        ("jpass.request-status.v1", "returns-request-status.jpass.request-status.v1"),
    ],
    "approvals": [
        ("jpass.returns.v1", "approvals.jpass.returns.v1"),
        ("tfc.request-updates.v1", "approvals.tfc.request-updates.v1"),
    ],
    "mailer": [
        ("jpass.request-status.v1", "mailer-status.jpass.request-status.v1"),
        ("jpass.request-timeouts.v1", "mailer-timeouts.jpass.request-timeouts.v1"),
    ],
}


def test_every_service_keeps_its_consumer_group_names(tmp_path: Path) -> None:
    def db(name: str) -> str:
        return f"sqlite+aiosqlite:///{tmp_path}/{name}.db"

    deployed = {"consumer_group_suffix": ""}  # as in every deployment (the suite sets one per module)
    apps = {
        "search": search_app(SearchSettings(database_url=db("search"), **deployed)),
        "selection": selection_app(SelectionSettings(database_url=db("selection"), **deployed)),
        "returns": returns_app(ReturnsSettings(database_url=db("returns"), **deployed)),
        "approvals": approvals_app(ApprovalsSettings(database_url=db("approvals"), **deployed)),
        "mailer": mailer_app(MailerSettings(database_url=db("mailer"), **deployed)),
    }
    assert {name: app.state.runtime.subscriptions for name, app in apps.items()} == GROUPS
