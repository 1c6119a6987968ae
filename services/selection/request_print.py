"""入力内容: what a 再分割審査申込 / 早期完済受付 contains, section by section (the confirmation page,
送信が完了しました and the A4 PDF with IPAex Gothic embedded)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from services.selection.request_forms import NOTIFY_LABEL, RECEPTION_PENDING
from shared.pdf import register_japanese_font
from shared.requests import PAYMENT_METHOD_LABELS, REQUEST_TYPE_LABELS
from shared.timefmt import jp_date, jp_datetime

LABEL_W = 50 * mm
ROW_H = 7.5 * mm
Sections = list[tuple[str, list[tuple[str, str]]]]


def yen(amount: int | None) -> str:
    return "" if amount is None else f"{amount:,}円"


def _address(c: dict[str, Any]) -> str:
    postal = c.get("contractor_postal_code") or ""
    address = c.get("contractor_address") or ""
    return f"〒{postal} {address}" if postal else address


def sections(
    request_type: str, payload: dict[str, Any], contract: dict[str, Any], submitter: dict[str, Any]
) -> Sections:
    """The input as the screens and the print show it."""
    p, c = payload, contract
    dealer = [
        ("販売会社名", c.get("dealer_name", "")),
        ("店舗名", c.get("store_name", "")),
        ("入力者", submitter.get("name", "")),
        ("連絡先1", p.get("contact1") or ""),
        ("連絡先2", p.get("contact2") or ""),
        ("連絡先3（メールアドレス）", p.get("contact3_email") or ""),
        ("メール通知", "希望する" if p.get("notify_on_completion") else "希望しない"),
    ]
    final_label = "リース満了年月日" if c.get("contract_kind") == "lease" else "最終回年月日"
    customer = [
        ("契約番号", c.get("contract_no", "")),
        ("ご契約者名", c.get("contractor_name", "")),
        ("ご契約者名（カナ）", c.get("contractor_name_kana", "")),
        ("住所", _address(c)),
        ("車種", c.get("model", "")),
        ("登録番号", c.get("registration_no", "")),
        ("制度", c.get("program_label", "")),
        (final_label, jp_date(c.get("final_payment_date"))),
        ("最終回お支払額", yen(c.get("final_payment_amount"))),
    ]
    if request_type == "refinance_application":
        plan = p.get("plan") or {}
        details = (
            "再分割審査申込情報",
            [
                ("再分割元金", yen(plan.get("principal"))),
                ("支払回数", f"{plan.get('months', '')}回"),
                ("実質年率", f"{float(plan.get('annual_rate') or 0) * 100:.3f}%"),
                ("初回お支払額", yen(plan.get("first_payment"))),
                ("2回目以降お支払額（月々）", yen(plan.get("monthly_payment"))),
                ("お支払総額", yen(plan.get("total_payment"))),
                ("うち利息", yen(plan.get("total_interest"))),
                ("お客様の同意取得日", jp_date(p.get("consent_obtained_on"))),
            ],
        )
    else:
        details = (
            "早期完済受付情報",
            [
                ("完済希望日", jp_date(p.get("desired_payoff_date"))),
                ("お支払方法", PAYMENT_METHOD_LABELS.get(p.get("payment_method") or "", "")),
            ],
        )
    return [("貴社情報", dealer), ("契約者情報", customer), details]


def render_pdf(
    request_type: str,
    payload: dict[str, Any],
    contract: dict[str, Any],
    submitter: dict[str, Any],
    submitted_at: datetime,
    reception_no: str | None,
) -> bytes:
    """入力内容印刷; `reception_no` is the 受付番号 approvals gave (None until known: 受付処理中)."""
    font = register_japanese_font()
    title = REQUEST_TYPE_LABELS.get(request_type, request_type)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setTitle(f"{title} {contract.get('contract_no', '')}")
    width, height = A4
    left, right = 20 * mm, width - 20 * mm
    y = height - 25 * mm
    canvas.setFont(font, 16)
    canvas.drawString(left, y, f"{title} 入力内容")
    y -= 9 * mm
    canvas.setFont(font, 9.5)
    moment = jp_datetime(submitted_at)
    canvas.drawString(left, y, f"受付番号: {reception_no or RECEPTION_PENDING}")
    canvas.drawRightString(right, y, f"送信日時: {moment}")
    y -= 6 * mm
    for heading, rows in sections(request_type, payload, contract, submitter):
        y -= 5 * mm
        canvas.setFont(font, 12)
        canvas.drawString(left, y, f"■ {heading}")
        y -= 3 * mm
        canvas.setFont(font, 10)
        for label, value in rows:
            canvas.setLineWidth(0.5)
            canvas.rect(left, y - ROW_H, LABEL_W, ROW_H)
            canvas.rect(left + LABEL_W, y - ROW_H, right - left - LABEL_W, ROW_H)
            canvas.drawString(left + 2 * mm, y - ROW_H + 2.5 * mm, label)
            canvas.drawString(left + LABEL_W + 2 * mm, y - ROW_H + 2.5 * mm, _fit(value))
            y -= ROW_H
    if payload.get("notify_on_completion") and payload.get("contact3_email"):
        canvas.setFont(font, 9)
        canvas.drawString(left, y - 8 * mm, f"※{NOTIFY_LABEL}")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _fit(value: str, limit: int = 52) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
