"""Identity (SPEC §7, §9.3): the identity provider signs tokens with an asymmetric key (ES256 or RS256, with
`kid`); services verify them with the provider's published keys and trust nothing else. No service holds a
signing key.

The keys come from OpenID Connect discovery (`oidc_discovery_url` → `jwks_uri`), or straight from
`oidc_jwks_url`, or from a static JWKS (`jwks_json`: tests, a provider without discovery). They are cached
for `jwks_cache_s` and fetched again when a token names a `kid` the cache does not know — at most once per
`jwks_min_refresh_s`, so tokens with made-up `kid`s cannot make a service hammer the provider.

A token is accepted when its signature verifies with a published key of an allowed algorithm, and its
`iss`, `aud`, `exp`, `iat`, `sub` and the claims our authorization needs (`user_id`, `name`, `role` of the
three roles, `dealer_code`, and `store_code` for staff and store managers) are there and valid. Anything
else is 401, never 500. A token with a session id (`sid`) whose session the provider has ended (logout) is
refused too, where the provider publishes its ended sessions (docs/decisions.md, issue 20).

Pages send the token in the `jpass_token` cookie (HttpOnly, SameSite=Strict); the JSON API in
`Authorization: Bearer`. Roles: staff, store_manager, hq. Scope: dealer (always) and store (staff,
store_manager).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import ValidationError

from shared.refusal import Refusal
from shared.user import ROLE_LABELS as ROLE_LABELS  # re-exported: where the pages take it from
from shared.user import Role, User

log = logging.getLogger("jpass.identity")

TOKEN_COOKIE = "jpass_token"
# Access tokens live at most 15 minutes (SPEC §9.3); the local provider issues 5-minute ones.
MAX_TOKEN_TTL_S = 15 * 60
TOKEN_TTL_S = 5 * 60
ALGORITHMS = ("ES256", "RS256")
# Key ids of the local provider (devtools) and of the test suite: production refuses them.
DEV_KEY_ID_PREFIXES = ("jpass-dev-", "jpass-test-")
LEEWAY_S = 30
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class AuthError(HTTPException):
    def __init__(self, detail: str = "ログインしてください。", code: str = "unauthenticated") -> None:
        super().__init__(status_code=401, detail={"detail": detail, "code": code})


INVALID = "認証情報が正しくありません。再度ログインしてください。"


def invalid_token(code: str = "invalid_token") -> AuthError:
    return AuthError(INVALID, code)


class IdentityUnavailable(HTTPException):
    """The provider's keys could not be had (never fetched, provider down): not the caller's fault."""

    def __init__(self) -> None:
        super().__init__(
            status_code=503,
            detail={
                "detail": "認証サービスに接続できません。しばらくしてから再度お試しください。",
                "code": "identity_unavailable",
            },
            headers={"Retry-After": "5"},
        )


@dataclass(frozen=True)
class Verified:
    user: User
    session_id: str | None
    expires_at: int


def user_from_claims(claims: Mapping[str, Any]) -> User:
    """The claims our authorization needs, or AuthError (401): `user_id` (else `preferred_username`),
    `name`, `role` (one of the three), `dealer_code`; `store_code` for staff and store managers."""
    data = {k: claims[k] for k in User.model_fields if k in claims and claims[k] not in (None, "")}
    data.setdefault("user_id", claims.get("preferred_username"))
    try:
        user = User.model_validate(data)
    except ValidationError as e:
        raise invalid_token("invalid_claims") from e
    if user.role != "hq" and not user.store_code:
        raise invalid_token("invalid_claims")
    return user


def verify_token(
    token: str,
    key_for: Callable[[str], jwt.PyJWK | None],
    issuer: str,
    audience: str,
    *,
    refuse_dev_keys: bool = False,
) -> tuple[Verified, dict[str, Any]]:
    """Verify `token` with the key `key_for(kid)` (None: unknown kid). Pure: no I/O."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise invalid_token() from e
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS or not isinstance(kid, str) or not kid:
        raise invalid_token()
    if refuse_dev_keys and kid.startswith(DEV_KEY_ID_PREFIXES):
        raise invalid_token()
    key = key_for(kid)
    if key is None or key.algorithm_name != alg:
        raise invalid_token()
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            issuer=issuer,
            audience=audience,
            leeway=LEEWAY_S,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as e:
        raise AuthError("ログインの有効期限が切れました。再度ログインしてください。", "token_expired") from e
    except jwt.PyJWTError as e:
        raise invalid_token() from e
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] - claims["iat"] > MAX_TOKEN_TTL_S:
        raise invalid_token()  # a provider misconfigured for long-lived tokens: refused, not trusted
    sid = claims.get("sid")
    verified = Verified(user_from_claims(claims), sid if isinstance(sid, str) else None, int(claims["exp"]))
    return verified, claims


def parse_jwks(data: Any) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document by kid: ES256/RS256 keys with a kid, not for encryption."""
    keys: dict[str, jwt.PyJWK] = {}
    for raw in data.get("keys", []) if isinstance(data, dict) else []:
        if not isinstance(raw, dict) or not raw.get("kid") or raw.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(raw)
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in ALGORITHMS:
            keys[raw["kid"]] = key
    return keys


class IdentityProvider:
    """What a service knows of the identity provider: its published signing keys and its ended sessions.

    `transport` lets tests put the real local provider (devtools) in-process; `clock` is monotonic seconds.
    """

    def __init__(
        self,
        settings: Any,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.clock = clock
        self.keys: dict[str, jwt.PyJWK] = {}
        self.keys_at: float | None = None  # when the keys were last fetched
        self.tried_at: float | None = None  # when a fetch was last tried (success or not)
        self.discovery: dict[str, Any] | None = None
        self.ended: frozenset[str] = frozenset()
        self.ended_at: float | None = None
        self._lock = asyncio.Lock()
        if settings.jwks_json:
            self.keys = parse_jwks(json.loads(settings.jwks_json))
            self.keys_at = float("inf")

    @property
    def static(self) -> bool:
        return bool(self.settings.jwks_json)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=5.0)

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once; empty when only a JWKS URL is set)."""
        if self.discovery is None:
            url = self.settings.oidc_discovery_url
            if not url:
                return {}
            async with self._client() as client:
                response = await client.get(url)
                response.raise_for_status()
                document = response.json()
            if document.get("issuer") != self.settings.oidc_issuer:
                raise ValueError(f"the provider at {url} names issuer {document.get('issuer')!r}")
            self.discovery = document
        return self.discovery

    async def _fetch_keys(self) -> None:
        url = self.settings.oidc_jwks_url or (await self.metadata()).get("jwks_uri")
        if not url:
            raise ValueError("no JWKS URL: set JPASS_OIDC_JWKS_URL or JPASS_OIDC_DISCOVERY_URL")
        async with self._client() as client:
            response = await client.get(url)
            response.raise_for_status()
            keys = parse_jwks(response.json())
        self.keys, self.keys_at = keys, self.clock()

    async def refresh_keys(self, *, unknown_kid: bool) -> None:
        """Fetch the keys when they are stale, or (unknown kid) when the last try is old enough."""
        if self.static:
            return
        async with self._lock:
            now = self.clock()
            stale = self.keys_at is None or now - self.keys_at >= self.settings.jwks_cache_s
            may_retry = self.tried_at is None or now - self.tried_at >= self.settings.jwks_min_refresh_s
            if not may_retry or not (stale or unknown_kid):
                return
            self.tried_at = now
            try:
                await self._fetch_keys()
            except (httpx.HTTPError, ValueError) as e:
                log.warning("identity provider keys not fetched: %r", e)

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if self.keys_at is None or self.clock() - self.keys_at >= self.settings.jwks_cache_s:
            await self.refresh_keys(unknown_kid=False)
        if kid not in self.keys:
            await self.refresh_keys(unknown_kid=True)
        if self.keys_at is None:
            raise IdentityUnavailable()
        return self.keys.get(kid)

    async def session_ended(self, sid: str) -> bool:
        """Whether the provider has ended session `sid` (logout), from the list it publishes, fetched again
        at most every `ended_sessions_refresh_s`. A provider that publishes none: never."""
        if self.static:
            return sid in self.ended
        url = self.settings.oidc_ended_sessions_url
        if not url:
            try:
                url = (await self.metadata()).get("jpass_ended_sessions_endpoint")
            except (httpx.HTTPError, ValueError):
                url = None
        if not url:
            return False
        now = self.clock()
        if self.ended_at is None or now - self.ended_at >= self.settings.ended_sessions_refresh_s:
            try:
                async with self._client() as client:
                    response = await client.get(url)
                    response.raise_for_status()
                    self.ended = frozenset(str(s) for s in response.json().get("ended", []))
                self.ended_at = now
            except (httpx.HTTPError, ValueError, AttributeError) as e:
                log.warning("ended sessions not fetched (the last list stays): %r", e)
        return sid in self.ended

    def verify_cached(self, token: str) -> Verified:
        """Verify with what is cached (no I/O): for code that runs after a request was authenticated."""
        verified, _ = verify_token(
            token,
            self.keys.get,
            self.settings.oidc_issuer,
            self.settings.oidc_audience,
            refuse_dev_keys=self.settings.is_production,
        )
        if verified.session_id and verified.session_id in self.ended:
            raise AuthError("ログアウトしました。再度ログインしてください。", "session_ended")
        return verified

    async def verify(self, token: str) -> Verified:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as e:
            raise invalid_token() from e
        if isinstance(kid, str) and kid:
            await self.key(kid)  # fetches the keys when stale or when the kid is new
        verified = self.verify_cached(token)
        if verified.session_id and await self.session_ended(verified.session_id):
            raise AuthError("ログアウトしました。再度ログインしてください。", "session_ended")
        return verified


def identity_provider(app: FastAPI) -> IdentityProvider:
    """The app's IdentityProvider, made from `app.state.settings` on first use."""
    provider = getattr(app.state, "identity", None)
    if provider is None:
        provider = app.state.identity = IdentityProvider(app.state.settings)
    return provider


def token_from_request(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(TOKEN_COOKIE)


def current_user(request: Request) -> User:
    """The caller, verified with the keys already cached (no I/O): for code that runs after the request's
    `CurrentUser` dependency. Routes use `CurrentUser`."""
    token = token_from_request(request)
    if not token:
        raise AuthError()
    return identity_provider(request.app).verify_cached(token).user


async def authenticated_user(request: Request) -> User:
    """FastAPI dependency (runs on the event loop: a plain `def` dependency is handed to the thread pool,
    which dominated the API's overhead under load, docs/performance.md)."""
    token = token_from_request(request)
    if not token:
        raise AuthError()
    return (await identity_provider(request.app).verify(token)).user


CurrentUser = Annotated[User, Depends(authenticated_user)]


def require_role(*roles: Role):
    """Dependency factory: 403 unless the user has one of `roles`."""

    async def _check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Refusal("forbidden", "forbidden", "この操作を行う権限がありません。")
        return user

    return _check
