"""Signing keys of the local identity provider (devtools) and the claims of the tokens it signs.

Keys are ES256 (P-256), generated when devtools starts and never written anywhere: a restarted devtools is
a provider with new keys (the services pick them up on the first token with an unknown `kid`; people sign
in again). The ring publishes three kinds of key: the one that signs, the next one (published ahead, so
every service has it before the first token it signs arrives), and retired ones, still published for
`overlap_s` (the longest token lifetime plus the verification leeway) so tokens signed before a rotation
stay valid until they expire. The test suite and the benchmarks use `fixed_key_ring()`: the same ring
with keys derived from a fixed seed and key ids `jpass-test-N` (every process of a test run signs alike;
production refuses those key ids as it refuses `jpass-dev-*`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shared.identity import LEEWAY_S, MAX_TOKEN_TTL_S, TOKEN_TTL_S, User

ALGORITHM = "ES256"


@dataclass
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    retired_at: float | None = None

    def public_jwk(self) -> dict[str, Any]:
        jwk = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


class KeyRing:
    def __init__(
        self,
        kid_prefix: str = "jpass-dev-",
        overlap_s: float = MAX_TOKEN_TTL_S + LEEWAY_S,
        clock: Callable[[], float] = time.time,
        seed: bytes | None = None,
    ) -> None:
        self.kid_prefix = kid_prefix
        self.overlap_s = overlap_s
        self.clock = clock
        self.seed = seed
        self.made = 0
        self.current = self._new_key()
        self.next = self._new_key()
        self.retired: list[SigningKey] = []

    def _new_key(self) -> SigningKey:
        self.made += 1
        if self.seed is None:
            return SigningKey(
                f"{self.kid_prefix}{secrets.token_hex(6)}", ec.generate_private_key(ec.SECP256R1())
            )
        secret = int.from_bytes(hashlib.sha256(self.seed + str(self.made).encode()).digest())
        return SigningKey(f"{self.kid_prefix}{self.made}", ec.derive_private_key(secret, ec.SECP256R1()))

    def rotate(self) -> None:
        """The next key signs from now on; the old one stays published for the overlap; a new next key."""
        self.current.retired_at = self.clock()
        self.retired.append(self.current)
        self.current, self.next = self.next, self._new_key()

    def published(self) -> list[SigningKey]:
        now = self.clock()
        self.retired = [k for k in self.retired if now - (k.retired_at or now) < self.overlap_s]
        return [self.current, self.next, *self.retired]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.published()]}

    def jwks_json(self) -> str:
        return json.dumps(self.jwks())

    def sign(self, claims: dict[str, Any], key: SigningKey | None = None) -> str:
        key = key or self.current
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def token_claims(
    user: User,
    issuer: str,
    audience: str,
    now: float,
    ttl_s: int = TOKEN_TTL_S,
    sid: str | None = None,
) -> dict[str, Any]:
    """The access token's claims: the registered ones and what J-PASS authorizes with (shared/identity.py)."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": user.user_id,
        "iat": int(now),
        "exp": int(now) + ttl_s,
        **{k: v for k, v in user.model_dump().items() if v is not None},
    }
    if sid:
        claims["sid"] = sid
    return claims


def fixed_key_ring() -> KeyRing:
    """Tests and benchmarks only: the same two keys in every process (`jpass-test-1` signs)."""
    return KeyRing(kid_prefix="jpass-test-", seed=b"jpass test keys: never for a deployment")
