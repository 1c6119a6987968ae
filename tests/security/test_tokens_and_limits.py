"""Identity and request limits on every endpoint, straight from the apps' route tables:
missing / expired / tampered / wrongly signed tokens are 401 on every API endpoint (pages go to /login),
cross-site form posts are refused on every page form, oversized bodies are refused (413),
and production settings of every service refuse the development signing key."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from fastapi import FastAPI

from devtools.demo import USERS_BY_ID
from devtools.settings import DevtoolsSettings
from services.approvals.config import ApprovalsSettings
from services.mailer.config import MailerSettings
from services.returns.config import ReturnsSettings
from services.search.config import SearchSettings
from services.selection.config import SelectionSettings
from shared.identity import issue_token
from shared.settings import DEV_SIGNING_KEY
from tests.security.routes import FACTORIES, all_endpoints, devtools_endpoints, protected

pytestmark = pytest.mark.faults

USER = USERS_BY_ID["d1s1-staff1"]
BAD_TOKENS = {
    "expired": (lambda: issue_token(USER, DEV_SIGNING_KEY, ttl_s=-10), "token_expired"),
    "tampered": (lambda: issue_token(USER, DEV_SIGNING_KEY)[:-4] + "AAAA", "invalid_token"),
    "wrong key": (lambda: issue_token(USER, "someone-elses-key-0123456789abcdef0123"), "invalid_token"),
    "alg none": (
        lambda: jwt.encode(
            {**USER.model_dump(), "sub": USER.user_id, "iss": "jpass-idp", "exp": int(time.time()) + 60},
            None,
            algorithm="none",
        ),
        "invalid_token",
    ),
    "no role": (lambda: _signed(role=None), "invalid_token"),
    "no dealer": (lambda: _signed(dealer_code=None), "invalid_token"),
    "role admin": (lambda: _signed(role="admin"), "invalid_token"),
    "role not text": (lambda: _signed(role=["hq"]), "invalid_token"),
    "role forged": (
        lambda: _forge_role(issue_token(USER, DEV_SIGNING_KEY)),
        "invalid_token",
    ),
}
ENDPOINTS = [e for e in all_endpoints() if protected(e)]
API = [e for e in ENDPOINTS if e.is_api]
PAGE_WRITES = [e for e in ENDPOINTS if not e.is_api and e.method in ("POST", "PUT", "DELETE")]


def _signed(**changes: object) -> str:
    """A validly signed, unexpired token whose claims are changed (None: the claim left out)."""
    claims = {**USER.model_dump(), "sub": USER.user_id, "iss": "jpass-idp", "exp": int(time.time()) + 60}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, DEV_SIGNING_KEY, algorithm="HS256")


def _forge_role(token: str) -> str:
    """Keep the signature, change the payload to role hq: the signature no longer matches."""
    import base64
    import json

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "hq"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


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
    for e in API:
        for label, (make, code) in {"missing": (None, "unauthenticated"), **BAD_TOKENS}.items():
            headers = {"Authorization": f"Bearer {make()}"} if make else {}
            r = await clients[e.service].request(e.method, e.fill(), headers=headers, json={})
            checked += 1
            if r.status_code != 401 or r.json().get("code") != code:
                failures.append(f"{e.method} {e.path} [{label}] → {r.status_code} {r.text[:120]}")
    assert not failures, "\n".join(failures)
    assert checked == len(API) * (len(BAD_TOKENS) + 1)


async def test_every_page_sends_a_bad_cookie_to_the_login(clients: dict[str, httpx.AsyncClient]) -> None:
    failures = []
    for e in ENDPOINTS:
        if e.is_api or e.method != "GET":
            continue
        for label, (make, _) in BAD_TOKENS.items():
            r = await clients[e.service].get(e.fill(), cookies={"jpass_token": make()})
            if r.status_code != 303 or not r.headers["location"].startswith("/login"):
                failures.append(f"GET {e.path} [{label}] → {r.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("source", ["origin", "referer"])
async def test_every_page_form_refuses_cross_site_posts(
    clients: dict[str, httpx.AsyncClient], source: str
) -> None:
    """A valid session cookie, but the form was posted from another site (login CSRF included)."""
    cookie = {"jpass_token": issue_token(USERS_BY_ID["d1-hq"], DEV_SIGNING_KEY)}
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
    cookie = {"jpass_token": issue_token(USERS_BY_ID["d1-hq"], DEV_SIGNING_KEY)}
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
    token = {"Authorization": f"Bearer {issue_token(USER, DEV_SIGNING_KEY)}"}
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
        cookies={"jpass_token": issue_token(USER, DEV_SIGNING_KEY)},
    )
    assert page.status_code == 413


@pytest.mark.parametrize(
    "settings_class",
    [SearchSettings, SelectionSettings, ReturnsSettings, ApprovalsSettings, MailerSettings, DevtoolsSettings],
)
def test_production_settings_refuse_the_dev_signing_key(settings_class: type) -> None:
    with pytest.raises(ValueError, match="JPASS_JWT_SECRET"):
        settings_class(env="production")
    assert settings_class(
        env="production", jwt_secret="a-real-secret-from-the-vault-0123456789"
    ).is_production
