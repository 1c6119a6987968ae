"""The five services in-process on one broker and their own PostgreSQL databases, with a gateway-like router
(`System.request` picks the service by path as Caddy does) and helpers that drive the real flow:
TFC contract → selection → return submission (or selection's 再分割審査申込 / 早期完済受付) → approval
request."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from shared.events import ContractSnapshot
from shared.topics import TFC_CONTRACTS
from tests.factories import contract_snapshot
from tests.mailer.conftest import Smtp
from tests.support import auth, create_pg_database, drop_pg_database, eventually, publish, running

NOW = datetime(2026, 5, 15, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
TODAY = date(2026, 5, 15)
SERVICES = ("search", "selection", "returns", "approvals", "mailer")
_SELECTION_API = re.compile(
    r"^/api/v1/contracts/[^/]+/(selection|memo|confirmation\.pdf|refinance-simulation|refinance-application|early-payoff-request|assignment)$"
)


def service_for(path: str) -> str:
    """The gateway's routing (deploy/Caddyfile) by path prefix."""
    if _SELECTION_API.match(path) or path.startswith("/selection"):
        return "selection"
    if path.startswith(("/returns", "/api/v1/returns")):
        return "returns"
    if path.startswith(
        ("/requests", "/approval-flow", "/approvals", "/api/v1/approval-flow", "/api/v1/requests")
    ):
        return "approvals"
    if path.startswith(("/mail-log", "/mailer", "/api/v1/mail-log")):
        return "mailer"
    return "search"


def contract(no: str, store: str = "S0101", **kw: Any) -> ContractSnapshot:
    return contract_snapshot(no, store=store, **kw)


def new_no(prefix: str = "F") -> str:
    return f"{prefix}{uuid.uuid4().hex[:9].upper()}"


def return_body(no: str, **kw: Any) -> dict[str, Any]:
    return {
        "contract_no": no,
        "contact1": "03-1234-5678",
        "contact3_email": "tanto@dealer.example.jp",
        "notify_on_completion": True,
        "result": "returned",
        "returned_on": "2026-05-14",
        **kw,
    }


REQUEST_TYPES = ("vehicle_return", "refinance_application", "early_payoff")
# selection's intake of the two request types of SPEC §9.2: (API path under the contract, category)
APPLICATIONS = {
    "refinance_application": ("refinance-application", "refinance"),
    "early_payoff": ("early-payoff-request", "early_payoff"),
}


def application_body(request_type: str, **kw: Any) -> dict[str, Any]:
    contacts = {
        "contact1": "03-1234-5678",
        "contact3_email": "tanto@dealer.example.jp",
        "notify_on_completion": True,
    }
    if request_type == "refinance_application":
        return {**contacts, "months": 24, "consent_obtained_on": TODAY.isoformat(), **kw}
    return {**contacts, "desired_payoff_date": "2026-06-01", "payment_method": "bank_transfer", **kw}


@dataclass
class System:
    bootstrap: str
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    database_urls: dict[str, str]
    smtp: Smtp | None
    hq_of: dict[str, str] = field(default_factory=lambda: {"D001": "d1-hq", "D002": "d2-hq"})

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.clients[service_for(path)].request(method, path, **kw)

    async def get(self, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, headers=auth(user) if user else {}, **kw)

    async def add_contract(self, snapshot: ContractSnapshot) -> None:
        """Publish TFC's snapshot; wait until every service that keeps contracts has this version."""
        await publish(self.bootstrap, TFC_CONTRACTS, snapshot.contract_no, snapshot)
        hq = self.hq_of[snapshot.dealer_code]
        no = snapshot.contract_no

        async def seen() -> None:
            if "search" in self.clients:
                r = await self.get(f"/api/v1/contracts/{no}", hq)
                assert r.status_code == 200 and r.json()["contractor_name"] == snapshot.contractor_name, (
                    r.text
                )
            if "selection" in self.clients:
                r = await self.get(f"/api/v1/contracts/{no}/selection", hq)
                assert r.status_code == 200, r.text
            if "returns" in self.clients:
                r = await self.get("/api/v1/returns/eligibility", hq, params={"contract_no": no})
                assert r.status_code == 200 and r.json()["contract"] is not None, r.text

        await eventually(seen, timeout_s=30)

    async def record_selection(self, no: str, user: str, category: str = "vehicle_return") -> dict[str, Any]:
        r = await self.request(
            "PUT",
            f"/api/v1/contracts/{no}/selection",
            json={"category": category, "replacement": "no", "confirmation_received_on": TODAY.isoformat()},
            headers=auth(user),
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def wait_eligible(self, no: str, user: str) -> None:
        async def eligible() -> None:
            r = await self.get("/api/v1/returns/eligibility", user, params={"contract_no": no})
            assert r.status_code == 200 and r.json()["eligible"], r.text

        await eventually(eligible, timeout_s=30)

    async def submit_return(self, no: str, user: str, **kw: Any) -> str:
        r = await self.request("POST", "/api/v1/returns", json=return_body(no, **kw), headers=auth(user))
        assert r.status_code == 202, r.text
        return str(r.json()["request_id"])

    async def wait_request(self, request_id: str, user: str, status: str | None = None) -> dict[str, Any]:
        async def exists() -> dict[str, Any]:
            r = await self.get(f"/api/v1/requests/{request_id}", user)
            assert r.status_code == 200, r.text
            if status is not None:
                assert r.json()["status"] == status, r.json()["status"]
            return r.json()

        return await eventually(exists, timeout_s=30)

    async def submit_application(self, no: str, user: str, request_type: str, **kw: Any) -> str:
        path, _ = APPLICATIONS[request_type]
        r = await self.request(
            "POST",
            f"/api/v1/contracts/{no}/{path}",
            json=application_body(request_type, **kw),
            headers=auth(user),
        )
        assert r.status_code == 202, r.text
        return str(r.json()["request_id"])

    async def application_for(self, snapshot: ContractSnapshot, submitter: str, request_type: str) -> str:
        """selection's intake: contract from TFC, the type's category, the application, request created."""
        await self.add_contract(snapshot)
        await self.record_selection(snapshot.contract_no, submitter, APPLICATIONS[request_type][1])
        request_id = await self.submit_application(snapshot.contract_no, submitter, request_type)
        await self.wait_request(request_id, submitter)
        return request_id

    async def request_of_type(self, snapshot: ContractSnapshot, submitter: str, request_type: str) -> str:
        if request_type == "vehicle_return":
            return await self.request_for(snapshot, submitter)
        return await self.application_for(snapshot, submitter, request_type)

    async def request_for(self, snapshot: ContractSnapshot, submitter: str) -> str:
        """The whole intake: contract from TFC, selection 車両返却, return submitted, request created."""
        await self.add_contract(snapshot)
        await self.record_selection(snapshot.contract_no, submitter)
        await self.wait_eligible(snapshot.contract_no, submitter)
        request_id = await self.submit_return(snapshot.contract_no, submitter)
        await self.wait_request(request_id, submitter)
        return request_id


def create(name: str, bootstrap: str, database_url: str, smtp: Smtp | None, **extra: Any) -> FastAPI:
    common: dict[str, Any] = {"kafka_bootstrap_servers": bootstrap, "database_url": database_url, **extra}
    if name == "search":
        from services.search.config import SearchSettings
        from services.search.main import create_app

        return create_app(SearchSettings(**common), clock=lambda: TODAY)
    if name == "selection":
        from services.selection.config import SelectionSettings
        from services.selection.main import create_app as create_selection

        settings = SelectionSettings(**common, consumer_group=f"selection-{uuid.uuid4().hex[:8]}")
        return create_selection(settings, clock=lambda: TODAY)
    if name == "returns":
        from services.returns.config import ReturnsSettings
        from services.returns.main import create_app as create_returns

        return create_returns(ReturnsSettings(**common, status_wait_s=0.2), clock=lambda: NOW)
    if name == "approvals":
        from services.approvals.config import ApprovalsSettings
        from services.approvals.main import create_app as create_approvals

        return create_approvals(ApprovalsSettings(**common, sweep_interval_s=3600), clock=lambda: NOW)
    if name == "mailer":
        from services.mailer.config import MailerSettings
        from services.mailer.main import create_app as create_mailer

        assert smtp is not None
        settings = MailerSettings(
            **common,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_timeout_s=2.0,
            mail_poll_interval_s=0.05,
            mail_retry_base_s=0.1,
            mail_retry_max_s=0.5,
        )
        return create_mailer(settings)
    raise ValueError(name)


@contextlib.asynccontextmanager
async def system(
    bootstrap: str,
    names: Iterable[str] = SERVICES,
    database_urls: dict[str, str] | None = None,
    **settings: Any,
) -> AsyncIterator[System]:
    """Start the named services (fresh PostgreSQL databases unless given), an SMTP server for the mailer."""
    names = list(names)
    made: list[str] = []
    urls = dict(database_urls or {})
    for name in names:
        if name not in urls:
            urls[name] = await create_pg_database(f"t_sys_{name}")
            made.append(urls[name])
    smtp = Smtp() if "mailer" in names else None
    try:
        async with contextlib.AsyncExitStack() as stack:
            if smtp is not None:
                await smtp.start()
                stack.push_async_callback(smtp.stop)
            apps: dict[str, FastAPI] = {}
            clients: dict[str, httpx.AsyncClient] = {}
            for name in names:
                apps[name] = create(name, bootstrap, urls[name], smtp, **settings)
                clients[name] = await stack.enter_async_context(running(apps[name]))
            yield System(bootstrap, apps, clients, urls, smtp)
    finally:
        for url in made:
            with contextlib.suppress(Exception):
                await drop_pg_database(url)
