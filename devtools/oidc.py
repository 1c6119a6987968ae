"""The local OpenID provider (SPEC §9.3): discovery, JWKS, the demo login as authorization code + PKCE,
sessions that end at logout, and `POST /auth/token` for local tools and tests (SPEC §7).

Endpoints the browser uses (authorize, logout) are named under the issuer (the gateway's origin); those the
services call (token, JWKS, ended sessions) under the address the discovery document was asked at — the
services ask devtools directly, the browser through the gateway (as Keycloak's dynamic back-channel
host names do). State (sessions, codes) lives in memory: a restarted devtools forgets every session.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import jwt
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from devtools.demo import DEALERS, DEMO_USERS, USERS_BY_ID
from devtools.keys import ALGORITHM, KeyRing, token_claims
from devtools.ratelimit import TokenBuckets, limit
from devtools.settings import DevtoolsSettings
from shared.identity import MAX_TOKEN_TTL_S, TOKEN_TTL_S, User
from shared.web import make_templates

SESSION_COOKIE = "jpass_idp_session"
SESSION_TTL_S = 10 * 3600  # a working day: the provider session renews the 5-minute access tokens
CODE_TTL_S = 60
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
templates = make_templates(Path(__file__).parent / "templates")


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def pkce_matches(verifier: str, challenge: str) -> bool:
    return bool(VERIFIER.match(verifier)) and secrets.compare_digest(pkce_challenge(verifier), challenge)


@dataclass
class Session:
    sid: str
    user_id: str
    started_at: float


@dataclass
class AuthCode:
    user_id: str
    sid: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    expires_at: float


@dataclass
class Provider:
    settings: DevtoolsSettings
    keys: KeyRing = field(default_factory=KeyRing)
    clock: Callable[[], float] = time.time
    sessions: dict[str, Session] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)  # sid → when it ended
    codes: dict[str, AuthCode] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.settings.oidc_issuer

    def allowed_redirect(self, uri: str, path: str) -> bool:
        """Our own origin (the issuer's or the public base URL's) and the given path: no open redirect."""
        parts = urlsplit(uri)
        origins = {
            f"{p.scheme}://{p.netloc}" for p in map(urlsplit, (self.issuer, self.settings.public_base_url))
        }
        return f"{parts.scheme}://{parts.netloc}" in origins and parts.path == path

    def session(self, sid: str | None) -> Session | None:
        found = self.sessions.get(sid or "")
        if found and self.clock() - found.started_at < SESSION_TTL_S:
            return found
        return None

    def start_session(self, user_id: str) -> Session:
        session = Session(secrets.token_urlsafe(24), user_id, self.clock())
        self.sessions[session.sid] = session
        return session

    def end_session(self, sid: str) -> None:
        if self.sessions.pop(sid, None) is not None:
            self.ended[sid] = self.clock()

    def ended_sessions(self) -> list[str]:
        """Ended sessions whose tokens could still be unexpired (older ones need no listing)."""
        now = self.clock()
        self.ended = {sid: at for sid, at in self.ended.items() if now - at < MAX_TOKEN_TTL_S + 60}
        return sorted(self.ended)

    def issue_code(
        self, session: Session, client_id: str, redirect_uri: str, challenge: str, nonce: str | None
    ) -> str:
        now = self.clock()
        self.codes = {c: a for c, a in self.codes.items() if a.expires_at > now}
        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthCode(
            session.user_id, session.sid, client_id, redirect_uri, challenge, nonce, now + CODE_TTL_S
        )
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str, verifier: str) -> AuthCode | None:
        """Good once, briefly, for the client and redirect URI it was given to, with its PKCE verifier."""
        grant = self.codes.pop(code, None)
        if (
            grant is None
            or grant.expires_at <= self.clock()
            or grant.client_id != client_id
            or grant.redirect_uri != redirect_uri
            or not pkce_matches(verifier, grant.code_challenge)
            or self.session(grant.sid) is None
        ):
            return None
        return grant

    def access_token(self, user: User, sid: str | None = None) -> str:
        claims = token_claims(user, self.issuer, self.settings.oidc_audience, self.clock(), TOKEN_TTL_S, sid)
        return self.keys.sign(claims)

    def id_token(self, user: User, sid: str, nonce: str | None) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.settings.oidc_client_id,
            "sub": user.user_id,
            "iat": now,
            "exp": now + TOKEN_TTL_S,
            "sid": sid,
            "name": user.name,
        }
        if nonce:
            claims["nonce"] = nonce
        return self.keys.sign(claims)

    def sid_from_id_token(self, id_token: str) -> str | None:
        """The session an id_token_hint names, if we signed it (expired hints are fine: logout comes late)."""
        keys = {k.kid: k.private_key.public_key() for k in self.keys.published()}
        try:
            key = keys.get(jwt.get_unverified_header(id_token).get("kid", ""))
            if key is None:
                return None
            claims = jwt.decode(
                id_token,
                key,
                algorithms=[ALGORITHM],
                audience=self.settings.oidc_client_id,
                issuer=self.issuer,
                options={"verify_exp": False},
            )
        except jwt.PyJWTError:
            return None
        sid = claims.get("sid")
        return sid if isinstance(sid, str) else None


class TokenRequest(BaseModel):
    user_id: str


def oauth_error(error: str, detail: str, status: int = 400) -> JSONResponse:
    """OAuth's error shape (RFC 6749 §5.2) and ours (SPEC §7) in one body."""
    return JSONResponse(
        {"error": error, "error_description": detail, "detail": detail, "code": error}, status_code=status
    )


def provider_router(provider: Provider) -> APIRouter:
    """The provider's routes: discovery and keys, the sign-in (authorize), tokens, the logout."""
    settings = provider.settings
    router = APIRouter()
    buckets = TokenBuckets(settings.auth_rate_burst, settings.auth_rate_per_s)
    rate_limited = [Depends(limit(buckets, settings.trusted_proxies))]
    _discovery_routes(router, provider)
    _sign_in_routes(router, provider, rate_limited)
    _token_routes(router, provider, rate_limited)
    _logout_routes(router, provider)
    return router


def _discovery_routes(router: APIRouter, provider: Provider) -> None:
    @router.get("/.well-known/openid-configuration")
    async def discovery(request: Request) -> dict[str, Any]:
        return {
            "issuer": provider.issuer,
            "authorization_endpoint": f"{provider.issuer}/oidc/authorize",
            "end_session_endpoint": f"{provider.issuer}/oidc/logout",
            "token_endpoint": _backchannel(request, "/oidc/token"),
            "jwks_uri": _backchannel(request, "/oidc/jwks"),
            # Not standard: the sessions ended by logout whose tokens may not have expired yet.
            "jpass_ended_sessions_endpoint": _backchannel(request, "/oidc/ended-sessions"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid"],
            "claims_supported": [
                "sub",
                "sid",
                "user_id",
                "name",
                "role",
                "dealer_code",
                "dealer_name",
                "store_code",
                "store_name",
                "staff_code",
                "email",
            ],
        }

    @router.get("/oidc/jwks")
    async def jwks() -> JSONResponse:
        return JSONResponse(provider.keys.jwks(), headers={"Cache-Control": "max-age=60"})

    @router.get("/oidc/ended-sessions")
    async def ended_sessions() -> dict[str, list[str]]:
        return {"ended": provider.ended_sessions()}


def _sign_in_routes(router: APIRouter, provider: Provider, rate_limited: list[Any]) -> None:
    settings = provider.settings

    @router.get("/oidc/authorize", response_class=HTMLResponse)
    async def authorize(
        request: Request,
        client_id: str = "",
        redirect_uri: str = "",
        response_type: str = "",
        state: str = "",
        code_challenge: str = "",
        code_challenge_method: str = "",
        nonce: str | None = None,
        prompt: str | None = None,
    ) -> Response:
        problem = _check_authorization(
            provider, client_id, redirect_uri, response_type, code_challenge_method, code_challenge
        )
        if problem:
            return _refused(request, problem)
        session = provider.session(request.cookies.get(SESSION_COOKIE))
        if session is not None:  # the provider session: a new code without asking (silent renewal)
            code = provider.issue_code(session, client_id, redirect_uri, code_challenge, nonce)
            return _to_client(redirect_uri, code=code, state=state)
        if prompt == "none":
            return _to_client(redirect_uri, error="login_required", state=state)
        authorization = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "response_type": response_type,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method,
            "nonce": nonce or "",
        }
        return templates.TemplateResponse(
            request,
            "login.html",
            {"user": None, "users": DEMO_USERS, "dealers": DEALERS, "authorization": authorization},
        )

    @router.post("/oidc/authorize", dependencies=rate_limited)
    async def sign_in(
        request: Request,
        user_id: Annotated[str, Form()],
        client_id: Annotated[str, Form()] = "",
        redirect_uri: Annotated[str, Form()] = "",
        response_type: Annotated[str, Form()] = "",
        state: Annotated[str, Form()] = "",
        code_challenge: Annotated[str, Form()] = "",
        code_challenge_method: Annotated[str, Form()] = "",
        nonce: Annotated[str, Form()] = "",
    ) -> Response:
        problem = _check_authorization(
            provider, client_id, redirect_uri, response_type, code_challenge_method, code_challenge
        )
        if problem:
            return _refused(request, problem)
        if user_id not in USERS_BY_ID:
            return _refused(request, "ユーザーが見つかりません。", 401)
        session = provider.start_session(user_id)
        response = _to_client(
            redirect_uri,
            code=provider.issue_code(session, client_id, redirect_uri, code_challenge, nonce or None),
            state=state,
        )
        response.set_cookie(
            SESSION_COOKIE,
            session.sid,
            max_age=SESSION_TTL_S,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/oidc",
        )
        return response


def _token_routes(router: APIRouter, provider: Provider, rate_limited: list[Any]) -> None:
    @router.post("/oidc/token", dependencies=rate_limited)
    async def token(
        grant_type: Annotated[str, Form()] = "",
        code: Annotated[str, Form()] = "",
        redirect_uri: Annotated[str, Form()] = "",
        client_id: Annotated[str, Form()] = "",
        code_verifier: Annotated[str, Form()] = "",
    ) -> Response:
        if grant_type != "authorization_code":
            return oauth_error("unsupported_grant_type", "authorization_code のみ受け付けます。")
        grant = provider.redeem_code(code, client_id, redirect_uri, code_verifier)
        if grant is None:
            return oauth_error(
                "invalid_grant", "認可コードが無効です（期限切れ・使用済み・検証値の不一致）。"
            )
        user = USERS_BY_ID[grant.user_id]
        return JSONResponse(
            {
                "access_token": provider.access_token(user, grant.sid),
                "id_token": provider.id_token(user, grant.sid, grant.nonce),
                "token_type": "Bearer",
                "expires_in": TOKEN_TTL_S,
                "scope": "openid",
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.post("/auth/token", dependencies=rate_limited)
    async def tool_token(body: TokenRequest) -> Response:
        """Local tools and tests (SPEC §7): a 5-minute access token for a demo user, no session. An unknown
        user is a 401 here (an API answer, not the pages' redirect to the login)."""
        user = USERS_BY_ID.get(body.user_id)
        if user is None:
            unknown = {"detail": "ユーザーが見つかりません。", "code": "unknown_user"}
            return JSONResponse(unknown, status_code=401)
        return JSONResponse({"access_token": provider.access_token(user), "token_type": "bearer"})

    @router.post("/dev/identity/rotate-keys")
    async def rotate_keys() -> dict[str, Any]:
        """Local only: rotate the signing key now (the old one stays published for the overlap)."""
        provider.keys.rotate()
        return {
            "signing_kid": provider.keys.current.kid,
            "published": [k.kid for k in provider.keys.published()],
        }


def _logout_routes(router: APIRouter, provider: Provider) -> None:
    @router.get("/oidc/logout", response_class=HTMLResponse)
    async def logout(
        request: Request, id_token_hint: str | None = None, post_logout_redirect_uri: str | None = None
    ) -> Response:
        """RP-initiated logout. With the id_token_hint of this browser's session it ends at once; without
        one (a link from anywhere) it asks first, with a POST button, so no other site can log anyone out."""
        own = request.cookies.get(SESSION_COOKIE)
        hinted = provider.sid_from_id_token(id_token_hint) if id_token_hint else None
        if hinted is not None and hinted == own:
            return _end_and_leave(provider, request, own, post_logout_redirect_uri)
        if hinted is not None and own is None:  # the provider cookie is gone already: end what it names
            return _end_and_leave(provider, request, hinted, post_logout_redirect_uri)
        return templates.TemplateResponse(
            request,
            "oidc_logout.html",
            {"user": None, "post_logout_redirect_uri": post_logout_redirect_uri or ""},
        )

    @router.post("/oidc/logout")
    async def logout_confirmed(
        request: Request, post_logout_redirect_uri: Annotated[str, Form()] = ""
    ) -> Response:
        return _end_and_leave(
            provider, request, request.cookies.get(SESSION_COOKIE), post_logout_redirect_uri or None
        )


def _backchannel(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + path


def _check_authorization(
    provider: Provider, client_id: str, redirect_uri: str, response_type: str, method: str, challenge: str
) -> str | None:
    if client_id != provider.settings.oidc_client_id:
        return "この利用者（client_id）は登録されていません。"
    if not provider.allowed_redirect(redirect_uri, "/login/callback"):
        return "戻り先（redirect_uri）が登録されていません。"
    if response_type != "code" or method != "S256" or not challenge:
        return "認可リクエストが正しくありません（authorization code + PKCE S256 のみ）。"
    return None


def _refused(request: Request, message: str, status: int = 400) -> Response:
    return templates.TemplateResponse(
        request, "oidc_error.html", {"user": None, "message": message}, status_code=status
    )


def _to_client(redirect_uri: str, **params: str) -> RedirectResponse:
    return RedirectResponse(f"{redirect_uri}?{urlencode(params)}", status_code=303)


def _end_and_leave(
    provider: Provider, request: Request, sid: str | None, post_logout_redirect_uri: str | None
) -> Response:
    if sid:
        provider.end_session(sid)
    if post_logout_redirect_uri and provider.allowed_redirect(post_logout_redirect_uri, "/login/logged-out"):
        response: Response = RedirectResponse(post_logout_redirect_uri, status_code=303)
    else:
        response = templates.TemplateResponse(request, "oidc_logged_out.html", {"user": None})
    response.delete_cookie(
        SESSION_COOKIE, path="/oidc", httponly=True, samesite="lax", secure=provider.settings.secure_cookies
    )
    return response
