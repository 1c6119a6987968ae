"""Issue 15 point 5 (SPEC §9.1 "Time for people") on the approvals pages and the TFC console: a request
made at 15:05 UTC shows 2026/01/10 00:05 (Japan time) as 依頼日時, 起票日時, 最終更新日時 and in its
history; the dates of the payload show as `YYYY/MM/DD`; the JSON API keeps ISO 8601 with the offset."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from devtools.app import create_app as create_devtools
from devtools.settings import DevtoolsSettings
from services.approvals.config import ApprovalsSettings
from services.approvals.main import create_app
from tests.approvals.support import payload, submit
from tests.support import (
    auth,
    create_pg_database,
    drop_pg_database,
    eventually,
    free_port,
    running,
    token_for,
)

AFTER_15_UTC = datetime(2026, 1, 9, 15, 5, tzinfo=UTC)  # 2026/01/10 00:05 in Tokyo


async def test_request_pages_and_the_tfc_console_show_japan_time(kafka_bootstrap: str) -> None:
    url = await create_pg_database("t_approvals_time")
    settings = ApprovalsSettings(
        kafka_bootstrap_servers=kafka_bootstrap, database_url=url, sweep_interval_s=3600
    )
    try:
        async with running(create_app(settings, clock=lambda: AFTER_15_UTC)) as client:
            r = await client.put(
                "/api/v1/approval-flow",
                json={"store_approval": False, "hq_approval": False, "hq_approver_emails": []},
                headers=auth("d1-hq"),
            )
            assert r.status_code == 200, r.text
            made = await submit(
                kafka_bootstrap, client, "d1s1-staff1", body=payload(returned_on="2026-01-08")
            )
            rid = made["request_id"]
            assert datetime.fromisoformat(made["requested_at"]) == AFTER_15_UTC  # ISO 8601 with the offset
            assert made["requested_at"].endswith("+00:00")

            cookies = {"jpass_token": token_for("d1s1-staff1")}
            page = (await client.get(f"/requests/{rid}", cookies=cookies)).text
            for label in ("依頼日時", "起票日時", "最終更新日時"):
                assert f"<dt>{label}</dt><dd>2026/01/10 00:05</dd>" in page, label
            assert re.search(r"<td[^>]*>2026/01/10 00:05</td>", page)  # the history
            assert "2026/01/08" in page  # the review shows the date as people read it
            correcting = (
                await client.get(f"/requests/{rid}", params={"mode": "correct"}, cookies=cookies)
            ).text
            assert 'value="2026-01-08"' in correcting  # 訂正 mode: a date input takes ISO
            assert "2026-01-09" not in page and "15:05" not in page

            read_only = (
                await client.get(f"/requests/{rid}", cookies={"jpass_token": token_for("d1-hq")})
            ).text
            assert "<span>2026/01/08</span>" in read_only and "2026-01-08" not in read_only  # 車両返却受領日

            listed = (await client.get("/requests", cookies=cookies)).text
            assert len(re.findall(r"<td[^>]*>2026/01/10 00:05</td>", listed)) >= 2  # 依頼日時, 最終更新日時

            console_settings = DevtoolsSettings(
                kafka_bootstrap_servers=kafka_bootstrap, smtp_catcher_port=free_port(), seed_on_start=False
            )
            async with running(create_devtools(console_settings)) as console:

                async def shown() -> str:
                    text = (await console.get("/tfc")).text
                    assert rid in text
                    return text

                tfc = await eventually(shown)
                row = tfc[tfc.index(f'data-request-id="{rid}"') :]
                assert re.search(r"<td[^>]*>2026/01/10 00:05</td>", row[: row.index("</tr>")])
    finally:
        await drop_pg_database(url)


def test_payload_dates_in_the_history_of_changes_show_as_dates() -> None:
    from services.approvals.pages import fmt_value

    assert fmt_value("returned_on", "2026-01-08") == "2026/01/08"
    assert fmt_value("contact1", "03-1234-5678") == "03-1234-5678"  # not a date: as it is
