"""顧客リスト（csv）出力: Excel-friendly, formula-safe, streamed with bounded memory.

CP932 cannot hold every character (e.g. 𠮷); those become `?` and, because the headers are gone
by the time the count is known, a last row reports how many were replaced (docs/decisions.md).

Formatting and encoding (~75 µs a row) run on a worker thread, a batch of rows at a time, never on the
event loop: ten exports on the loop once held every other request of the service for seconds. At most
`ExportSlots.limit` exports run at once in a process; one more is refused (429) rather than queued.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.search import rules
from services.search.queries import stream_batches
from shared.identity import User
from shared.timefmt import jp_date

Encoding = Literal["cp932", "utf-8-sig"]
ENCODINGS: tuple[str, ...] = ("cp932", "utf-8-sig")
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


class ExportSlots:
    """How many CSV exports may run at once in this process, and the worker thread(s) doing their CPU work.

    One thread by default: the exports share it (each takes its turn a batch at a time), and the event loop
    competes for the GIL with one busy thread only, not with one per export."""

    def __init__(self, limit: int, threads: int = 1) -> None:
        self.limit = limit
        self.threads = threads
        self.running = 0
        self._executor: ThreadPoolExecutor | None = None

    def take(self) -> bool:
        """A slot for one more export, or False when all are taken (only the event loop calls this)."""
        if self.running >= self.limit:
            return False
        self.running += 1
        return True

    def give_back(self) -> None:
        self.running -= 1

    async def run(self, fn: Callable[..., bytes], *args: Any) -> bytes:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="csv-export")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class SlotStreamingResponse(StreamingResponse):
    """A streamed export that gives its slot back however it ends: whole, failed, or the client gone
    (even before the body started, when the body generator would never run its own cleanup)."""

    def __init__(self, content: AsyncIterator[bytes], slots: ExportSlots, **kw: Any) -> None:
        super().__init__(content, **kw)
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slots.give_back()


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


GIL_TURN_ROWS = 50  # ~3 ms of work: then the event loop may take the GIL at once


def encode_rows(rows: list[Any], today: date, encode: _Encoder, header: bool) -> bytes:
    """One batch of rows as encoded CSV (on the worker thread: pure CPU, no I/O, nothing shared).

    A busy thread keeps the GIL until the interpreter's switch interval (5 ms) asks for it, each time the
    event loop comes back from I/O; handing it over every GIL_TURN_ROWS rows keeps those waits short."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(HEADER)
    for start in range(0, len(rows), GIL_TURN_ROWS):
        writer.writerows(cells(c, today) for c in rows[start : start + GIL_TURN_ROWS])
        time.sleep(0)  # releases the GIL
    return encode(buffer.getvalue())


async def csv_chunks(
    sessionmaker: async_sessionmaker[AsyncSession],
    user: User,
    criteria: rules.Criteria,
    today: date,
    encoding: Encoding,
    slots: ExportSlots,
    on_done: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The CSV as byte chunks of one database batch (CSV_BATCH rows) each."""
    encode = _Encoder(encoding)
    if encoding == "utf-8-sig":
        yield "\ufeff".encode()
    header = True
    async with sessionmaker() as session:
        async for rows in stream_batches(session, user, criteria, today):
            yield await slots.run(encode_rows, rows, today, encode, header)
            header = False
    tail = await slots.run(encode_rows, [], today, encode, header)
    if encode.replaced:  # the last row: the count is known only now (docs/decisions.md)
        tail += encode(replaced_notice(encode.replaced) + "\r\n")
    yield tail
    if on_done:
        on_done(encode.replaced)
