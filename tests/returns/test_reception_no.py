"""送信が完了しました and its PDF show the 受付番号 approvals gave (from the status events returns consumes);
受付処理中 until it is known. The UUID stays the internal id (links), never the number people read."""

from __future__ import annotations

from io import BytesIO

from pypdf import PdfReader

from shared.events import REQUEST_STATUS_CHANGED
from tests.returns.conftest import Env, page_cookies
from tests.returns.factory import body, envelope, new_contract_no, publish_status, seed, status_changed
from tests.support import auth, eventually

STAFF = auth("d1s1-staff1")


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(BytesIO(data)).pages)


async def test_the_reception_number_on_the_done_page_the_api_and_the_pdf(env: Env) -> None:
    c = env.client
    no = new_contract_no()
    await seed(env.bootstrap, no)
    await env.wait_eligibility(no)
    r = await c.post("/api/v1/returns", json=body(no), headers=STAFF)
    assert r.status_code == 202, r.text
    request_id = r.json()["request_id"]

    # not known yet: 受付処理中 everywhere, never the UUID as the number
    done = await c.get(f"/returns/{request_id}/done", cookies=page_cookies("d1s1-staff1"))
    shown = done.text.split('<dd id="reception-no">')[1].split("</dd>")[0]
    assert "受付処理中" in shown and request_id not in shown.replace(f'href="/requests/{request_id}"', "")
    assert (await c.get(f"/api/v1/returns/{request_id}", headers=STAFF)).json()["reception_no"] is None
    pdf = await c.get(f"/api/v1/returns/{request_id}/print.pdf", headers=STAFF)
    text = pdf_text(pdf.content)
    assert "受付番号: 受付処理中" in text and request_id not in text

    first = status_changed(request_id, no, version=1, new="store_pending", label="店舗承認者手続中")
    data = first.data.model_copy(update={"reception_no": "2605-000042"})
    await publish_status(env.bootstrap, envelope(REQUEST_STATUS_CHANGED, request_id, data))

    async def known() -> None:
        got = await c.get(f"/api/v1/returns/{request_id}", headers=STAFF)
        assert got.json()["reception_no"] == "2605-000042"

    await eventually(known)
    done = await c.get(f"/returns/{request_id}/done", cookies=page_cookies("d1s1-staff1"))
    shown = done.text.split('<dd id="reception-no">')[1].split("</dd>")[0]
    assert f'<a href="/requests/{request_id}">2605-000042</a>' in shown
    for path in (f"/api/v1/returns/{request_id}/print.pdf", f"/returns/{request_id}/print.pdf"):
        kw = {"headers": STAFF} if path.startswith("/api") else {"cookies": page_cookies("d1s1-staff1")}
        pdf = await c.get(path, **kw)  # type: ignore[arg-type]
        assert pdf.status_code == 200
        text = pdf_text(pdf.content)
        assert "受付番号: 2605-000042" in text and request_id not in text

    # a later event of an older producer (no number) keeps the one known
    later = status_changed(request_id, no, version=2, new="hq_pending", label="本部承認者手続中")
    await publish_status(env.bootstrap, later)

    async def moved_on() -> None:
        got = (await c.get(f"/api/v1/returns/{request_id}", headers=STAFF)).json()
        assert got["status"] == "hq_pending" and got["reception_no"] == "2605-000042"

    await eventually(moved_on)
