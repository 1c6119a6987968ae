"""Tokens that must not get in (tests/shared/test_identity.py checks each against the verifier,
tests/security/test_tokens_and_limits.py against every endpoint of every service)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devtools.demo import USERS_BY_ID
from devtools.keys import KeyRing
from tests.support import TEST_KEYS, sign_token, token_for

STAFF = USERS_BY_ID["d1s1-staff1"]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _public_pem() -> bytes:
    return TEST_KEYS.current.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hs256_with_public_key(claims: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HMAC over the token with the published public key as secret
    (PyJWT will not make it, so by hand)."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': TEST_KEYS.current.kid})}.{_b64(claims)}"
    mac = hmac.new(_public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def forged_tokens() -> dict[str, tuple[str, str]]:
    """Every way a token must not get in: label → (token, expected code). Minted again every five
    minutes: a token otherwise valid but expired answers `token_expired` before its claims are read, and
    a full run outlives the 15-minute token lifetime."""
    return _forged_tokens(int(time.time() // 300))


@functools.cache
def _forged_tokens(_period: int) -> dict[str, tuple[str, str]]:
    claims = jwt.decode(token_for(STAFF.user_id), options={"verify_signature": False})
    other_ring = KeyRing(kid_prefix="jpass-test-")  # same kid names, other keys
    header, _, signature = token_for(STAFF.user_id).split(".")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "alg none": (jwt.encode(claims, None, algorithm="none"), "invalid_token"),
        "alg none with kid": (
            f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': TEST_KEYS.current.kid})}.{_b64(claims)}.",
            "invalid_token",
        ),
        "HS256 with the public key as secret": (hs256_with_public_key(claims), "invalid_token"),
        "RS256 key of someone else, our kid": (
            jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": TEST_KEYS.current.kid}),
            "invalid_token",
        ),
        "another key, same kid": (other_ring.sign(claims), "invalid_token"),
        "unknown kid": (
            jwt.encode(claims, other_ring.current.private_key, "ES256", {"kid": "nobody"}),
            "invalid_token",
        ),
        "no kid": (jwt.encode(claims, TEST_KEYS.current.private_key, algorithm="ES256"), "invalid_token"),
        "role forged": (f"{header}.{_b64({**claims, 'role': 'hq'})}.{signature}", "invalid_token"),
        "wrong issuer": (sign_token(STAFF, iss="https://evil.example"), "invalid_token"),
        "wrong audience": (sign_token(STAFF, aud="someone-else"), "invalid_token"),
        "expired": (sign_token(STAFF, exp=int(time.time()) - 120), "token_expired"),
        "no exp": (sign_token(STAFF, exp=None), "invalid_token"),
        "no iat": (sign_token(STAFF, iat=None), "invalid_token"),
        "no aud": (sign_token(STAFF, aud=None), "invalid_token"),
        "lives longer than 15 minutes": (sign_token(STAFF, ttl_s=16 * 60), "invalid_token"),
        "no role": (sign_token(STAFF, role=None), "invalid_claims"),
        "role admin": (sign_token(STAFF, role="admin"), "invalid_claims"),
        "no dealer": (sign_token(STAFF, dealer_code=None), "invalid_claims"),
        "staff without store": (sign_token(STAFF, store_code=None), "invalid_claims"),
        "no user id": (sign_token(STAFF, user_id=None, sub="x"), "invalid_claims"),
        "no name": (sign_token(STAFF, name=None), "invalid_claims"),
        "role not a string": (sign_token(STAFF, role=["hq"]), "invalid_claims"),
        "not a token": ("not-a-token", "invalid_token"),
        "garbage segments": ("a.b.c", "invalid_token"),
    }
