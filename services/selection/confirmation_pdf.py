"""お支払方法確認書 (最終回お支払い方法のご確認): the A4 form the customer circles, signs and seals.

Drawn with reportlab on the IPAex Gothic font, embedded (subset) so it prints the same anywhere.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib.colors import Color, black, white
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from services.selection import labels
from shared.pdf import register_japanese_font
from shared.timefmt import jp_date

TITLE = "最終回お支払い方法のご確認"
OPTION_NOTES: dict[str, str] = {
    "現金決済": "最終回のお支払額を一括でお支払いいただきます（口座振替）",
    "車両返却": "お車をご返却いただき、最終回のお支払いに充当します",
    "再分割": "最終回のお支払額を分割してお支払いいただきます（所定の審査があります）",
    "早期完済": "最終回期日より前に残りのお支払額を一括でお支払いいただきます",
}
SHADE = Color(0.93, 0.94, 0.96)
INK = Color(0.12, 0.16, 0.2)
ACCENT = Color(0.78, 0.06, 0.18)


@dataclass(frozen=True)
class ConfirmationForm:
    contract_no: str
    contractor_name: str
    postal_code: str
    address: str
    model: str
    registration_no: str
    contract_kind: str
    final_payment_date: date
    final_payment_amount: int
    dealer_name: str
    store_name: str
    staff_code: str
    issued_on: date


_NO_LINE_START = frozenset("、。，．）」』】〕・ー！？")


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy wrap by character (Japanese has no spaces to break at)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for ch in paragraph:
            # 禁則: a closing mark never starts a line; it hangs at the end of the previous one
            if stringWidth(line + ch, font, size) > width and line and ch not in _NO_LINE_START:
                lines.append(line)
                line = ch
            else:
                line += ch
        lines.append(line)
    return lines


def _postal(code: str) -> str:
    digits = "".join(c for c in code if c.isdigit())
    return f"〒{digits[:3]}-{digits[3:]}" if len(digits) == 7 else (f"〒{code}" if code else "〒")


def render_confirmation(form: ConfirmationForm) -> bytes:
    font = register_japanese_font()
    buffer = io.BytesIO()
    page_w, page_h = A4
    c = Canvas(buffer, pagesize=A4, pageCompression=1)
    c.setTitle(f"{TITLE}（{form.contract_no}）")
    c.setAuthor(f"{form.dealer_name} {form.store_name}")
    c.setSubject("お支払方法確認書")
    left, right = 18 * mm, page_w - 18 * mm
    width = right - left
    c.setFillColor(INK)
    c.setStrokeColor(INK)

    # header line: issue date and contract number
    y = page_h - 16 * mm
    c.setFont(font, 9)
    c.drawRightString(right, y, f"作成日 {jp_date(form.issued_on)}")
    c.drawString(left, y, "お支払方法確認書")
    y -= 13 * mm
    c.setFont(font, 19)
    c.drawCentredString(page_w / 2, y, TITLE)
    c.setLineWidth(1.2)
    c.setStrokeColor(ACCENT)
    c.line(page_w / 2 - 70 * mm, y - 3 * mm, page_w / 2 + 70 * mm, y - 3 * mm)
    c.setStrokeColor(INK)

    # addressee (left) and dealer (right)
    y -= 14 * mm
    c.setFont(font, 10.5)
    c.drawString(left, y, _postal(form.postal_code))
    addr_lines = _wrap(form.address or "", font, 10.5, 100 * mm)
    for i, line in enumerate(addr_lines[:3]):
        c.drawString(left, y - (i + 1) * 5.2 * mm, line)
    name_y = y - (len(addr_lines[:3]) + 1) * 5.2 * mm - 6 * mm
    c.setFont(font, 15)
    c.drawString(left + 2 * mm, name_y, form.contractor_name)
    c.drawString(left + 2 * mm + stringWidth(form.contractor_name, font, 15) + 4 * mm, name_y, "様")
    c.setLineWidth(0.6)
    c.line(left, name_y - 2.2 * mm, left + 100 * mm, name_y - 2.2 * mm)

    box_x, box_w = right - 62 * mm, 62 * mm
    c.setFont(font, 8.5)
    c.drawString(box_x, y + 1 * mm, "販売店")
    c.rect(box_x, y - 21 * mm, box_w, 20 * mm)
    c.setFont(font, 9.5)
    for i, line in enumerate(_wrap(form.dealer_name, font, 9.5, box_w - 6 * mm)[:2]):
        c.drawString(box_x + 3 * mm, y - 6 * mm - i * 4.6 * mm, line)
    c.drawString(box_x + 3 * mm, y - 15.5 * mm, form.store_name)
    c.setFont(font, 8)
    c.drawString(box_x + 3 * mm, y - 19.5 * mm, f"担当スタッフコード {form.staff_code}")

    # greeting
    y = min(name_y - 11 * mm, y - 30 * mm)
    c.setFont(font, 9.5)
    greeting = (
        "平素は格別のお引き立てを賜り、厚く御礼申し上げます。ご契約の最終回のお支払い期日が近づいてまいりました。"
        "下記のご契約内容をご確認のうえ、最終回のお支払い方法をお選びいただき、いずれかひとつに〇をつけて、"
        "お申込日のご記入とご署名・ご捺印をお願いいたします。"
        "ご住所・お名前に変更がある場合は、担当スタッフまでお申し出ください。"
    )
    for line in _wrap(greeting, font, 9.5, width):
        c.drawString(left, y, line)
        y -= 5 * mm

    # contract details
    y -= 3 * mm
    c.setFont(font, 11)
    c.drawString(left, y, "■ ご契約内容")
    y -= 3 * mm
    final_label = labels.CONTRACT_KIND_FINAL_LABEL.get(form.contract_kind, "最終回年月日")
    rows = [
        ("ご契約番号", form.contract_no),
        ("お車（車種・登録番号）", f"{form.model}　{form.registration_no}".strip()),
        (final_label, jp_date(form.final_payment_date)),
        ("最終回お支払額", labels.yen(form.final_payment_amount)),
    ]
    row_h, label_w = 8.5 * mm, 52 * mm
    c.setLineWidth(0.6)
    for label, value in rows:
        y -= row_h
        c.setFillColor(SHADE)
        c.rect(left, y, label_w, row_h, stroke=1, fill=1)
        c.setFillColor(INK)
        c.rect(left + label_w, y, width - label_w, row_h, stroke=1, fill=0)
        c.setFont(font, 10)
        c.drawString(left + 3 * mm, y + 2.9 * mm, label)
        c.setFont(font, 11.5 if label == "最終回お支払額" else 10.5)
        c.drawString(left + label_w + 4 * mm, y + 2.8 * mm, value)

    # options to circle
    y -= 11 * mm
    c.setFont(font, 11)
    c.drawString(left, y, "■ 最終回のお支払い方法（いずれかひとつに〇をつけてください）")
    y -= 3 * mm
    opt_h, opt_w, gap = 31 * mm, (width - 3 * 4 * mm) / 4, 4 * mm
    y -= opt_h
    for i, option in enumerate(labels.FORM_OPTIONS):
        x = left + i * (opt_w + gap)
        c.setLineWidth(0.9)
        c.roundRect(x, y, opt_w, opt_h, 2.5 * mm)
        c.setFont(font, 15)
        c.drawCentredString(x + opt_w / 2, y + opt_h - 10 * mm, option)
        c.setFont(font, 7.2)
        for j, line in enumerate(_wrap(OPTION_NOTES[option], font, 7.2, opt_w - 5 * mm)[:3]):
            c.drawCentredString(x + opt_w / 2, y + opt_h - 16.5 * mm - j * 3.4 * mm, line)

    # application date, signature and seal
    y -= 13 * mm
    c.setFont(font, 11)
    c.drawString(left, y, "■ お申込日")
    c.setFont(font, 12)
    date_x = left + 32 * mm
    c.drawString(date_x, y, "　　　　　年　　　　月　　　　日")
    c.setLineWidth(0.5)
    c.line(date_x, y - 2 * mm, date_x + 80 * mm, y - 2 * mm)

    y -= 9 * mm
    sign_h = 30 * mm
    seal = sign_h
    sign_w = width - seal - 4 * mm
    y -= sign_h
    c.setLineWidth(0.9)
    c.rect(left, y, sign_w, sign_h)
    c.setFillColor(SHADE)
    c.rect(left, y + sign_h - 6 * mm, sign_w, 6 * mm, stroke=1, fill=1)
    c.setFillColor(INK)
    c.setFont(font, 9.5)
    c.drawString(left + 3 * mm, y + sign_h - 4.3 * mm, "ご署名（ご契約者様ご本人がご記入ください）")
    seal_x = left + sign_w + 4 * mm
    c.rect(seal_x, y, seal, sign_h)
    c.setFillColor(SHADE)
    c.rect(seal_x, y + sign_h - 6 * mm, seal, 6 * mm, stroke=1, fill=1)
    c.setFillColor(INK)
    c.drawCentredString(seal_x + seal / 2, y + sign_h - 4.3 * mm, "ご捺印")
    c.setStrokeColor(Color(0.6, 0.6, 0.6))
    c.setDash(1.5, 1.5)
    c.circle(seal_x + seal / 2, y + (sign_h - 6 * mm) / 2, 7.5 * mm)
    c.setDash()
    c.setFillColor(Color(0.6, 0.6, 0.6))
    c.setFont(font, 9)
    c.drawCentredString(seal_x + seal / 2, y + (sign_h - 6 * mm) / 2 - 1.5 * mm, "印")
    c.setFillColor(INK)
    c.setStrokeColor(INK)

    # dealer's notes (manual: 【ご留意事項】)
    y -= 10 * mm
    notes_top = y
    note_lines: list[str] = []
    for note in labels.CONFIRMATION_NOTES:
        wrapped = _wrap(note, font, 8.8, width - 12 * mm)
        note_lines.append("□" + wrapped[0])
        note_lines.extend("　" + rest for rest in wrapped[1:])
    box_h = (len(note_lines) + 1) * 4.8 * mm + 5 * mm
    c.setLineWidth(0.6)
    c.rect(left, notes_top - box_h, width, box_h)
    c.setFont(font, 9.5)
    c.drawString(left + 3 * mm, notes_top - 6 * mm, "【ご留意事項】（販売店様へ）")
    c.setFont(font, 8.8)
    for i, line in enumerate(note_lines):
        c.drawString(left + 4 * mm, notes_top - 11.5 * mm - i * 4.8 * mm, line)

    # footer
    c.setFont(font, 7.5)
    c.setFillColor(Color(0.35, 0.4, 0.45))
    c.drawString(left, 10 * mm, f"{form.dealer_name} {form.store_name}　ご契約番号 {form.contract_no}")
    c.drawRightString(right, 10 * mm, "販売店保管用（弊社への送付は不要です）")
    c.setFillColor(white)
    c.setFillColor(black)
    c.showPage()
    c.save()
    return buffer.getvalue()
