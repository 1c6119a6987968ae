"""Every route of every service, from the apps themselves (so new endpoints are covered without edits)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute

from devtools.app import create_app as create_devtools
from services.approvals.main import create_app as create_approvals
from services.mailer.main import create_app as create_mailer
from services.returns.main import create_app as create_returns
from services.search.main import create_app as create_search
from services.selection.main import create_app as create_selection

FACTORIES: dict[str, Callable[[], FastAPI]] = {
    "search": create_search,
    "selection": create_selection,
    "returns": create_returns,
    "approvals": create_approvals,
    "mailer": create_mailer,
}


@dataclass(frozen=True)
class Endpoint:
    service: str
    method: str
    path: str  # template, e.g. /api/v1/requests/{request_id}

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    def fill(self, **values: str) -> str:
        """The path with its parameters replaced (`values` by name, else a harmless placeholder)."""
        return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "X0000000001"), self.path)


def flatten(routes: list) -> Iterator[APIRoute]:  # type: ignore[type-arg]
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from flatten(original.routes)
        elif isinstance(route, APIRoute):
            yield route


def endpoints(app: FastAPI, service: str) -> list[Endpoint]:
    found = []
    for route in flatten(app.routes):
        for method in sorted(route.methods - {"HEAD"}):
            found.append(Endpoint(service, method, route.path))
    return found


def all_endpoints() -> list[Endpoint]:
    return [e for name, factory in FACTORIES.items() for e in endpoints(factory(), name)]


def devtools_endpoints() -> list[Endpoint]:
    return endpoints(create_devtools(), "devtools")


# The page login (shared/login.py) is where people without a token go: public by nature.
PUBLIC = re.compile(
    r"^/(\w+)/(healthz|readyz|metrics)$|^/asyncapi/|^/openapi/|^/docs/|^/login(/|$)|^/logout$"
)


def protected(e: Endpoint) -> bool:
    """Everything but health, metrics and documentation needs a signed token."""
    return not PUBLIC.match(e.path)
