"""Settings every service shares. Each service extends `CommonSettings` with its own fields.

Everything has an embedded default for the local setup (`make run`); production (`JPASS_ENV=production`)
refuses the development signing key and the demo users.
"""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SIGNING_KEY = "jpass-dev-signing-key-not-for-production-0123456789"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JPASS_", extra="ignore")

    env: str = "development"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Tansu (local broker) refuses InitProducerId; Apache Kafka wants idempotence on.
    kafka_enable_idempotence: bool = False
    topic_partitions: int = 3
    # Consumer-group liveness. Tansu finishes a group join after about half the session timeout,
    # so tests and the local run may shorten it; production keeps Kafka's usual values.
    kafka_session_timeout_ms: int = 10000
    kafka_heartbeat_interval_ms: int = 3000
    kafka_request_timeout_ms: int = 5000
    # A consumer group join that takes longer is abandoned and tried again (see Runtime._start_broker).
    broker_start_timeout_s: float = 60.0
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
    jwt_secret: str = DEV_SIGNING_KEY
    jwt_issuer: str = "jpass-idp"
    public_base_url: str = "http://localhost:8080"
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
    def _refuse_dev_secrets_in_production(self) -> CommonSettings:
        if self.env == "production" and self.jwt_secret == DEV_SIGNING_KEY:
            raise ValueError("JPASS_JWT_SECRET must be set to a real secret in production")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS: always in production, and whenever the public URL is https."""
        return self.is_production or self.public_base_url.startswith("https://")
