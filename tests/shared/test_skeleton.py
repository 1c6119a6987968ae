"""The five services have the same files for the same jobs (docs/architecture.md): a newcomer learns one
service and knows where everything is in the others. The extras each service adds are named here, so a
new file is a decision someone wrote down, not a drift."""

from __future__ import annotations

from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
EVERY_SERVICE = {"__init__.py", "main.py", "config.py", "db.py", "migrate.py", "api.py", "pages.py",
                 "consumers.py", "queries.py", "views.py"}  # fmt: skip
# A service that decides something has its pure rules and its use cases; search is a read model: its pure
# rules are rules.py and its only writes are the consumers' and saved searches' (saved.py).
DECIDING = {"domain.py", "use_cases.py"}
EXTRAS = {
    "search": {"rules.py", "deps.py", "dashboard.py", "export.py", "saved.py"},
    "selection": {
        "deps.py",
        "labels.py",
        "staff.py",
        "confirmation_pdf.py",
        "request_print.py",
        "request_forms.py",
        "intake.py",
        "intake_api.py",
        "intake_pages.py",
    },
    "returns": {"printing.py"},
    "approvals": {"deps.py"},
    "mailer": {"labels.py", "render.py", "sender.py"},
}


@pytest.mark.parametrize("service", sorted(EXTRAS))
def test_every_service_has_the_skeletons_files_and_only_named_extras(service: str) -> None:
    files = {p.name for p in (SERVICES / service).glob("*.py")}
    expected = EVERY_SERVICE | EXTRAS[service] | (set() if service == "search" else DECIDING)
    assert files == expected, {"missing": expected - files, "not in the skeleton": files - expected}
    assert (SERVICES / service / "templates").is_dir()
    assert (SERVICES / service / "migrations" / "versions").is_dir()


def test_the_skeleton_is_the_one_docs_architecture_describes() -> None:
    text = (SERVICES.parent / "docs" / "architecture.md").read_text()
    for name in sorted((EVERY_SERVICE | DECIDING | {"deps.py"}) - {"__init__.py", "migrate.py"}):
        assert f"`{name}`" in text, name
