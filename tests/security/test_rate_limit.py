"""The local provider's login and token endpoints are rate limited per client address (token bucket)."""

from __future__ import annotations

import httpx
import pytest

from devtools.app import create_app
from devtools.oidc import pkce_challenge
from devtools.ratelimit import TokenBuckets
from devtools.settings import DevtoolsSettings
from services.search.config import SearchSettings
from services.search.main import create_app as create_search

pytestmark = pytest.mark.faults
AUTHORIZATION = {
    "client_id": "jpass-pages",
    "redirect_uri": "http://localhost:8080/login/callback",
    "response_type": "code",
    "state": "s",
    "code_challenge": pkce_challenge("v" * 43),
    "code_challenge_method": "S256",
}


def test_bucket_allows_a_burst_then_refills() -> None:
    now = [0.0]
    buckets = TokenBuckets(capacity=3, refill_per_s=0.5, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 2.0  # one token needs 2 s
    assert buckets.take("b") == 0.0  # someone else is not affected
    now[0] = 2.0
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0


async def test_login_and_token_endpoints_answer_429_when_flooded() -> None:
    app = create_app(DevtoolsSettings(seed_on_start=False, auth_rate_burst=5, auth_rate_per_s=0.01))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        tokens = [await c.post("/auth/token", json={"user_id": "d1-hq"}) for _ in range(5)]
        assert [r.status_code for r in tokens] == [200] * 5
        refused = await c.post("/auth/token", json={"user_id": "d1-hq"})
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        login = await c.post("/oidc/authorize", data={**AUTHORIZATION, "user_id": "d1-hq"})  # one client
        assert login.status_code == 429
        other = await c.post(
            "/oidc/authorize",
            data={**AUTHORIZATION, "user_id": "d1-hq"},
            headers={"x-forwarded-for": "192.0.2.7"},
        )  # another client behind the gateway
        assert other.status_code == 303 and "jpass_idp_session" in other.headers["set-cookie"]
        flood = [
            await c.post(
                "/oidc/authorize",
                data={**AUTHORIZATION, "user_id": "nobody"},
                headers={"x-forwarded-for": "192.0.2.8"},
            )
            for _ in range(20)
        ]
        assert sum(r.status_code == 429 for r in flood) == 15


async def test_x_forwarded_for_is_believed_from_the_gateway_only() -> None:
    """A client reaching the IdP directly cannot pick a new bucket per request with X-Forwarded-For."""
    app = create_app(DevtoolsSettings(seed_on_start=False, auth_rate_burst=3, auth_rate_per_s=0.01))
    direct = httpx.ASGITransport(app=app, client=("192.0.2.50", 4321))
    async with httpx.AsyncClient(transport=direct, base_url="http://testserver") as c:
        spoofed = [
            await c.post(
                "/auth/token", json={"user_id": "d1-hq"}, headers={"x-forwarded-for": f"198.51.100.{i}"}
            )
            for i in range(6)
        ]
    assert [r.status_code for r in spoofed] == [200] * 3 + [429] * 3
    gateway = httpx.ASGITransport(app=app, client=("127.0.0.1", 4321))
    async with httpx.AsyncClient(transport=gateway, base_url="http://testserver") as c:
        # behind the gateway: its last hop is the client (one appended by a proxy in front counts)
        r = await c.post(
            "/auth/token", json={"user_id": "d1-hq"}, headers={"x-forwarded-for": "1.2.3.4, 192.0.2.9"}
        )
        assert r.status_code == 200
        for _ in range(3):
            await c.post(
                "/auth/token", json={"user_id": "d1-hq"}, headers={"x-forwarded-for": "1.2.3.4, 192.0.2.9"}
            )
        r = await c.post(
            "/auth/token", json={"user_id": "d1-hq"}, headers={"x-forwarded-for": "9.9.9.9, 192.0.2.9"}
        )
        assert r.status_code == 429  # the same client whatever it wrote in front


async def test_unknown_user_token_is_401_and_logout_is_a_post_that_clears_the_cookie() -> None:
    app = create_app(DevtoolsSettings(seed_on_start=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        r = await c.post("/auth/token", json={"user_id": "nobody"})
        assert r.status_code == 401 and r.json()["code"] == "unknown_user"
    search = create_search(SearchSettings(oidc_discovery_url=""))  # the page login; no provider to visit
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=search), base_url="http://testserver"
    ) as c:
        assert (await c.get("/logout")).status_code == 405  # a link or an image elsewhere logs no one out
        out = await c.post("/logout", cookies={"jpass_token": "x"})
        assert out.status_code == 200 and "/login/logged-out" in out.text
        cookie = out.headers["set-cookie"]
        assert cookie.startswith("jpass_token=") and "Max-Age=0" in cookie and "HttpOnly" in cookie
        assert "Secure" not in cookie  # plain http locally
        cross = await c.post("/logout", headers={"origin": "https://evil.example"})
        assert cross.status_code == 403


async def test_cookies_are_secure_over_https() -> None:
    https = "https://jpass.example.jp"
    app = create_app(DevtoolsSettings(seed_on_start=False, public_base_url=https))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        authorization = {**AUTHORIZATION, "redirect_uri": f"{https}/login/callback"}
        login = await c.post("/oidc/authorize", data={**authorization, "user_id": "d1-hq"})
        assert login.status_code == 303 and "Secure" in login.headers["set-cookie"]
        logout = await c.post("/oidc/logout", data={"post_logout_redirect_uri": ""})
        assert "Secure" in logout.headers["set-cookie"]
    search = create_search(SearchSettings(oidc_discovery_url="", public_base_url=https))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=search), base_url="http://testserver"
    ) as c:
        assert "Secure" in (await c.post("/logout")).headers["set-cookie"]
