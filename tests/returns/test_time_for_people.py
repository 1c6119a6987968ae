"""Issue 15 point 5 (SPEC §9.1 "Time for people") on the returns pages and PDF: at 15:05 UTC it is already
the next day in Tokyo — the form's "today", the submitted page and the printed 送信日時 say so, in the one
format (`YYYY/MM/DD`, `YYYY/MM/DD HH:MM`)."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO

from pypdf import PdfReader

from services.returns.config import ReturnsSettings
from services.returns.main import create_app
from tests.returns.conftest import Env, page_cookies
from tests.returns.factory import body, new_contract_no, seed
from tests.support import auth, create_pg_database, drop_pg_database, running

AFTER_15_UTC = datetime(2026, 5, 15, 15, 5, tzinfo=UTC)  # 2026/05/16 00:05 in Tokyo


async def test_returns_pages_and_pdf_show_japan_time(kafka_bootstrap: str) -> None:
    url = await create_pg_database("t_returns_time")
    settings = ReturnsSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=url, status_wait_s=0.3)
    try:
        app = create_app(settings, clock=lambda: AFTER_15_UTC)
        async with running(app) as client:
            env = Env(client, kafka_bootstrap, app)
            no = new_contract_no()
            await seed(kafka_bootstrap, no)
            await env.wait_eligibility(no)

            form = await client.get(f"/returns/contracts/{no}/new", cookies=page_cookies("d1s1-staff1"))
            assert form.status_code == 200
            assert 'max="2026-05-16"' in form.text  # a date input takes ISO; today is Tokyo's
            assert "2026/06/30" in form.text  # 最終回年月日

            # the 16th is today in Tokyo (the 15th in UTC): not a future date
            r = await client.post(
                "/api/v1/returns", json=body(no, returned_on="2026-05-16"), headers=auth("d1s1-staff1")
            )
            assert r.status_code in (201, 202), r.text
            request_id = r.json()["request_id"]

            page = await client.get(f"/returns/{request_id}", cookies=page_cookies("d1s1-staff1"))
            assert "<dd>2026/05/16</dd>" in page.text and "<dd>2026/06/30</dd>" in page.text
            assert "2026-05-16" not in page.text

            pdf = await client.get(f"/api/v1/returns/{request_id}/print.pdf", headers=auth("d1s1-staff1"))
            text = "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages)
            assert "送信日時: 2026/05/16 00:05" in text
            assert "2026/05/16" in text and "2026/06/30" in text  # 車両返却受領日, 最終回年月日
            assert "15:05" not in text and "年" not in text.split("送信日時")[1][:20]
    finally:
        await drop_pg_database(url)
