"""Token verification with the provider's published keys (shared/identity.py), the key cache and its
refresh rules, and the settings that production refuses."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devtools.demo import DEMO_USERS, USERS_BY_ID
from devtools.keys import KeyRing, fixed_key_ring
from shared.identity import AuthError, IdentityProvider, IdentityUnavailable, parse_jwks, verify_token
from shared.settings import CommonSettings
from tests.forged_tokens import forged_tokens
from tests.support import TEST_JWKS_JSON, token_for

SETTINGS = CommonSettings(jwks_json=TEST_JWKS_JSON)
STAFF = USERS_BY_ID["d1s1-staff1"]


def verify(token: str, settings: CommonSettings = SETTINGS) -> Any:
    return verify_token(
        token,
        parse_jwks(json.loads(TEST_JWKS_JSON)).get,
        settings.oidc_issuer,
        settings.oidc_audience,
        refuse_dev_keys=settings.is_production,
    )[0]


def test_token_round_trip_keeps_identity_and_scope() -> None:
    for user in DEMO_USERS:
        assert verify(token_for(user.user_id)).user == user
    back = verify(token_for("d1s1-manager")).user
    assert back.sees_store("D001", "S0101")
    assert not back.sees_store("D001", "S0102")
    assert not back.sees_store("D002", "S0101")


def test_hq_sees_every_store_of_its_dealer_only() -> None:
    hq = USERS_BY_ID["d1-hq"]
    assert hq.sees_store("D001", "S0101") and hq.sees_store("D001", "S0102")
    assert not hq.sees_store("D002", "S0201")


@pytest.mark.parametrize("label", list(forged_tokens()))
def test_forged_and_incomplete_tokens_are_refused(label: str) -> None:
    token, code = forged_tokens()[label]
    with pytest.raises(AuthError) as e:
        verify(token)
    assert e.value.status_code == 401 and e.value.detail["code"] == code, label


def test_keycloak_style_tokens_rs256_with_preferred_username() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "kc-1", "use": "sig"}
    enc = {**jwk, "kid": "kc-enc", "use": "enc", "alg": "RSA-OAEP"}
    keys = parse_jwks({"keys": [jwk, enc, {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]})
    assert set(keys) == {"kc-1"} and keys["kc-1"].algorithm_name == "RS256"
    now = int(time.time())
    claims = {
        **{"iss": SETTINGS.oidc_issuer, "aud": ["jpass", "account"], "sub": "f81d4fae"},
        **{"iat": now, "exp": now + 300, "sid": "s-1"},
        **{"preferred_username": "d1-hq", "name": "森 隆之", "role": "hq", "dealer_code": "D001"},
    }
    verified, _ = verify_token(
        jwt.encode(claims, key, "RS256", {"kid": "kc-1"}), keys.get, SETTINGS.oidc_issuer, "jpass"
    )
    assert verified.user.user_id == "d1-hq" and verified.session_id == "s-1"


def test_production_refuses_the_test_and_dev_key_ids_even_when_published() -> None:
    keys = parse_jwks(json.loads(TEST_JWKS_JSON)).get
    token = token_for(STAFF.user_id)
    assert verify_token(token, keys, SETTINGS.oidc_issuer, "jpass", refuse_dev_keys=False)[0].user == STAFF
    with pytest.raises(AuthError):
        verify_token(token, keys, SETTINGS.oidc_issuer, "jpass", refuse_dev_keys=True)


class FakeProvider(httpx.AsyncBaseTransport):
    """A provider over HTTP: discovery + JWKS from a KeyRing, counting the fetches."""

    def __init__(self, ring: KeyRing, issuer: str) -> None:
        self.ring, self.issuer, self.fetches, self.down = ring, issuer, 0, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("provider down")
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": self.issuer, "jwks_uri": "http://idp/jwks"})
        self.fetches += 1
        return httpx.Response(200, json=self.ring.jwks())


def provider_with(ring: KeyRing, **settings: Any) -> tuple[IdentityProvider, FakeProvider, list[float]]:
    s = CommonSettings(
        jwks_json="", oidc_discovery_url="http://idp/.well-known/openid-configuration", **settings
    )
    transport = FakeProvider(ring, s.oidc_issuer)
    now = [1000.0]
    return IdentityProvider(s, transport=transport, clock=lambda: now[0]), transport, now


async def test_keys_are_cached_and_unknown_kids_refresh_at_most_once_per_interval() -> None:
    ring = fixed_key_ring()
    provider, transport, now = provider_with(ring, jwks_cache_s=300, jwks_min_refresh_s=10)
    good = ring.sign(jwt.decode(token_for("d1-hq"), options={"verify_signature": False}))
    for _ in range(5):
        assert (await provider.verify(good)).user.user_id == "d1-hq"
    assert transport.fetches == 1
    made_up = jwt.encode({"sub": "x"}, ring.current.private_key, "ES256", {"kid": "made-up"})
    now[0] += 10
    for _ in range(20):
        with pytest.raises(AuthError):
            await provider.verify(made_up)
    assert transport.fetches == 2  # one refresh for the unknown kid, then none within 10 s
    now[0] += 11
    with pytest.raises(AuthError):
        await provider.verify(made_up)
    assert transport.fetches == 3
    now[0] += 300
    await provider.verify(good)  # the cache is stale: fetched again
    assert transport.fetches == 4


async def test_a_provider_that_cannot_be_reached() -> None:
    ring = fixed_key_ring()
    provider, transport, now = provider_with(ring, jwks_cache_s=60, jwks_min_refresh_s=5)
    transport.down = True
    with pytest.raises(IdentityUnavailable):  # never had keys: 503, not a 401 that sends people to log in
        await provider.verify(token_for("d1-hq"))
    transport.down = False
    now[0] += 5
    assert (await provider.verify(token_for("d1-hq"))).user.role == "hq"
    transport.down = True
    now[0] += 61
    assert (await provider.verify(token_for("d1-hq"))).user.role == "hq"  # stale keys serve while it is down


async def test_discovery_must_name_the_configured_issuer() -> None:
    ring = fixed_key_ring()
    provider, transport, _ = provider_with(ring)
    transport.issuer = "https://someone-else.example"
    with pytest.raises(IdentityUnavailable):
        await provider.verify(token_for("d1-hq"))


def test_shared_secrets_are_refused_everywhere() -> None:
    with pytest.raises(ValueError, match="JPASS_JWT_SECRET"):
        CommonSettings(jwt_secret="a-real-secret-from-the-vault-xyz")


def test_production_refuses_the_local_provider_and_test_keys() -> None:
    with pytest.raises(ValueError, match="JPASS_OIDC_ISSUER"):
        CommonSettings(env="production", jwks_json="")
    with pytest.raises(ValueError, match="JPASS_OIDC_ISSUER"):
        CommonSettings(env="production", jwks_json="", oidc_issuer="https://idp.example.com/realms/jpass")
    enterprise = {
        "oidc_issuer": "https://idp.example.com/realms/jpass",
        "oidc_discovery_url": "https://idp.example.com/realms/jpass/.well-known/openid-configuration",
    }
    with pytest.raises(ValueError, match="test keys"):
        CommonSettings(env="production", jwks_json=TEST_JWKS_JSON, **enterprise)
    assert CommonSettings(env="production", jwks_json="", **enterprise).is_production


def test_demo_users_cover_two_dealers_two_stores_every_role() -> None:
    seen = {(u.dealer_code, u.store_code, u.role) for u in DEMO_USERS}
    for dealer, stores in (("D001", ("S0101", "S0102")), ("D002", ("S0201", "S0202"))):
        assert (dealer, None, "hq") in seen
        for store in stores:
            assert (dealer, store, "staff") in seen and (dealer, store, "store_manager") in seen
