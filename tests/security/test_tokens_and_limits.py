"""Identity and request limits on every endpoint, straight from the apps' route tables:
missing, forged (alg none, HS256 with the public key, unknown kid, another key), expired, wrongly issued or
addressed tokens and tokens without the claims we authorize with are 401 on every API endpoint (pages go to
/login), cross-site form posts are refused on every page form, oversized bodies are refused (413),
and production settings of every service refuse shared secrets, the local provider and the test keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from devtools.demo import USERS_BY_ID
from devtools.settings import DevtoolsSettings
from services.approvals.config import ApprovalsSettings
from services.mailer.config import MailerSettings
from services.returns.config import ReturnsSettings
from services.search.config import SearchSettings
from services.selection.config import SelectionSettings
from tests.forged_tokens import forged_tokens
from tests.security.routes import FACTORIES, all_endpoints, devtools_endpoints, protected
from tests.support import TEST_JWKS_JSON, token_for

pytestmark = pytest.mark.faults

USER = USERS_BY_ID["d1s1-staff1"]
ENDPOINTS = [e for e in all_endpoints() if protected(e)]
API = [e for e in ENDPOINTS if e.is_api]
PAGE_WRITES = [e for e in ENDPOINTS if not e.is_api and e.method in ("POST", "PUT", "DELETE")]


@pytest.fixture(scope="module")
async def clients() -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """The apps without their lifespan: identity is checked before any database or broker use."""
    made = {}
    for name, factory in FACTORIES.items():
        app: FastAPI = factory()
        made[name] = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    yield made
    for c in made.values():
        await c.aclose()


def test_the_route_tables_are_not_empty() -> None:
    assert len(API) >= 20 and len(PAGE_WRITES) >= 8, (len(API), len(PAGE_WRITES))


async def test_every_api_endpoint_refuses_missing_and_bad_tokens(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    failures = []
    checked = 0
    bad_tokens = forged_tokens()  # minted now: the table of a collection 15 minutes ago has expired
    for e in API:
        for label, (token, code) in {"missing": (None, "unauthenticated"), **bad_tokens}.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = await clients[e.service].request(e.method, e.fill(), headers=headers, json={})
            checked += 1
            if r.status_code != 401 or r.json().get("code") != code:
                failures.append(f"{e.method} {e.path} [{label}] → {r.status_code} {r.text[:120]}")
    assert not failures, "\n".join(failures)
    assert checked == len(API) * (len(bad_tokens) + 1)


async def test_every_page_sends_a_bad_cookie_to_the_login(clients: dict[str, httpx.AsyncClient]) -> None:
    failures = []
    bad_tokens = forged_tokens()
    for e in ENDPOINTS:
        if e.is_api or e.method != "GET":
            continue
        for label, (token, _) in bad_tokens.items():
            r = await clients[e.service].get(e.fill(), cookies={"jpass_token": token})
            if r.status_code != 303 or not r.headers["location"].startswith("/login"):
                failures.append(f"GET {e.path} [{label}] → {r.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("source", ["origin", "referer"])
async def test_every_page_form_refuses_cross_site_posts(
    clients: dict[str, httpx.AsyncClient], source: str
) -> None:
    """A valid session cookie, but the form was posted from another site (login CSRF included)."""
    cookie = {"jpass_token": token_for("d1-hq")}
    evil = "https://evil.example" if source == "origin" else "https://evil.example/page.html"
    failures = []
    for e in PAGE_WRITES:
        r = await clients[e.service].request(
            e.method, e.fill(), cookies=cookie, headers={source: evil}, data={"version": "1", "text": "x"}
        )
        if r.status_code != 403 or r.json()["code"] != "cross_site_request":
            failures.append(f"{e.method} {e.path} → {r.status_code}")
    from devtools.app import create_app

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(DevtoolsSettings(seed_on_start=False))),
        base_url="http://testserver",
    ) as dev:
        for e in devtools_endpoints():
            if e.method in ("POST", "PUT", "DELETE") and not e.path.startswith("/auth/"):
                r = await dev.request(e.method, e.fill(), headers={source: evil}, data={"user_id": "d1-hq"})
                if r.status_code != 403:
                    failures.append(f"devtools {e.method} {e.path} → {r.status_code}")
    assert not failures, "\n".join(failures)


async def test_same_site_posts_still_pass_the_csrf_check(clients: dict[str, httpx.AsyncClient]) -> None:
    cookie = {"jpass_token": token_for("d1-hq")}
    for headers in (
        {"origin": "http://localhost:8080"},  # the public origin (JPASS_PUBLIC_BASE_URL)
        {"origin": "http://127.0.0.1:5555", "host": "127.0.0.1:5555"},  # the local run on its own port
    ):
        r = await clients["approvals"].post("/approval-flow", cookies=cookie, headers=headers, data={})
        assert r.status_code != 403, headers
    # a name someone's DNS points at us is their site, whatever Host it names
    r = await clients["approvals"].post(
        "/approval-flow", cookies=cookie, headers={"origin": "http://testserver"}, data={"x": "1"}
    )
    assert r.status_code == 403


async def test_oversized_bodies_are_refused(clients: dict[str, httpx.AsyncClient]) -> None:
    token = {"Authorization": f"Bearer {token_for(USER.user_id)}"}
    big = "あ" * 400_000  # 1.2 MB in UTF-8, over the 1 MiB default
    declared = await clients["selection"].put("/api/v1/contracts/C1/memo", json={"text": big}, headers=token)
    assert declared.status_code == 413 and declared.json()["code"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"text": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    streamed = await clients["returns"].post(
        "/api/v1/returns", content=chunks(), headers={**token, "content-type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"
    page = await clients["selection"].post(
        "/selection/contracts/C1/memo",
        data={"text": big},
        cookies={"jpass_token": token_for(USER.user_id)},
    )
    assert page.status_code == 413


@pytest.mark.parametrize(
    "settings_class",
    [SearchSettings, SelectionSettings, ReturnsSettings, ApprovalsSettings, MailerSettings, DevtoolsSettings],
)
def test_production_settings_refuse_shared_secrets_the_local_provider_and_test_keys(
    settings_class: type,
) -> None:
    enterprise = {
        "oidc_issuer": "https://idp.example.com/realms/jpass",
        "oidc_discovery_url": "https://idp.example.com/realms/jpass/.well-known/openid-configuration",
        "jwks_json": "",
    }
    with pytest.raises(ValueError, match="JPASS_JWT_SECRET"):
        settings_class(env="production", **enterprise, jwt_secret="a-real-secret-from-the-vault-0123456789")
    with pytest.raises(ValueError, match="JPASS_OIDC_ISSUER"):
        settings_class(env="production", jwks_json="")
    with pytest.raises(ValueError, match="test keys"):
        settings_class(env="production", **{**enterprise, "jwks_json": TEST_JWKS_JSON})
    assert settings_class(env="production", **enterprise).is_production
