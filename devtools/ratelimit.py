"""A small in-memory token bucket per client for the demo IdP's login and token endpoints.

Local only (devtools never runs in production, where the real IdP / gateway limits logins)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fastapi import HTTPException, Request


@dataclass
class TokenBuckets:
    capacity: float
    refill_per_s: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key → (tokens, at)

    def take(self, key: str) -> float:
        """Take one token for `key`; returns 0 if allowed, else the seconds until one is available."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.refill_per_s)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget the oldest clients
                for stale in sorted(self._buckets, key=lambda k: self._buckets[k][1])[:5_000]:
                    del self._buckets[stale]
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.refill_per_s


def client_key(request: Request, trusted_proxies: Sequence[str] = ("127.0.0.1/32", "::1/128")) -> str:
    """The caller's address. X-Forwarded-For is believed only from the gateway (a peer in
    `trusted_proxies`): from anyone else it is whatever they chose to send, and a new value per request
    would be a new bucket per request. The gateway replaces the header with the address it saw (Caddy
    trusts no incoming X-Forwarded-For), so its last hop is the client."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
    return forwarded if forwarded and _within(peer, trusted_proxies) else peer


def _within(address: str, networks: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def limit(
    buckets: TokenBuckets, trusted_proxies: Sequence[str] = ("127.0.0.1/32", "::1/128")
) -> Callable[[Request], None]:
    """FastAPI dependency: 429 with Retry-After when the caller's bucket is empty."""

    def _check(request: Request) -> None:
        wait_s = buckets.take(client_key(request, trusted_proxies))
        if wait_s > 0:
            raise HTTPException(
                429,
                {
                    "detail": "試行回数が多すぎます。しばらくしてから再度お試しください。",
                    "code": "rate_limited",
                },
                headers={"Retry-After": str(max(1, round(wait_s + 0.5)))},
            )

    return _check
