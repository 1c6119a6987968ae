"""The demo IdP's login and token endpoints are rate limited per client address (token bucket)."""

from __future__ import annotations

import httpx
import pytest

from devtools.app import create_app
from devtools.ratelimit import TokenBuckets
from devtools.settings import DevtoolsSettings

pytestmark = pytest.mark.faults


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
        login = await c.post("/login", data={"user_id": "d1-hq"})  # the same bucket: one client
        assert login.status_code == 429
        other = await c.post(
            "/login", data={"user_id": "d1-hq"}, headers={"x-forwarded-for": "192.0.2.7"}
        )  # another client behind the gateway
        assert other.status_code == 303 and "jpass_token" in other.headers["set-cookie"]
        flood = [
            (await c.post("/login", data={"user_id": "nobody"}, headers={"x-forwarded-for": "192.0.2.8"}))
            for _ in range(20)
        ]
        assert sum(r.status_code == 429 for r in flood) == 15
