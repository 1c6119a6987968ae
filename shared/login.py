"""The page login: J-PASS as an OpenID Connect client of the identity provider (authorization code + PKCE,
a public client: no client secret, no signing key). Mounted by the search service, which the gateway sends
every path no other service claims (so `/login`, `/login/callback`, `/logout` reach it).

- `GET /login?next=` sends the browser to the provider's authorization endpoint with a fresh state and
  PKCE verifier, kept in a short cookie named after the state (several tabs may log in at once).
- `GET /login/callback` exchanges the code (with the verifier) at the provider's token endpoint, verifies
  the access token as every service will, and sets it as the `jpass_token` cookie. It answers with a page
  that moves on to `next` itself: a fresh same-site navigation, so the SameSite=Strict cookie is sent
  even when the provider is another site.
- Silent renewal: access tokens live 5 minutes. A page request with an expired token is sent to `/login`;
  the provider still has its session and answers at once with a new code — a redirect round trip the user
  does not notice. Pages also renew ahead of expiry (shared/static/renew.js fetches `/login/renew`).
- `POST /logout` clears the cookies and sends the browser to the provider's end-session endpoint (with the
  id token as hint), which ends the provider session; the provider then lists that session as ended, and
  every service refuses tokens of it (shared/identity.py).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.identity import TOKEN_COOKIE, AuthError, IdentityUnavailable, identity_provider

ID_TOKEN_COOKIE = "jpass_id_token"
LOGIN_COOKIE_PREFIX = "jpass_login_"
LOGIN_TTL_S = 600

router = APIRouter(include_in_schema=False)


def safe_next(target: str) -> str:
    """Only same-origin paths (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _base(request: Request) -> str:
    return str(request.app.state.settings.public_base_url).rstrip("/")


async def _metadata(request: Request) -> dict[str, Any]:
    try:
        return await identity_provider(request.app).metadata()
    except (httpx.HTTPError, ValueError) as e:
        raise IdentityUnavailable() from e


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.secure_cookies)


def _page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, template, {"user": None, **context}, status_code=status
    )


@router.get("/login")
async def login(request: Request, next: str = "/", prompt: str | None = None) -> Response:
    meta = await _metadata(request)
    state = secrets.token_hex(12)
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": request.app.state.settings.oidc_client_id,
        "redirect_uri": f"{_base(request)}/login/callback",
        "scope": "openid",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "nonce": secrets.token_hex(12),
    }
    if prompt == "none":
        params["prompt"] = "none"
    response = RedirectResponse(f"{meta['authorization_endpoint']}?{urlencode(params)}", status_code=303)
    pending = json.dumps({"verifier": verifier, "next": safe_next(next), "silent": prompt == "none"})
    response.set_cookie(
        LOGIN_COOKIE_PREFIX + state,
        base64.urlsafe_b64encode(pending.encode()).decode(),
        max_age=LOGIN_TTL_S,
        httponly=True,
        samesite="lax",  # it must come back with the provider's redirect (a top-level navigation)
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login/callback")
async def callback(
    request: Request, state: str = "", code: str | None = None, error: str | None = None
) -> Response:
    raw = request.cookies.get(LOGIN_COOKIE_PREFIX + state) if state.isalnum() else None
    if raw is None:
        return _page(
            request,
            "login_error.html",
            400,
            message="ログインの手続きが途中で切れました。もう一度ログインしてください。",
        )
    pending = json.loads(base64.urlsafe_b64decode(raw))
    if pending.get("silent") and error:
        response: Response = Response(status_code=401)  # renew.js: no provider session any more
    elif error or not code:
        response = _page(
            request,
            "login_error.html",
            400,
            message="ログインできませんでした。もう一度ログインしてください。",
        )
    else:
        response = await _finish(request, code, pending)
    response.delete_cookie(LOGIN_COOKIE_PREFIX + state, path="/login", secure=_secure(request), httponly=True)
    return response


async def _finish(request: Request, code: str, pending: dict[str, Any]) -> Response:
    settings = request.app.state.settings
    meta = await _metadata(request)
    try:
        async with httpx.AsyncClient(
            transport=identity_provider(request.app).transport, timeout=5.0
        ) as client:
            answer = await client.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": f"{_base(request)}/login/callback",
                    "client_id": settings.oidc_client_id,
                    "code_verifier": pending["verifier"],
                },
            )
    except httpx.HTTPError as e:
        raise IdentityUnavailable() from e
    tokens = answer.json() if answer.status_code == 200 else {}
    if "access_token" not in tokens:
        return _page(
            request,
            "login_error.html",
            400,
            message="ログインできませんでした。もう一度ログインしてください。",
        )
    try:
        verified = await identity_provider(request.app).verify(tokens["access_token"])
    except AuthError:
        return _page(
            request, "login_error.html", 400, message="認証情報が正しくありません。管理者に連絡してください。"
        )
    if pending.get("silent"):
        response: Response = Response(status_code=204)
    else:
        response = _moving_on(pending.get("next") or "/")
    max_age = max(1, verified.expires_at - int(time.time()))
    secure = _secure(request)
    response.set_cookie(
        TOKEN_COOKIE, tokens["access_token"], max_age=max_age, httponly=True, samesite="strict", secure=secure
    )
    if tokens.get("id_token"):
        response.set_cookie(
            ID_TOKEN_COOKIE,
            tokens["id_token"],
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/logout",
        )
    return response


def _moving_on(target: str) -> HTMLResponse:
    """A page that goes on to `target` at once (a fresh navigation from our own origin)."""
    escaped = html.escape(target, quote=True)
    return HTMLResponse(
        f'<!doctype html><html lang="ja"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={escaped}"><title>J-PASS</title></head>'
        f'<body><p><a href="{escaped}">J-PASS へ進む</a></p></body></html>'
    )


@router.get("/login/renew")
async def renew(request: Request) -> Response:
    """Silent renewal ahead of expiry (renew.js): the provider session gives a new token without a page."""
    return await login(request, next="/", prompt="none")


@router.post("/logout")
async def logout(request: Request) -> Response:
    try:
        meta = await _metadata(request)
    except IdentityUnavailable:
        meta = {}
    after = f"{_base(request)}/login/logged-out"
    end_session = meta.get("end_session_endpoint")
    if end_session:
        params = {"client_id": request.app.state.settings.oidc_client_id, "post_logout_redirect_uri": after}
        hint = request.cookies.get(ID_TOKEN_COOKIE)
        if hint:
            params["id_token_hint"] = hint
        target = f"{end_session}?{urlencode(params)}"
    else:
        target = after
    # A page that moves on by itself rather than a redirect: the pages' CSP (form-action 'self') would stop
    # a form POST redirected to a provider on another origin.
    response = _moving_on(target)
    secure = _secure(request)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
    response.delete_cookie(ID_TOKEN_COOKIE, path="/logout", httponly=True, samesite="strict", secure=secure)
    return response


@router.get("/login/logged-out")
async def logged_out(request: Request) -> Response:
    return _page(request, "logged_out.html")
