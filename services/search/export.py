"""顧客リスト（csv）出力: Excel-friendly, formula-safe, streamed with bounded memory.

CP932 cannot hold every character (e.g. 𠮷); those become `?` and, because the headers are gone
by the time the count is known, a last row reports how many were replaced (docs/decisions.md).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.search import rules
from services.search.queries import stream_all
from shared.identity import User
from shared.timefmt import jp_date

Encoding = Literal["cp932", "utf-8-sig"]
ENCODINGS: tuple[str, ...] = ("cp932", "utf-8-sig")
FLUSH_AT_CHARS = 64 * 1024
HEADER = (
    "最終回年月日/リース満了年月日",
    "契約区分",
    "結果入力期限",
    "ステータス",
    "代替",
    "代替車種",
    "完了",
    "対応状況",
    "ご契約者名",
    "車検年月",
    "車種",
    "登録番号",
    "スタッフコード",
    "店舗名",
    "契約番号",
)
_FORMULA_START = tuple("=+-@\t\r＝＋－＠")
# Unicode characters with a CP932 twin that Python's codec does not map (the classic 〜/−/‖ trap).
_CP932_TWINS = str.maketrans(
    {
        "\u301c": "\uff5e",
        "\u2212": "\uff0d",
        "\u2016": "\u2225",
        "\u00a2": "\uffe0",
        "\u00a3": "\uffe1",
        "\u00ac": "\uffe2",
        "\u2014": "\u2015",
    }
)


def neutralise(cell: str) -> str:
    """A cell Excel would run as a formula (= + - @, tab, CR) is prefixed with ' and shown as text."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def encode_cp932(text: str) -> tuple[bytes, int]:
    """Encode for Excel (Shift_JIS/CP932); unencodable characters become `?`. Returns (bytes, count)."""
    text = text.translate(_CP932_TWINS)
    try:
        return text.encode("cp932"), 0
    except UnicodeEncodeError:
        replaced = 0
        out = bytearray()
        for ch in text:
            try:
                out += ch.encode("cp932")
            except UnicodeEncodeError:
                out += b"?"
                replaced += 1
        return bytes(out), replaced


def replaced_notice(count: int) -> str:
    return (
        f"※CP932（Shift_JIS）で表せない文字{count}文字を「?」に置き換えました。"
        "UTF-8で出力すると置き換えずに出力できます。"
    )


def cells(c: Any, today: date) -> list[str]:
    inspection = rules.next_inspection(c.first_registration_date, today)
    values = [
        jp_date(c.final_payment_date),
        "リース" if c.contract_kind == "lease" else "割賦",
        jp_date(rules.result_input_deadline(c.final_payment_date)),
        rules.SELECTION_LABELS.get(c.selection_category or "", ""),
        rules.replacement_mark(
            c.replacement, c.final_payment_date, today, c.selection_category is not None, c.completed
        ),
        c.replacement_model or "",
        "完了" if c.completed else "",
        rules.HANDLING_STATUS_LABELS.get(c.handling_status, ""),
        c.contractor_name,
        f"{inspection[0]:04d}/{inspection[1]:02d}" if inspection else "",
        c.model,
        c.registration_no,
        c.staff_code,
        c.store_name,
        c.contract_no,
    ]
    return [neutralise(v) for v in values]


class _Encoder:
    def __init__(self, encoding: Encoding) -> None:
        self.encoding = encoding
        self.replaced = 0

    def __call__(self, text: str) -> bytes:
        if self.encoding == "utf-8-sig":
            return text.encode("utf-8", errors="replace")
        data, replaced = encode_cp932(text)
        self.replaced += replaced
        return data


async def csv_chunks(
    sessionmaker: async_sessionmaker[AsyncSession],
    user: User,
    criteria: rules.Criteria,
    today: date,
    encoding: Encoding,
    on_done: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The CSV as byte chunks of about FLUSH_AT_CHARS characters."""
    encode = _Encoder(encoding)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if encoding == "utf-8-sig":
        yield "\ufeff".encode()
    writer.writerow(HEADER)
    async with sessionmaker() as session:
        async for c in stream_all(session, user, criteria, today):
            writer.writerow(cells(c, today))
            if buffer.tell() >= FLUSH_AT_CHARS:
                yield encode(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
    tail = encode(buffer.getvalue())
    if encode.replaced:  # the last row: the count is known only now (docs/decisions.md)
        tail += encode(replaced_notice(encode.replaced) + "\r\n")
    yield tail
    if on_done:
        on_done(encode.replaced)
