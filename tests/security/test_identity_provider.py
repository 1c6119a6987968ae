"""The local OpenID provider (devtools) and the page login (shared/login.py) together, in-process behind a
small stand-in for the gateway: authorization code + PKCE, silent renewal through the provider session,
logout that refuses the tokens of the ended session on pages and API, key rotation with its overlap, and
the provider's refusals (unknown client, foreign redirect, reused code, wrong verifier, unknown user)."""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from devtools.app import create_app as create_devtools
from devtools.keys import KeyRing
from devtools.oidc import pkce_challenge, pkce_matches
from devtools.settings import DevtoolsSettings
from services.search.config import SearchSettings
from services.search.main import create_app as create_search
from shared.identity import IdentityProvider
from tests.support import free_port

pytestmark = pytest.mark.faults
BASE = "http://localhost:8080"  # the default issuer and public base URL
PROVIDER_PATHS = ("/.well-known/", "/oidc/", "/auth/", "/dev/")


class Gateway(httpx.AsyncBaseTransport):
    """What deploy/Caddyfile does for these paths: the provider's to devtools, the rest to search."""

    def __init__(self, devtools: Any, search: Any) -> None:
        self.devtools = httpx.ASGITransport(app=devtools)
        self.search = httpx.ASGITransport(app=search)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        to_devtools = request.url.path.startswith(PROVIDER_PATHS)
        return await (self.devtools if to_devtools else self.search).handle_async_request(request)


@dataclass
class System:
    browser: httpx.AsyncClient
    gateway: Gateway
    keys: KeyRing
    ring_now: list[float]
    service_now: list[float]
    search: Any

    def new_browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.gateway, base_url=BASE)

    async def sign_in(
        self, user_id: str, next_path: str = "/contracts", browser: httpx.AsyncClient | None = None
    ) -> str:
        """The demo login as a browser does it; returns the access token the page login set."""
        b = browser or self.browser
        to_provider = await b.get("/login", params={"next": next_path})
        assert to_provider.status_code == 303
        authorize = urlsplit(to_provider.headers["location"])
        assert f"{authorize.scheme}://{authorize.netloc}" == BASE and authorize.path == "/oidc/authorize"
        params = {k: v[0] for k, v in parse_qs(authorize.query).items()}
        assert params["code_challenge_method"] == "S256" and "code_verifier" not in params
        page = await b.get("/oidc/authorize", params=params)
        if page.status_code == 200:  # no provider session yet: the demo user list
            assert f'data-user="{user_id}"' in page.text
            to_client = await b.post("/oidc/authorize", data={**params, "user_id": user_id})
        else:
            to_client = page
        assert to_client.status_code == 303, to_client.text
        back = await b.get(to_client.headers["location"])
        assert back.status_code == 200, back.text
        assert f'content="0;url={next_path}"' in back.text
        return b.cookies["jpass_token"]


@pytest.fixture
async def system(kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[System]:
    ring_now, service_now = [time.time()], [1000.0]
    keys = KeyRing(clock=lambda: ring_now[0])
    devtools = create_devtools(
        DevtoolsSettings(seed_on_start=False, smtp_catcher_port=free_port()), keys=keys
    )
    settings = SearchSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=await pg_database("identity"),
        jwks_json="",
        oidc_discovery_url=f"{BASE}/.well-known/openid-configuration",
        ended_sessions_refresh_s=0,
        jwks_cache_s=60,
        jwks_min_refresh_s=5,
    )
    search = create_search(settings)
    gateway = Gateway(devtools, search)
    search.state.identity = IdentityProvider(settings, transport=gateway, clock=lambda: service_now[0])
    async with (
        search.router.lifespan_context(search),
        httpx.AsyncClient(transport=gateway, base_url=BASE) as browser,
    ):
        yield System(browser, gateway, keys, ring_now, service_now, search)


def moves_on_to(page: httpx.Response) -> str:
    """Where a page that moves on by itself (meta refresh) goes."""
    found = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def test_discovery_and_two_published_keys(system: System) -> None:
    d = (await system.browser.get("/.well-known/openid-configuration")).json()
    assert d["issuer"] == BASE and d["authorization_endpoint"] == f"{BASE}/oidc/authorize"
    assert d["code_challenge_methods_supported"] == ["S256"]
    keys = (await system.browser.get(d["jwks_uri"])).json()["keys"]
    assert len(keys) == 2 and {k["alg"] for k in keys} == {"ES256"} and all("d" not in k for k in keys)
    assert {k["kid"] for k in keys} == {system.keys.current.kid, system.keys.next.kid}


async def test_login_with_code_and_pkce_then_pages_and_api_open(system: System) -> None:
    token = await system.sign_in("d1s1-staff1")
    c = claims(token)
    assert c["role"] == "staff" and c["store_code"] == "S0101" and c["aud"] == "jpass" and c["sid"]
    assert c["exp"] - c["iat"] <= 15 * 60
    page = await system.browser.get("/contracts")
    assert page.status_code == 200 and "佐藤 健一" in page.text
    assert (await system.browser.get("/api/v1/contracts", headers=bearer(token))).status_code == 200


async def test_silent_renewal_through_the_provider_session(system: System) -> None:
    first = await system.sign_in("d1-hq")
    system.browser.cookies.delete("jpass_token")  # the access token expired and the browser dropped it
    expired = await system.browser.get("/contracts")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/login?next=")
    to_provider = await system.browser.get(expired.headers["location"])
    instant = await system.browser.get(to_provider.headers["location"])
    assert instant.status_code == 303 and "code=" in instant.headers["location"]  # no login page: silent
    await system.browser.get(instant.headers["location"])
    second = system.browser.cookies["jpass_token"]
    assert second != first and claims(second)["sid"] == claims(first)["sid"]
    assert (await system.browser.get("/contracts")).status_code == 200
    # and ahead of expiry from an open page (renew.js): no page, just a new cookie
    renewed = await system.browser.get("/login/renew", follow_redirects=True)
    assert renewed.status_code == 204 and system.browser.cookies["jpass_token"]


async def test_logout_is_a_post_that_ends_the_session_and_refuses_its_tokens(system: System) -> None:
    token = await system.sign_in("d1s1-manager")
    assert (await system.browser.get("/logout")).status_code == 405  # a link cannot log anyone out
    out = await system.browser.post("/logout")
    assert out.status_code == 200 and "jpass_token" not in system.browser.cookies
    ended = await system.browser.get(moves_on_to(out))  # the provider's end-session endpoint
    assert ended.status_code == 303 and ended.headers["location"] == f"{BASE}/login/logged-out"
    assert "ログアウトしました" in (await system.browser.get(ended.headers["location"])).text
    # the token from before the logout, replayed: refused on pages and on the API
    page = await system.browser.get("/contracts", cookies={"jpass_token": token})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    api = await system.browser.get("/api/v1/contracts", headers=bearer(token))
    assert api.status_code == 401 and api.json()["code"] == "session_ended"
    # and no silent renewal any more: the provider asks who is there
    to_provider = await system.browser.get("/login")
    assert (await system.browser.get(to_provider.headers["location"])).status_code == 200
    # another person's session is untouched
    other = system.new_browser()
    other_token = await system.sign_in("d1-hq", browser=other)
    assert (await other.get("/api/v1/contracts", headers=bearer(other_token))).status_code == 200


async def test_key_rotation_without_downtime(system: System) -> None:
    old = (await system.browser.post("/auth/token", json={"user_id": "d1-hq"})).json()["access_token"]
    assert (await system.browser.get("/api/v1/contracts", headers=bearer(old))).status_code == 200
    old_kid = system.keys.current.kid
    rotated = (await system.browser.post("/dev/identity/rotate-keys")).json()
    assert rotated["signing_kid"] != old_kid and old_kid in rotated["published"]
    new = (await system.browser.post("/auth/token", json={"user_id": "d1-hq"})).json()["access_token"]
    assert jwt.get_unverified_header(new)["kid"] == rotated["signing_kid"]
    # during the overlap both keys open the API (the new one was published ahead: no refetch needed)
    for token in (old, new):
        assert (await system.browser.get("/api/v1/contracts", headers=bearer(token))).status_code == 200
    # after the overlap the provider stops publishing the old key, and the services follow
    system.ring_now[0] += system.keys.overlap_s + 1
    system.service_now[0] += 61  # the cached keys are stale
    refused = await system.browser.get("/api/v1/contracts", headers=bearer(old))
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_token"
    assert (await system.browser.get("/api/v1/contracts", headers=bearer(new))).status_code == 200


async def test_the_provider_refuses_what_it_must(system: System) -> None:
    b = system.browser
    unknown = await b.post("/auth/token", json={"user_id": "nobody"})
    assert unknown.status_code == 401 and unknown.json()["code"] == "unknown_user"
    verifier = "v" * 43
    good = {
        "client_id": "jpass-pages",
        "redirect_uri": f"{BASE}/login/callback",
        "response_type": "code",
        "state": "s1",
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    for bad in (
        {"client_id": "someone-else"},
        {"redirect_uri": "https://evil.example/login/callback"},
        {"redirect_uri": f"{BASE}/elsewhere"},
        {"code_challenge_method": "plain"},
        {"code_challenge": ""},
        {"response_type": "token"},
    ):
        r = await b.get("/oidc/authorize", params={**good, **bad})
        assert r.status_code == 400 and "location" not in r.headers, bad
    assert (await b.post("/oidc/authorize", data={**good, "user_id": "nobody"})).status_code == 401
    signed_in = await b.post("/oidc/authorize", data={**good, "user_id": "d2-hq"})
    code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": good["redirect_uri"]}
    exchange |= {"client_id": "jpass-pages"}
    wrong = await b.post("/oidc/token", data={**exchange, "code_verifier": "w" * 43})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # the code was spent by the failed try: a stolen code cannot be tried twice
    assert (await b.post("/oidc/token", data={**exchange, "code_verifier": verifier})).status_code == 400
    signed_in = await b.get("/oidc/authorize", params=good)  # the provider session: a code at once
    code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
    ok = await b.post("/oidc/token", data={**exchange, "code": code, "code_verifier": verifier})
    assert ok.status_code == 200 and claims(ok.json()["access_token"])["user_id"] == "d2-hq"
    again = await b.post("/oidc/token", data={**exchange, "code": code, "code_verifier": verifier})
    assert again.status_code == 400
    # a callback without the login it belongs to (state unknown) sets nothing
    stray = await b.get("/login/callback", params={"code": code, "state": uuid.uuid4().hex})
    assert stray.status_code == 400 and "jpass_token" not in stray.headers.get("set-cookie", "")


def test_pkce_s256() -> None:
    # RFC 7636 appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert not pkce_matches("short", pkce_challenge("short"))
    assert not pkce_matches(verifier + "x", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
