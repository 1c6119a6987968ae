"""Cookie-authenticated writes from another site are refused (Origin/Referer check beside SameSite=Strict)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from shared.web import same_origin

BASE = "http://localhost:8080"


def request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/x", "headers": raw, "query_string": b""})


@pytest.mark.parametrize(
    "headers, allowed",
    [
        ({}, True),  # API client or curl: no browser, no CSRF
        ({"origin": "http://localhost:8080", "host": "localhost:8080"}, True),
        ({"origin": "http://localhost:8080"}, True),  # the public origin
        ({"origin": "http://127.0.0.1:5555", "host": "127.0.0.1:5555"}, True),  # same host it was asked on
        ({"referer": "http://localhost:8080/selection/contracts/1/input", "host": "localhost:8080"}, True),
        ({"origin": "https://evil.example", "host": "localhost:8080"}, False),
        ({"referer": "https://evil.example/page", "host": "localhost:8080"}, False),
        ({"origin": "http://localhost:8080.evil.example", "host": "localhost:8080"}, False),
        ({"origin": "null", "host": "localhost:8080"}, False),  # sandboxed iframe / data: URL
        ({"origin": "http://[::1]:5555", "host": "[::1]:5555"}, True),
        # a name the attacker's DNS points at the gateway: the Host is theirs, so is the Origin
        ({"origin": "http://evil.example:8080", "host": "evil.example:8080"}, False),
        ({"referer": "http://evil.example/x", "host": "evil.example"}, False),
        ({"origin": "http://127.0.0.1:5555", "host": "127.0.0.1:6666"}, False),  # another local port
    ],
)
def test_same_origin(headers: dict[str, str], allowed: bool) -> None:
    assert same_origin(request(headers), BASE) is allowed
