"""One refusal type, one mapping to HTTP (issue 19): every kind has one status, the same for the JSON API
and the pages; real refusals of the services answer the API and their page with the same status."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import get_args

import httpx
import pytest
from fastapi import FastAPI

from services.approvals.config import ApprovalsSettings
from services.approvals.main import create_app as create_approvals
from services.search.config import SearchSettings
from services.search.main import create_app as create_search
from shared.refusal import Refusal, RefusalKind
from shared.requests import FieldError
from shared.web import REFUSAL_STATUS, http_status, install_error_handlers, refusal_body
from tests.approvals.support import submission
from tests.support import auth, token_cookies

EXPECTED = {"not_found": 404, "forbidden": 403, "conflict": 409, "invalid": 422, "stale": 409, "busy": 429}


@pytest.mark.parametrize("kind", get_args(RefusalKind))
def test_every_kind_maps_to_one_client_error(kind: RefusalKind) -> None:
    assert http_status(Refusal(kind, "some_code", "理由")) == EXPECTED[kind] == REFUSAL_STATUS[kind]


def test_the_body_names_the_code_the_field_and_every_field_at_fault() -> None:
    assert refusal_body(Refusal("conflict", "request_closed", "操作できません。")) == {
        "detail": "操作できません。",
        "code": "request_closed",
    }
    form = Refusal.invalid(
        [
            FieldError("contact1", "contact1_required", "連絡先1を入力してください。"),
            Refusal("invalid", "x", "全体"),
        ]
    )
    assert refusal_body(form) == {
        "detail": "連絡先1を入力してください。",
        "code": "contact1_required",
        "field": "contact1",
        "errors": [
            {"field": "contact1", "code": "contact1_required", "detail": "連絡先1を入力してください。"},
            {"field": None, "code": "x", "detail": "全体"},
        ],
    }
    assert form.by_field() == ({"contact1": "連絡先1を入力してください。"}, ["全体"])
    keyed = Refusal(
        "invalid", "invalid_payload", "入力内容に誤りがあります。", errors={"plan": "変更できません"}
    )
    assert refusal_body(keyed)["errors"] == {"plan": "変更できません"}  # approvals' published shape
    assert keyed.by_field() == ({"plan": "変更できません"}, [])
    assert Refusal("invalid", "c", "欄", "note").by_field() == ({"note": "欄"}, [])


def refusing_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/v1/refuse/{kind}")
    @app.get("/refuse/{kind}")
    async def refuse(kind: RefusalKind) -> None:
        raise Refusal(kind, f"{kind}_code", f"{kind}のため、できません。", "field_a")

    return app


@pytest.mark.parametrize("kind", get_args(RefusalKind))
async def test_the_one_handler_answers_json_for_the_api_and_a_page_for_pages(kind: RefusalKind) -> None:
    transport = httpx.ASGITransport(app=refusing_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        api = await client.get(f"/api/v1/refuse/{kind}")
        page = await client.get(f"/refuse/{kind}")
    assert api.status_code == page.status_code == EXPECTED[kind]
    assert api.json() == {"detail": f"{kind}のため、できません。", "code": f"{kind}_code", "field": "field_a"}
    assert page.headers["content-type"].startswith("text/html")
    assert f'data-status="{EXPECTED[kind]}"' in page.text and f'data-code="{kind}_code"' in page.text
    assert f"{kind}のため、できません。" in page.text
    retry = {r.headers.get("retry-after") for r in (api, page)}
    assert retry == ({"30"} if kind == "busy" else {None})


# ---------------------------------------------------------------------------------------------
# The services' own refusals (on SQLite, without broker: no lifespan; the schema made directly)


@pytest.fixture
async def search(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_search(SearchSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/search.db"))
    async with client_of(app) as client:
        yield client


@pytest.fixture
async def approvals(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_approvals(ApprovalsSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/approvals.db"))
    async with client_of(app) as client:
        yield app, client


@contextlib.asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    await app.state.runtime.create_schema()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.runtime.engine.dispose()


def same_status(api: httpx.Response, page: httpx.Response, status: int, code: str) -> None:
    assert api.status_code == page.status_code == status, (api.text, page.text[:500])
    assert api.json()["code"] == code
    assert page.headers["content-type"].startswith("text/html")
    assert api.json()["detail"] in page.text  # the same message on the page


async def test_search_not_found_and_forbidden(search: httpx.AsyncClient) -> None:
    api = await search.get("/api/v1/contracts/T0000000404", headers=auth("d1s1-staff1"))
    page = await search.get("/contracts/T0000000404", cookies=token_cookies("d1s1-staff1"))
    same_status(api, page, 404, "contract_not_found")
    api = await search.get("/api/v1/dashboard", headers=auth("d1s1-staff1"))
    page = await search.get("/dashboard", cookies=token_cookies("d1s1-staff1"))
    same_status(api, page, 403, "dashboard_forbidden")


async def test_search_busy_export_says_when_to_retry(tmp_path: Path) -> None:
    app = create_search(
        SearchSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/s.db", csv_export_slots=1)
    )
    async with client_of(app) as client:
        assert app.state.export_slots.take()  # the one export running
        api = await client.get("/api/v1/contracts/export.csv", headers=auth("d1-hq"))
    assert (
        api.status_code == 429 and api.json()["code"] == "export_busy" and api.headers["retry-after"] == "30"
    )


async def test_approvals_api_and_request_page_refuse_alike(
    approvals: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = approvals
    event = submission("d1s1-staff1").data  # no approval steps set: the request goes straight to 依頼中
    async with app.state.runtime.sessionmaker() as session, session.begin():
        assert await app.state.approvals.submit(session, event, "vehicle_return")
    request_id = event.request_id

    async def both(user: str, action: str, version: int, status: int, code: str) -> None:
        api = await client.post(
            f"/api/v1/requests/{request_id}/{action.replace('_', '-')}",
            json={"version": version},
            headers=auth(user),
        )
        page = await client.post(
            f"/requests/{request_id}",
            data={"action": action, "version": str(version), "request_type": "vehicle_return"},
            cookies=token_cookies(user),
        )
        same_status(api, page, status, code)

    await both("d1s1-staff2", "withdraw", 1, 403, "withdraw_submitter_only")  # the page said 409 before
    await both("d1s1-manager", "approve", 1, 409, "not_your_step")  # 依頼中 is nobody's step: conflict
    await both("d1s1-manager", "send_back", 1, 409, "not_your_step")
    await both("d1s1-staff1", "withdraw", 7, 409, "stale_version")
    missing = await client.get(
        "/requests/00000000-0000-0000-0000-000000000000", cookies=token_cookies("d1-hq")
    )
    api = await client.get("/api/v1/requests/00000000-0000-0000-0000-000000000000", headers=auth("d1-hq"))
    same_status(api, missing, 404, "request_not_found")
    api = await client.get("/api/v1/requests", params={"type": "bogus"}, headers=auth("d1-hq"))
    page = await client.get("/requests", params={"type": "bogus"}, cookies=token_cookies("d1-hq"))
    assert api.status_code == page.status_code == 422 and api.json()["code"] == "invalid_type"
