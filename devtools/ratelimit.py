"""A small in-memory token bucket per client for the demo IdP's login and token endpoints.

Local only (devtools never runs in production, where the real IdP / gateway limits logins)."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def client_key(request: Request) -> str:
    """The caller's address: the first X-Forwarded-For hop when behind the gateway, else the peer."""
    forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    return forwarded or (request.client.host if request.client else "unknown")


def limit(buckets: TokenBuckets) -> Callable[[Request], None]:
    """FastAPI dependency: 429 with Retry-After when the caller's bucket is empty."""

    def _check(request: Request) -> None:
        wait_s = buckets.take(client_key(request))
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
