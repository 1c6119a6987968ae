"""An exception no handler takes becomes a whole 500 in our format and is not raised to the server (which
would close the keep-alive connection under the gateway: tests/platform/test_gateway_after_error.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from shared.web import UnexpectedErrorResponder


def app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/broken")
    async def broken_api() -> None:
        raise RuntimeError("bug")

    @app.get("/broken")
    async def broken_page() -> None:
        raise RuntimeError("bug")

    @app.get("/api/v1/cut")
    async def cut() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"a,b\r\n"
            raise RuntimeError("bug mid-stream")

        return StreamingResponse(body(), media_type="text/csv")

    app.add_middleware(UnexpectedErrorResponder)
    return app


async def test_an_unexpected_error_is_answered_not_raised() -> None:
    transport = httpx.ASGITransport(app=app())  # raises whatever the app raises
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        api = await client.get("/api/v1/broken")
        assert api.status_code == 500 and api.json()["code"] == "internal_error"
        page = await client.get("/broken")
        assert page.status_code == 500 and "システムエラー" in page.text
        assert page.headers["content-type"].startswith("text/html")
        with pytest.raises(RuntimeError, match="mid-stream"):  # started: cut short, the connection closed
            await client.get("/api/v1/cut")
