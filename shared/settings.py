"""Settings every service shares. Each service extends `CommonSettings` with its own fields.

Everything has an embedded default for the local setup (`make run`); production (`JPASS_ENV=production`)
refuses the local identity provider (devtools), its keys and the test keys, and the demo users.
"""

from __future__ import annotations

import json

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The local identity provider (devtools, SPEC §9.3) as the services reach it under `make run`.
DEV_ISSUER = "http://localhost:8080"
DEV_DISCOVERY_URL = "http://127.0.0.1:8100/.well-known/openid-configuration"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JPASS_", extra="ignore")

    env: str = "development"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Tansu (local broker) refuses InitProducerId; Apache Kafka wants idempotence on.
    kafka_enable_idempotence: bool = False
    # Connections per service process: a pool of this size plus as many again on demand.
    db_pool_size: int = Field(default=10, ge=1, le=100)
    topic_partitions: int = 3
    # Consumer-group liveness. Tansu finishes a group join after about half the session timeout,
    # so tests and the local run may shorten it; production keeps Kafka's usual values.
    kafka_session_timeout_ms: int = 10000
    kafka_heartbeat_interval_ms: int = 3000
    kafka_request_timeout_ms: int = 5000
    # A consumer group join that takes longer is abandoned and tried again (see Runtime._start_broker).
    broker_start_timeout_s: float = 60.0
    # How often a service checks that each of its consumers still takes part in its group (Runtime).
    consumer_watchdog_interval_s: float = 5.0
    # Appended to every consumer group id. Empty in every deployment; the test suite gives each test
    # module its own, so apps of one module never join the groups of another module's apps.
    consumer_group_suffix: str = ""
    # How long a consumer's fetch may wait for data. Tansu (the local broker) holds every fetch for the
    # whole wait even when data arrives, so aiokafka's 500 ms default added up to 500 ms to every hop of
    # an event. Shorter costs idle fetches: 12 idle consumers use ~0.13 cores at 50 ms, ~0.07 at 100 ms
    # (docs/performance.md). Apache Kafka answers as soon as data is there: production may raise it.
    kafka_fetch_max_wait_ms: int = 50
    # A consumed message larger than this is dead-lettered unread (our largest events are a few KB; Kafka's
    # default limit is 1 MB). Dead-lettered copies are cut to this size (header dlq-original-bytes).
    kafka_max_message_bytes: int = 262_144
    # Identity (SPEC §9.3, shared/identity.py): who signs the tokens (`iss`), for whom (`aud`), and where the
    # provider publishes its keys: OpenID Connect discovery, or a JWKS URL (used instead of discovery's
    # jwks_uri when set), or a static JWKS document (tests; no fetching then).
    oidc_issuer: str = DEV_ISSUER
    oidc_audience: str = "jpass"
    oidc_discovery_url: str = DEV_DISCOVERY_URL
    oidc_jwks_url: str = ""
    jwks_json: str = ""
    # The page login (shared/login.py) is this OpenID client (public, authorization code + PKCE).
    oidc_client_id: str = "jpass-pages"
    # Cached keys are fetched again after this long, or sooner for a token with an unknown kid, but at most
    # once per jwks_min_refresh_s (made-up kids must not make every request a fetch).
    jwks_cache_s: float = 300.0
    jwks_min_refresh_s: float = 10.0
    # Sessions the provider ended (logout): its list (or discovery's jpass_ended_sessions_endpoint), fetched
    # again at most this often while tokens with a session id come in.
    oidc_ended_sessions_url: str = ""
    ended_sessions_refresh_s: float = 1.0
    # HS256 shared secrets are gone (a service that can verify could also sign): refused when set.
    jwt_secret: str = ""
    public_base_url: str = "http://localhost:8080"
    # The sender of J-PASS's e-mails (SPEC §6; the manual's j-pass_uketsuke@…): mailer sends from it, and the
    # request forms show it (the manual's 「※送信元メールアドレス」 notice), so it is one setting for all.
    mail_from: str = "j-pass_uketsuke@jpass.example"
    outbox_poll_interval_s: float = 0.5
    consumer_max_attempts: int = 3
    read_your_writes_wait_s: float = 3.0
    # Local run and tests create tables at start; production runs Alembic migrations instead.
    auto_create_schema: bool = True
    # JSON logs on stdout (structlog); tests keep pytest's own log capture instead.
    log_json: bool = True
    database_url: str = ""
    # Requests with a larger body are refused with 413 (JPASS_MAX_BODY_BYTES; 0 = no limit).
    max_body_bytes: int = 1_048_576

    @model_validator(mode="after")
    def _refuse_shared_secrets_and_dev_keys_in_production(self) -> CommonSettings:
        if self.jwt_secret:
            raise ValueError(
                "JPASS_JWT_SECRET: HS256 shared secrets are no longer accepted; tokens are verified with the "
                "identity provider's published keys (JPASS_OIDC_ISSUER, JPASS_OIDC_DISCOVERY_URL)"
            )
        if self.env == "production":
            if self.oidc_issuer == DEV_ISSUER or DEV_DISCOVERY_URL in (
                self.oidc_discovery_url,
                self.oidc_jwks_url,
            ):
                raise ValueError(
                    "production needs the enterprise identity provider: set JPASS_OIDC_ISSUER and "
                    "JPASS_OIDC_DISCOVERY_URL (or JPASS_OIDC_JWKS_URL), not the local devtools provider"
                )
            if self.jwks_json and any(
                str(k.get("kid", "")).startswith(("jpass-dev-", "jpass-test-"))
                for k in json.loads(self.jwks_json).get("keys", [])
            ):
                raise ValueError("JPASS_JWKS_JSON holds development or test keys: refused in production")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS: always in production, and whenever the public URL is https."""
        return self.is_production or self.public_base_url.startswith("https://")
