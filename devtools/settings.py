from __future__ import annotations

from shared.settings import CommonSettings


class DevtoolsSettings(CommonSettings):
    smtp_catcher_host: str = "127.0.0.1"
    smtp_catcher_port: int = 1025
    seed_contracts: int = 2000
    seed_on_start: bool = True
    # Where the demo activity (selections, returns) is recorded through the real APIs (make run's ports).
    selection_port: int = 8002
    returns1_port: int = 8003
    # Demo login and token endpoints: a token bucket per client address (burst, then per second).
    auth_rate_burst: int = 30
    auth_rate_per_s: float = 5.0
    # Peers whose X-Forwarded-For the rate limit believes: the gateway (docker-compose adds its network).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
