"""Local/dev-only companion app behind the gateway: the local OpenID provider (devtools/oidc.py: discovery,
JWKS, the demo login, tokens), demo users, mail catcher, demo-data seeding. Never deployed to production
(it refuses to start there)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request

from devtools import mailcatcher, tfc
from devtools.contracts import demo_contracts
from devtools.demo import DEMO_USERS
from devtools.keys import KeyRing
from devtools.mailcatcher import start_mail_catcher
from devtools.oidc import Provider, provider_router
from devtools.seed import seed_activity
from devtools.settings import DevtoolsSettings
from shared.messaging import ensure_topics
from shared.topics import ALL_TOPICS, TFC_CONTRACTS
from shared.web import install_error_handlers, install_request_guards

log = logging.getLogger("jpass.devtools")


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


async def seed_everything(settings: DevtoolsSettings, provider: Provider) -> None:
    await seed_contracts(settings)
    try:
        await seed_activity(settings, provider.access_token)
    except Exception as e:  # demo data only: never take the local system down for it
        log.warning("demo activity not seeded: %r", e)


def create_app(settings: DevtoolsSettings | None = None, keys: KeyRing | None = None) -> FastAPI:
    """`keys`: the provider's signing keys (tests hand in a ring they control; default: new keys)."""
    settings = settings or DevtoolsSettings()
    if settings.is_production:
        raise RuntimeError("devtools (demo login, demo users, mail catcher) must not run in production")
    provider = Provider(settings, keys or KeyRing())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        controller, handler = start_mail_catcher(settings.smtp_catcher_host, settings.smtp_catcher_port)
        app.state.mail = handler
        seeding = asyncio.create_task(seed_everything(settings, provider)) if settings.seed_on_start else None
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
    app.state.provider = provider
    install_error_handlers(app)
    install_request_guards(app, settings)

    @app.get("/auth/demo-users")
    async def demo_users() -> list[dict[str, Any]]:
        return [
            {k: u.model_dump()[k] for k in ("user_id", "name", "role", "dealer_code", "store_code", "email")}
            | {"dealer_name": u.dealer_name, "store_name": u.store_name, "staff_code": u.staff_code}
            for u in DEMO_USERS
        ]

    app.include_router(provider_router(provider))

    @app.get("/dev/mail/messages")
    async def mail_messages(request: Request) -> list[dict[str, Any]]:
        return list(request.app.state.mail.messages)

    app.include_router(mailcatcher.router)  # /dev/mail: the same, as a page

    @app.delete("/dev/mail/messages", status_code=204)
    async def clear_mail(request: Request) -> None:
        request.app.state.mail.messages.clear()

    @app.get("/devtools/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "devtools"}

    app.include_router(tfc.router)  # TFC console: /tfc page and API
    return app
