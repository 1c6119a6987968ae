"""Issue 15 point 5 (SPEC §9.1 "Time for people") on メール送信履歴: a mail recorded and sent just after 15:00
UTC shows the next day's Japan time as `YYYY/MM/DD HH:MM` (no seconds); the API keeps ISO 8601 with the
offset. (The e-mails themselves get the same jp_date / jp_datetime filters: tests/shared/test_timefmt.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker

from services.mailer.db import MAIL_SENT, Mail
from services.mailer.main import create_app
from shared.db import make_engine
from tests.mailer.conftest import Smtp, mailer_settings
from tests.support import auth, running, token_for

CREATED = datetime(2026, 1, 9, 15, 5, 30, tzinfo=UTC)  # 2026/01/10 00:05 in Tokyo
SENT = datetime(2026, 1, 9, 15, 7, 59, tzinfo=UTC)  # 2026/01/10 00:07


async def test_the_mail_log_shows_japan_time(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]], smtp: Smtp
) -> None:
    url = await pg_database("mailer_time")
    request_id = str(uuid.uuid4())
    async with running(create_app(mailer_settings(kafka_bootstrap, url, smtp))) as client:
        engine = make_engine(url)
        try:
            async with async_sessionmaker(engine)() as session, session.begin():
                session.add(
                    Mail(
                        idempotency_key=f"time-test:{request_id}",
                        message_id=f"<{request_id}@jpass.example>",
                        kind="completion",
                        request_id=request_id,
                        request_type="vehicle_return",
                        request_version=1,
                        contract_no="TIME0001",
                        dealer_code="D001",
                        store_code="S0101",
                        recipient="time@example.com",
                        subject="【J-PASS】手続完了のお知らせ",
                        body_text="",
                        body_html="",
                        status=MAIL_SENT,
                        attempts=1,
                        created_at=CREATED,
                        next_attempt_at=CREATED,
                        sent_at=SENT,
                    )
                )
        finally:
            await engine.dispose()

        page = await client.get(
            "/mail-log", params={"request_id": request_id}, cookies={"jpass_token": token_for("d1-hq")}
        )
        assert page.status_code == 200
        assert "<td>2026/01/10 00:05</td>" in page.text and "<td>2026/01/10 00:07</td>" in page.text
        assert "2026/01/09" not in page.text and "00:05:30" not in page.text

        api = await client.get("/api/v1/mail-log", params={"request_id": request_id}, headers=auth("d1-hq"))
        [item] = api.json()["items"]
        assert (
            item["created_at"] == "2026-01-09T15:05:30+00:00"
            and item["sent_at"] == "2026-01-09T15:07:59+00:00"
        )
