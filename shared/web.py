"""HTTP conventions shared by every service: error format, page login redirect, templates, health."""

from __future__ import annotations

import base64
import json
import logging
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.identity import ROLE_LABELS
from shared.refusal import Refusal, RefusalKind
from shared.timefmt import jp_date, jp_datetime

log = logging.getLogger(__name__)
SHARED_TEMPLATES = Path(__file__).parent / "templates"
SHARED_STATIC = Path(__file__).parent / "static"


# The one mapping of a refusal's kind to HTTP, for the JSON API and pages alike.
REFUSAL_STATUS: dict[RefusalKind, int] = {
    "not_found": 404,
    "forbidden": 403,
    "conflict": 409,
    "invalid": 422,
    "stale": 409,
    "busy": 429,
}
BUSY_RETRY_AFTER_S = 30


def http_status(refusal: Refusal) -> int:
    return REFUSAL_STATUS[refusal.kind]


def refusal_body(refusal: Refusal) -> dict[str, Any]:
    """`{"detail", "code", "field"?, "errors"?}` (SPEC §7)."""
    body: dict[str, Any] = {"detail": refusal.message, "code": refusal.code}
    if refusal.field:
        body["field"] = refusal.field
    if isinstance(refusal.errors, Mapping):
        body["errors"] = dict(refusal.errors)
    elif refusal.errors:
        body["errors"] = [{"field": e.field, "code": e.code, "detail": e.message} for e in refusal.errors]
    return body


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def same_origin(request: Request, public_base_url: str) -> bool:
    """CSRF defence for cookie-authenticated writes (beside SameSite=Strict): a browser names the page
    that caused a POST in `Origin` (or `Referer`); it must be our own origin. Requests that carry neither
    (API clients with a Bearer token, curl) are not cross-site requests from a browser.

    Our origin is the public base URL. The Host a request names counts only when it is this machine's
    loopback (the local run on any port): any other Host is the requester's choice — a rebinding DNS name
    pointed at the gateway would otherwise make its own site "ours"."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True
    parsed = urlsplit(source)
    origin = f"{parsed.scheme}://{parsed.netloc}"
    allowed = {urlsplit(public_base_url)._replace(path="", query="", fragment="").geturl().rstrip("/")}
    host = request.headers.get("host", "")
    if urlsplit(f"//{host}").hostname in LOOPBACK_HOSTS:
        allowed |= {f"http://{host}", f"https://{host}"}
    return origin in allowed


TOO_LARGE = {"detail": "送信されたデータが大きすぎます。", "code": "body_too_large"}
UNAVAILABLE = {
    "detail": "ただいまシステムが一時的に利用できません。しばらくしてから再度お試しください。",
    "code": "service_unavailable",
}


INVALID_TEXT = {
    "detail": "入力内容に使用できない文字（NUL文字や単独のサロゲートなど）が含まれています。",
    "code": "invalid_text",
}
_SUSPECT_JSON_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


def unstorable_json(body: bytes) -> bool:
    """A JSON text with a string no database can store: NUL, or a lone surrogate (`"\\ud800"`; a proper
    pair is one character once parsed). Python's JSON parser accepts both; the first write then fails."""
    if not _SUSPECT_JSON_ESCAPE.search(body):
        return False
    try:
        value = json.loads(body)
    except Exception:  # not JSON at all: the route's own parsing refuses it
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE_CHAR.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def unstorable_form(body: bytes) -> bool:
    """A URL-encoded form or query string that decodes to a NUL (undecodable bytes become U+FFFD)."""
    return b"%00" in body or b"\x00" in body


def _refusal(scope: Scope, body: dict[str, str], status_code: int) -> Response:
    if scope["path"].startswith("/api/"):
        return JSONResponse(body, status_code=status_code)
    return HTMLResponse(_message_page("入力エラー", body["detail"]), status_code=status_code)


class RequestInputGuard:
    """Input refused before any route sees it, the same in every service.

    - Bodies over `max_bytes`: 413, by Content-Length up front, else while reading a body sent without one
      (chunked). A write's body is read here and handed on whole.
    - Text no database can store — NUL in a query string, form or JSON body, a lone surrogate in JSON —
      422 `invalid_text` (API) or a page with the message: the database would fail the write with a 500."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if unstorable_form(scope.get("query_string", b"")):
            await _refusal(scope, INVALID_TEXT, 422)(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length", b"")
        if self.max_bytes > 0 and declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse(TOO_LARGE, status_code=413)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if self.max_bytes > 0 and size > self.max_bytes:
                await JSONResponse(TOO_LARGE, status_code=413)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").lower()
        if (b"json" in content_type and unstorable_json(body)) or (
            b"x-www-form-urlencoded" in content_type and unstorable_form(body)
        ):
            await _refusal(scope, INVALID_TEXT, 422)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


# SQLSTATEs of a server that cannot take us now: 08 connection exception, 53 insufficient resources
# (53300 too many connections), 57P01–57P03 shutting down, crashed, cannot connect now.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")


def _sqlstate(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return ""


def database_unreachable(exc: BaseException) -> bool:
    """The database is down, restarting or full (not a bug): the client should retry later (503)."""
    if isinstance(exc, DBAPIError):
        return (
            exc.connection_invalidated
            or type(exc).__name__ in ("OperationalError", "InterfaceError")
            or _sqlstate(exc).startswith(_UNAVAILABLE_SQLSTATES)
        )
    return isinstance(exc, PoolTimeoutError | ConnectionError | TimeoutError)


def is_page_request(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


# Pages answer refusals with a page in the layout (JSON stays for /api/ and the machine endpoints).
_MACHINE_PREFIXES = (
    "/api/",
    "/openapi/",
    "/asyncapi/",
    "/docs/",
    # the identity provider's machine side (devtools locally) and the local tools' endpoints
    "/auth/",
    "/.well-known/",
    "/oidc/token",
    "/oidc/jwks",
    "/oidc/ended-sessions",
    "/dev/",
)
_MACHINE_SUFFIXES = ("/healthz", "/readyz", "/metrics", ".json", ".pdf", ".csv")
ERROR_TITLES: dict[int, tuple[str, str]] = {
    400: ("リクエストが正しくありません", "入力内容をご確認のうえ、もう一度お試しください。"),
    403: (
        "この画面を表示する権限がありません",
        "ご利用の権限では表示できません。必要な場合は本部または店長にご相談ください。",
    ),
    404: ("ページが見つかりません", "指定されたページまたはご契約は見つかりません。"),
    405: ("この操作はできません", "画面を開き直してから操作してください（再読み込みでは送信できません）。"),
    409: ("操作が競合しました", "他の方が同時に操作した可能性があります。画面を開き直してご確認ください。"),
    413: ("入力内容が大きすぎます", "入力内容を短くしてから、もう一度お試しください。"),
    422: ("入力内容に誤りがあります", "入力内容をご確認のうえ、もう一度お試しください。"),
    429: ("しばらくお待ちください", "操作が集中しています。少し時間をおいてからもう一度お試しください。"),
    500: ("システムエラー", "処理中にエラーが発生しました。時間をおいてもう一度お試しください。"),
    503: (
        "ただいま処理できません",
        "一時的に処理できない状態です。少し時間をおいてからもう一度お試しください。",
    ),
}
_error_templates: Jinja2Templates | None = None


def wants_error_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(_MACHINE_PREFIXES) and not path.endswith(_MACHINE_SUFFIXES)


def error_page(request: Request, status: int, message: str | None = None, code: str = "") -> Response:
    """The refusal as a page in the layout, with a way back (issue 16)."""
    global _error_templates
    if _error_templates is None:
        _error_templates = make_templates(SHARED_TEMPLATES)
    title, hint = ERROR_TITLES.get(status, ERROR_TITLES[500 if status >= 500 else 400])
    return _error_templates.TemplateResponse(
        request,
        "error_page.html",
        {
            "user": getattr(request.state, "user", None),
            "title": title,
            "message": message or hint,
            "hint": hint if message and message != hint else "",
            "status": status,
            "code": code or f"http_{status}",
        },
        status_code=status,
    )


async def refusal_response(request: Request, exc: Exception) -> Response:
    """A Refusal no page caught: JSON for the API, the error page for pages, the same status for both."""
    assert isinstance(exc, Refusal)
    status = http_status(exc)
    headers = {"Retry-After": str(BUSY_RETRY_AFTER_S)} if exc.kind == "busy" else {}
    if wants_error_page(request):
        page = error_page(request, status, exc.message, exc.code)
        page.headers.update(headers)
        return page
    return JSONResponse(refusal_body(exc), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Refusal, refusal_response)

    @app.exception_handler(StarletteHTTPException)  # the router's own 404/405 too, not only ours
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 401 and is_page_request(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        body = (
            exc.detail
            if isinstance(exc.detail, dict)
            else {"detail": exc.detail, "code": f"http_{exc.status_code}"}
        )
        if wants_error_page(request):
            detail = body.get("detail") if isinstance(body, dict) else None
            message = detail if isinstance(detail, str) and not detail.isascii() else None  # ours: Japanese
            page = error_page(request, exc.status_code, message, str(body.get("code", "")))
            for name, value in (getattr(exc, "headers", None) or {}).items():
                page.headers[name] = value
            return page
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(x) for x in err.get("loc", ())], "msg": err.get("msg", "")} for err in exc.errors()
        ]
        if wants_error_page(request):
            return error_page(request, 422, code="invalid_input")
        return JSONResponse(
            {"detail": "入力内容に誤りがあります。", "code": "invalid_input", "errors": errors},
            status_code=422,
        )

    async def _unavailable(request: Request, exc: Exception) -> Response:
        if not database_unreachable(exc):
            raise exc
        # The type and the driver's message only (no SQL parameters: they may hold personal data).
        log.warning("database unavailable: %s: %s", type(exc).__name__, str(getattr(exc, "orig", exc))[:200])
        if wants_error_page(request):
            page = error_page(request, 503, code=str(UNAVAILABLE.get("code", "")))
            page.headers["Retry-After"] = "5"
            return page
        return JSONResponse(UNAVAILABLE, status_code=503, headers={"Retry-After": "5"})

    for exc_class in (DBAPIError, PoolTimeoutError, ConnectionError, TimeoutError):
        app.add_exception_handler(exc_class, _unavailable)


# ---------------------------------------------------------------------------------------------
# Flash messages (issue 16): one message after a successful write, shown once on the page the user lands
# on — in whichever service renders it (one gateway origin, separate processes). The cookie carries a key
# of this table and its parameters only; a value that is not a key here, or parameters that are not
# exactly the message's, or not short plain words (no URL, no markup), shows nothing.

FLASH_COOKIE = "jpass_flash"
FLASH_MAX_AGE_S = 60
FLASH_MESSAGES: dict[str, str] = {
    "selection_saved": "最終回選択を登録しました。",
    "selection_saved_vehicle_return": (
        "最終回選択（車両返却）を登録しました。車両が返却されたら、または未返却が確定したら、すみやかに"
        "「車両返却 結果入力・進捗確認」から車両返却結果を入力してください。"
    ),
    "memo_saved": "自由記入欄を保存しました。",
    "assignment_changed": "店舗・スタッフを変更しました（{from_store} → {to_store}、担当 {staff}）。",
    "assignment_moved_away": (
        "契約番号 {contract_no} の店舗・スタッフを変更しました（{from_store} → {to_store}、担当 {staff}）。"
        "このご契約は{to_store}の一覧に移りました。"
    ),
    # approvals: the request page after an action, 承認フロー設定 after 保存
    "request_approved": "承認が完了しました。",
    "request_sent_back": "差戻しが完了しました。",
    "request_sent_back_no_email": (
        "差戻しが完了しました。差戻し先のメールアドレスが登録されていないため、メールは送信されません。"
        "別途ご連絡ください。"
    ),
    "request_withdrawn": "取下げが完了しました。",
    "request_corrected": "訂正が完了しました。",
    "approval_flow_saved": "承認フロー設定を保存しました。",
    # search: 保存した検索条件 (a name that is not plain words falls back to the message without it)
    "saved_search_saved": "検索条件「{name}」を保存しました。",
    "saved_search_saved_unnamed": "検索条件を保存しました。",
    "saved_search_deleted": "検索条件を削除しました。",
}
_FLASH_PARAM = re.compile(r"[\w ・ー（）()\-－]{1,40}")


def _flash_fields(key: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(FLASH_MESSAGES[key]) if name}


def set_flash(response: Response, key: str, *, fallback: str | None = None, **params: str) -> Response:
    """Show FLASH_MESSAGES[key] (with `params`) once on the next page the browser renders. A parameter that
    the reader would refuse (not 1–40 plain word characters, e.g. a user's own name for a saved search)
    shows the `fallback` message (no parameters) instead, or nothing without one."""
    for name in (key, fallback):
        if name is not None and name not in FLASH_MESSAGES:
            raise ValueError(f"no flash message {name!r}")
    if set(params) != _flash_fields(key) or (fallback is not None and _flash_fields(fallback)):
        raise ValueError(f"flash message {key!r} takes {sorted(_flash_fields(key))}")
    if not all(_FLASH_PARAM.fullmatch(str(v)) for v in params.values()):
        if fallback is None:
            return response
        key, params = fallback, {}
    value = json.dumps(
        [key, {k: str(v) for k, v in params.items()}], ensure_ascii=False, separators=(",", ":")
    )
    response.set_cookie(
        FLASH_COOKIE,
        base64.urlsafe_b64encode(value.encode()).decode(),
        max_age=FLASH_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
    )
    return response


def flash_message(cookie: str | None) -> str | None:
    """The message a cookie value names, or None for anything not made by `set_flash` from the table."""
    if not cookie or len(cookie) > 1000:
        return None
    try:
        key, params = json.loads(base64.urlsafe_b64decode(cookie.encode()).decode())
    except Exception:
        return None
    if not isinstance(key, str) or key not in FLASH_MESSAGES or not isinstance(params, dict):
        return None
    if set(params) != _flash_fields(key):
        return None
    if not all(isinstance(v, str) and _FLASH_PARAM.fullmatch(v) for v in params.values()):
        return None
    return FLASH_MESSAGES[key].format(**params)


_FLASH_SCOPE_KEY = "jpass.flash"
_CLEAR_FLASH = f"{FLASH_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict".encode()


def flash(request: Request) -> str | None:
    """Template global: the flash message of this page view (FlashMessages read it from the cookie)."""
    return request.scope.get(_FLASH_SCOPE_KEY)


class FlashMessages:
    """Reads the flash cookie for the page being rendered and clears it with that page: the first HTML
    response that is not a redirect shows it (base.html) and ends it. JSON, assets and redirects leave it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        cookie = Request(scope).cookies.get(FLASH_COOKIE)
        if cookie is None:
            await self.app(scope, receive, send)
            return
        scope[_FLASH_SCOPE_KEY] = flash_message(cookie)

        async def clearing(message: Message) -> None:
            if message["type"] == "http.response.start" and not 300 <= message["status"] < 400:
                headers = list(message.get("headers", []))
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    message = {**message, "headers": [*headers, (b"set-cookie", _CLEAR_FLASH)]}
            await send(message)

        await self.app(scope, receive, clearing)


def make_templates(service_templates: Path) -> Jinja2Templates:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(service_templates), FileSystemLoader(SHARED_TEMPLATES)]),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
    )
    env.globals["ROLE_LABELS"] = ROLE_LABELS
    env.globals["flash"] = flash
    env.filters.update(jp_date=jp_date, jp_datetime=jp_datetime)
    return Jinja2Templates(env=env)


def health_router(runtime: Any) -> APIRouter:
    """`/NAME/healthz` (alive) and `/NAME/readyz` (database and broker reachable)."""
    router = APIRouter(tags=["health"])

    @router.get(f"/{runtime.name}/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.name}

    @router.get(f"/{runtime.name}/metrics", include_in_schema=False)
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        from shared.observability import REGISTRY

        await runtime.sample_metrics()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @router.get(f"/{runtime.name}/readyz")
    async def readyz() -> JSONResponse:
        checks = {"database": await runtime.database_ok(), "broker": await runtime.broker_ok()}
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "service": runtime.name, "checks": checks},
            status_code=200 if ok else 503,
        )

    return router


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every 4xx: a Japanese message and a stable machine code (SPEC §7); 422 adds `errors`.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["detail", "code"],
}


def document_error_format(app: FastAPI) -> None:
    """The OpenAPI document describes 422 bodies as we send them (not FastAPI's default list of errors)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemas = schema.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"] = {"title": "HTTPValidationError", **ERROR_SCHEMA}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CROSS_SITE = {"detail": "別のサイトからの送信は受け付けられません。", "code": "cross_site_request"}


class CrossSiteWriteGuard:
    """Refuse a write whose Origin/Referer names another site with 403 (`same_origin`). Plain ASGI, not
    Starlette's BaseHTTPMiddleware: that one costs every request a task group and memory streams."""

    def __init__(self, app: ASGIApp, public_base_url: str) -> None:
        self.app = app
        self.public_base_url = public_base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in WRITE_METHODS
            and not same_origin(Request(scope), self.public_base_url)
        ):
            await JSONResponse(CROSS_SITE, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


INTERNAL_ERROR = {
    "detail": "システムエラーが発生しました。しばらくしてから再度お試しください。",
    "code": "internal_error",
}


class UnexpectedErrorResponder:
    """An exception no handler took becomes a whole 500 response here, and goes no further.

    Starlette's outermost middleware sends its own 500 but then re-raises, and uvicorn answers an exception
    raised after the response by closing the connection. The gateway has meanwhile put that keep-alive
    connection back in its pool and sends the next request — another user's — on it; a POST or PUT sent
    on a connection the server has closed is not retried (not idempotent) and that user gets 502. Handled
    here, the connection stays healthy. An exception after the response has started is re-raised: the
    response is cut short and the connection must be closed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:
                raise
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if scope["path"].startswith("/api/"):
                response: Response = JSONResponse(INTERNAL_ERROR, status_code=500)
            else:
                response = HTMLResponse(_message_page("システムエラー", INTERNAL_ERROR["detail"]), 500)
            await response(scope, receive, send)


def _message_page(title: str, message: str) -> str:
    """A bare page for a refusal made before any route (and its templates) ran; `message` is ours."""
    return (
        f'<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{title} | J-PASS</title></head>'
        f'<body><h1>{title}</h1><p>{message}</p><p><a href="/">トップページへ戻る</a></p></body></html>'
    )


# Scripts and styles from our own origin only, no plugins, no framing, forms post only to us, and nothing
# fetched from or sent to another site. Inline scripts/handlers are still allowed ('unsafe-inline'): several
# pages use them (docs/decisions.md, issue 18); every value on a page is escaped (tests/security).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class SecurityHeaders:
    """Every response: a Content-Security-Policy, and `Cache-Control: no-store` unless the route chose its
    own (pages, JSON and PDFs carry customers' personal data: no browser or proxy cache keeps them).
    Static assets may be cached; the API docs (/docs/, Swagger UI from its CDN) get no policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        policy = not path.startswith("/docs/")
        no_store = not path.startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if policy and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                if no_store and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def install_request_guards(app: FastAPI, settings: Any) -> None:
    """Cross-site writes refused (CSRF, beside SameSite=Strict), request input checked (size, text), and
    the security headers on every response."""
    app.add_middleware(CrossSiteWriteGuard, public_base_url=settings.public_base_url)
    app.add_middleware(RequestInputGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(FlashMessages)
    app.add_middleware(SecurityHeaders)  # outside the guards: their refusals carry the headers too


def service_app(
    name: str, title: str, runtime: Any, description: str = "", channels: list[Any] | None = None
) -> FastAPI:
    """A FastAPI app with the project's conventions: docs under /docs/NAME, error format, health,
    and the AsyncAPI page of its topics under /asyncapi/NAME (`channels`: shared.asyncapi.Channel)."""
    from shared.asyncapi import asyncapi_router
    from shared.observability import configure, instrument_app

    configure(name, json_logs=runtime.settings.log_json)

    app = FastAPI(
        title=title,
        description=description,
        lifespan=runtime.lifespan(),
        docs_url=f"/docs/{name}",
        redoc_url=None,
        openapi_url=f"/openapi/{name}.json",
    )
    app.state.settings = runtime.settings
    app.state.runtime = runtime
    app.state.templates = make_templates(SHARED_TEMPLATES)
    install_error_handlers(app)

    install_request_guards(app, runtime.settings)
    document_error_format(app)
    app.include_router(health_router(runtime))
    app.state.channels = channels or []
    app.include_router(asyncapi_router(name, title, runtime.settings, app.state.channels))
    instrument_app(app, name)
    app.add_middleware(UnexpectedErrorResponder)  # the outermost of ours: it sees every exception
    return app
