"""Local/dev-only companion app behind the gateway: demo IdP (login, demo users, token), mail catcher,
demo-data seeding. Never deployed to production (it refuses to start there)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from devtools import tfc
from devtools.contracts import demo_contracts
from devtools.demo import DEALERS, DEMO_USERS, USERS_BY_ID
from devtools.mailcatcher import start_mail_catcher
from devtools.ratelimit import TokenBuckets, limit
from devtools.seed import seed_activity
from devtools.settings import DevtoolsSettings
from shared.identity import TOKEN_COOKIE, TOKEN_TTL_S, issue_token
from shared.messaging import ensure_topics
from shared.topics import ALL_TOPICS, TFC_CONTRACTS
from shared.web import install_error_handlers, install_request_guards, make_templates

log = logging.getLogger("jpass.devtools")
templates = make_templates(Path(__file__).parent / "templates")


class TokenRequest(BaseModel):
    user_id: str


async def seed_contracts(settings: DevtoolsSettings) -> int:
    """Publish the demo book to tfc.contracts.v1 (idempotent: same versions every time)."""
    for _ in range(120):
        try:
            await ensure_topics(settings, ALL_TOPICS)
            break
        except Exception:
            await asyncio.sleep(0.5)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=20)
    await producer.start()
    try:
        contracts = demo_contracts(settings.seed_contracts)
        for c in contracts:
            await producer.send(TFC_CONTRACTS, c.model_dump_json().encode(), key=c.contract_no.encode())
        await producer.flush()
        log.info("seeded %d demo contracts", len(contracts))
        return len(contracts)
    finally:
        await producer.stop()


async def seed_everything(settings: DevtoolsSettings) -> None:
    await seed_contracts(settings)
    try:
        await seed_activity(settings)
    except Exception as e:  # demo data only: never take the local system down for it
        log.warning("demo activity not seeded: %r", e)


def create_app(settings: DevtoolsSettings | None = None) -> FastAPI:
    settings = settings or DevtoolsSettings()
    if settings.is_production:
        raise RuntimeError("devtools (demo login, demo users, mail catcher) must not run in production")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        controller, handler = start_mail_catcher(settings.smtp_catcher_host, settings.smtp_catcher_port)
        app.state.mail = handler
        seeding = asyncio.create_task(seed_everything(settings)) if settings.seed_on_start else None
        try:
            yield
        finally:
            if seeding:
                seeding.cancel()
                with contextlib.suppress(BaseException):
                    await seeding
            controller.stop()

    app = FastAPI(
        title="J-PASS devtools (local only)",
        lifespan=lifespan,
        docs_url="/docs/devtools",
        openapi_url="/openapi/devtools.json",
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_request_guards(app, settings)

    @app.get("/auth/demo-users")
    async def demo_users() -> list[dict[str, Any]]:
        return [
            {k: u.model_dump()[k] for k in ("user_id", "name", "role", "dealer_code", "store_code", "email")}
            | {"dealer_name": u.dealer_name, "store_name": u.store_name, "staff_code": u.staff_code}
            for u in DEMO_USERS
        ]

    buckets = TokenBuckets(settings.auth_rate_burst, settings.auth_rate_per_s)
    rate_limited = [Depends(limit(buckets, settings.trusted_proxies))]

    @app.post("/auth/token", dependencies=rate_limited)
    async def token(body: TokenRequest) -> Any:
        user = USERS_BY_ID.get(body.user_id)
        if user is None:  # an API: 401 itself, not the pages' redirect to the login
            unknown = {"detail": "ユーザーが見つかりません。", "code": "unknown_user"}
            return JSONResponse(unknown, status_code=401)
        return {
            "access_token": issue_token(user, settings.jwt_secret, settings.jwt_issuer),
            "token_type": "bearer",
        }

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"user": None, "users": DEMO_USERS, "dealers": DEALERS, "next": _safe_next(next)},
        )

    @app.post("/login", dependencies=rate_limited)
    async def login(user_id: Annotated[str, Form()], next: Annotated[str, Form()] = "/") -> Response:
        user = USERS_BY_ID.get(user_id)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            TOKEN_COOKIE,
            issue_token(user, settings.jwt_secret, settings.jwt_issuer),
            max_age=TOKEN_TTL_S,
            httponly=True,
            samesite="strict",
            secure=settings.secure_cookies,
            path="/",
        )
        return response

    @app.post("/logout")
    async def logout() -> Response:
        """A POST (a link or an image on another site cannot log a user out); the cookie is cleared."""
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            TOKEN_COOKIE, path="/", httponly=True, samesite="strict", secure=settings.secure_cookies
        )
        return response

    @app.get("/dev/mail/messages")
    async def mail_messages(request: Request) -> list[dict[str, Any]]:
        return list(request.app.state.mail.messages)

    @app.delete("/dev/mail/messages", status_code=204)
    async def clear_mail(request: Request) -> None:
        request.app.state.mail.messages.clear()

    @app.get("/devtools/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "devtools"}

    app.include_router(tfc.router)  # TFC console: /tfc page and API
    return app


def _safe_next(target: str) -> str:
    """Only same-origin paths (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
