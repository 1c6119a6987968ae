"""入力内容印刷: the submitted vehicle-return input as an A4 PDF (IPAex Gothic embedded)."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from services.returns.domain import (
    EXTRA_TFC_PROCEDURE_NOTICE,
    NOTIFY_LABEL,
    RECEPTION_PENDING,
    RESULT_LABELS,
)
from shared.pdf import register_japanese_font
from shared.requests import NOT_RETURNED_REASONS
from shared.timefmt import jp_date, jp_datetime

LABEL_W = 45 * mm
ROW_H = 8 * mm


def input_sections(s: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """The printed (and confirmed) content, section by section, as the screen shows it."""
    p, c, who = s.payload, s.contract, s.submitter
    if p["result"] == "returned":
        result_rows = [
            ("車両返却結果", RESULT_LABELS["returned"]),
            ("車両返却受領日", jp_date(p["returned_on"])),
        ]
    else:
        reason = NOT_RETURNED_REASONS.get(p.get("not_returned_reason") or "", "")
        if p.get("not_returned_reason_text"):
            reason += f"（{p['not_returned_reason_text']}）"
        result_rows = [("車両返却結果", RESULT_LABELS["not_returned"]), ("未返却理由", reason)]
    return [
        (
            "貴社情報",
            [
                ("販売会社名", c.get("dealer_name", "")),
                ("店舗名", c.get("store_name", "")),
                ("入力者", who.get("name", "")),
                ("連絡先1", p.get("contact1") or ""),
                ("連絡先2", p.get("contact2") or ""),
                ("連絡先3（メールアドレス）", p.get("contact3_email") or ""),
                ("メール通知", ("希望する" if p.get("notify_on_completion") else "希望しない")),
            ],
        ),
        (
            "契約者情報",
            [
                ("契約番号", c["contract_no"]),
                ("ご契約者名", c.get("contractor_name", "")),
                ("ご契約者名（カナ）", c.get("contractor_name_kana", "")),
                ("住所", _address(c)),
                ("車種", c.get("model", "")),
                ("登録番号", c.get("registration_no", "")),
                ("制度", c.get("program_label", "")),
                (
                    "リース満了年月日" if c.get("contract_kind") == "lease" else "最終回年月日",
                    jp_date(c.get("final_payment_date")),
                ),
            ],
        ),
        ("車両返却情報", result_rows),
    ]


def render_input_pdf(s: Any, reception_no: str | None) -> bytes:
    """The PDF; `reception_no` is the 受付番号 approvals gave (None until known: 受付処理中)."""
    font = register_japanese_font()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setTitle(f"車両返却 結果入力 {s.contract_no}")
    width, height = A4
    left, right = 20 * mm, width - 20 * mm
    y = height - 25 * mm
    canvas.setFont(font, 16)
    canvas.drawString(left, y, "車両返却 結果入力 入力内容")
    y -= 9 * mm
    canvas.setFont(font, 9.5)
    submitted = jp_datetime(s.submitted_at)
    canvas.drawString(left, y, f"受付番号: {reception_no or RECEPTION_PENDING}")
    canvas.drawRightString(right, y, f"送信日時: {submitted}")
    y -= 6 * mm
    for title, rows in input_sections(s):
        y -= 5 * mm
        canvas.setFont(font, 12)
        canvas.drawString(left, y, f"■ {title}")
        y -= 3 * mm
        canvas.setFont(font, 10)
        for label, value in rows:
            canvas.setLineWidth(0.5)
            canvas.rect(left, y - ROW_H, LABEL_W, ROW_H)
            canvas.rect(left + LABEL_W, y - ROW_H, right - left - LABEL_W, ROW_H)
            canvas.drawString(left + 2 * mm, y - ROW_H + 2.7 * mm, label)
            canvas.drawString(left + LABEL_W + 2 * mm, y - ROW_H + 2.7 * mm, _fit(value))
            y -= ROW_H
    y -= 8 * mm
    canvas.setFont(font, 9)
    if s.payload.get("notify_on_completion") and s.payload.get("contact3_email"):
        canvas.drawString(left, y, f"※{NOTIFY_LABEL}")
        y -= 5 * mm
    if s.needs_extra_tfc_procedure:
        for line in _wrap(EXTRA_TFC_PROCEDURE_NOTICE, 52):
            canvas.drawString(left, y, line)
            y -= 5 * mm
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _address(c: dict[str, Any]) -> str:
    postal = c.get("contractor_postal_code") or ""
    return f"〒{postal} {c.get('contractor_address', '')}" if postal else c.get("contractor_address", "")


def _fit(value: str, limit: int = 56) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]
