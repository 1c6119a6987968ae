"""TFC console (local/dev only): plays TFC's back office against J-PASS.

- Page `/tfc`: the requests J-PASS sent on `jpass.requests.v1` (consumed by the devtools app under its
  own consumer group, kept in memory) with buttons that answer on `tfc.request-updates.v1`
  (accept / hold / message / resume / complete / send_back).
  Every request type is answered: a 再分割審査申込's 完了 carries the 審査結果 (approved | declined), an
  早期完済受付's 連絡事項 or 完了 the 早期完済金額 (payoff_amount, yen).
- CLI: `python -m devtools.tfc list` and
  `python -m devtools.tfc send <request_id> <action> [--message ...] [--result approved|declined]
  [--payoff-amount YEN]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import unicodedata
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from shared.events import TFC_MESSAGE_MAX_CHARS, JpassRequest, RequestUpdate, RequestUpdateAction
from shared.refusal import Refusal
from shared.requests import PAYMENT_METHOD_LABELS, REQUEST_TYPE_LABELS
from shared.rules import REFINANCE_RESULT_LABELS
from shared.settings import CommonSettings
from shared.topics import JPASS_REQUESTS, TFC_REQUEST_UPDATES
from shared.web import make_templates

log = logging.getLogger("jpass.devtools.tfc")
templates = make_templates(Path(__file__).parent / "templates")
ACTIONS: tuple[str, ...] = get_args(RequestUpdateAction)
ACTION_LABELS = {
    "accept": "受付",
    "hold": "保留",
    "message": "連絡事項",
    "resume": "再開",
    "complete": "完了",
    "send_back": "差戻し",
}
EVENT_LABELS = {"requested": "依頼", "corrected": "訂正", "withdrawn": "取下げ"}
CONSUMER_GROUP = "devtools-tfc-console"


async def send_update(
    bootstrap: str,
    request_id: str,
    action: str,
    message: str | None = None,
    update_id: str | None = None,
    *,
    result: str | None = None,
    payoff_amount: int | None = None,
) -> RequestUpdate:
    """Publish one TFC answer to `tfc.request-updates.v1` (key request_id)."""
    update = RequestUpdate(
        request_id=request_id,
        action=action,
        message=message or None,
        at=datetime.now(UTC),
        update_id=update_id or str(uuid.uuid4()),
        result=result or None,
        payoff_amount=payoff_amount,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            TFC_REQUEST_UPDATES, update.model_dump_json().encode(), key=request_id.encode()
        )
    finally:
        await producer.stop()
    return update


@dataclass
class ConsoleEntry:
    """What TFC knows of one request: J-PASS's messages and TFC's own answers."""

    latest: JpassRequest
    events: list[JpassRequest] = field(default_factory=list)
    sent: list[RequestUpdate] = field(default_factory=list)


class TfcConsole:
    def __init__(self) -> None:
        self.entries: dict[str, ConsoleEntry] = {}

    def record(self, message: JpassRequest) -> None:
        entry = self.entries.get(message.request_id)
        if entry is None:
            entry = self.entries[message.request_id] = ConsoleEntry(latest=message)
        entry.events.append(message)
        if message.version >= entry.latest.version:
            entry.latest = message

    def record_raw(self, raw: bytes) -> None:
        try:
            self.record(JpassRequest.model_validate_json(raw))
        except ValidationError as e:
            log.warning("ignored a malformed message on %s: %s", JPASS_REQUESTS, e.errors()[:1])

    def listed(self) -> list[ConsoleEntry]:
        return sorted(self.entries.values(), key=lambda e: e.latest.at, reverse=True)

    async def consume(self, bootstrap: str, stopping: asyncio.Event, ready: asyncio.Event) -> None:
        """Follow jpass.requests.v1 from the beginning (no commits: memory is rebuilt on restart)."""
        while not stopping.is_set():
            consumer = AIOKafkaConsumer(
                JPASS_REQUESTS,
                bootstrap_servers=bootstrap,
                group_id=CONSUMER_GROUP,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                ready.set()
                while not stopping.is_set():
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for record in records:
                            self.record_raw(record.value)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # broker not up yet: try again
                log.info("TFC console consumer waiting for the broker: %r", e)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()


def console_of(request: Request) -> TfcConsole:
    return request.app.state.tfc_console


def bootstrap_of(request: Request) -> str:
    return request.app.state.settings.kafka_bootstrap_servers


@asynccontextmanager
async def console_lifespan(app: FastAPI) -> AsyncIterator[None]:
    console = TfcConsole()
    app.state.tfc_console = console
    stopping, ready = asyncio.Event(), asyncio.Event()
    app.state.tfc_console_ready = ready
    task = asyncio.create_task(console.consume(app.state.settings.kafka_bootstrap_servers, stopping, ready))
    try:
        yield
    finally:
        stopping.set()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


router = APIRouter(lifespan=console_lifespan, tags=["tfc-console"])


@router.get("/tfc", response_class=HTMLResponse, include_in_schema=False)
async def console_page(request: Request) -> Response:
    sent = request.query_params.get("sent")
    sent_entry = console_of(request).entries.get(sent or "")
    return templates.TemplateResponse(
        request,
        "tfc.html",
        {
            "user": None,
            "entries": console_of(request).listed(),
            "actions": ACTIONS,
            "action_labels": ACTION_LABELS,
            "event_labels": EVENT_LABELS,
            "sent": sent,
            "sent_reception_no": sent_entry.latest.reception_no if sent_entry else None,
            "sent_action": ACTION_LABELS.get(request.query_params.get("action", ""), ""),
            "type_labels": REQUEST_TYPE_LABELS,
            "result_labels": REFINANCE_RESULT_LABELS,
            "payment_method_labels": PAYMENT_METHOD_LABELS,
            "error": request.query_params.get("error"),
        },
    )


@router.get("/tfc/api/requests")
async def console_requests(request: Request) -> list[dict[str, Any]]:
    return [
        {
            **entry.latest.model_dump(mode="json"),
            "events": [e.event for e in entry.events],
            "sent": [s.model_dump(mode="json") for s in entry.sent],
        }
        for entry in console_of(request).listed()
    ]


@router.post("/tfc/requests/{request_id}/updates")
async def console_send(
    request: Request,
    request_id: str,
    action: Annotated[str, Form()],
    message: Annotated[str, Form()] = "",
    result: Annotated[str, Form()] = "",
    payoff_amount: Annotated[str, Form()] = "",
) -> Response:
    if action not in ACTIONS:
        raise Refusal("invalid", "unknown_action", "不明な操作です。")
    if len(message.strip()) > TFC_MESSAGE_MAX_CHARS:  # J-PASS would dead-letter it
        raise Refusal(
            "invalid", "message_too_long", f"連絡事項は{TFC_MESSAGE_MAX_CHARS}文字以内で入力してください。"
        )
    if result and result not in REFINANCE_RESULT_LABELS:
        raise Refusal("invalid", "invalid_result", "審査結果は承認または否決を選択してください。")
    amount_text = unicodedata.normalize("NFKC", payoff_amount).replace(",", "").replace("円", "").strip()
    if amount_text and (not amount_text.isdecimal() or int(amount_text) > 10**12):
        raise Refusal("invalid", "invalid_payoff_amount", "早期完済金額は円単位の数字で入力してください。")
    update = await send_update(
        bootstrap_of(request),
        request_id,
        action,
        message.strip() or None,
        # only where the type takes it: the console's fields are on every row
        result=result if action == "complete" else None,
        payoff_amount=int(amount_text) if amount_text and action in ("message", "complete") else None,
    )
    entry = console_of(request).entries.get(request_id)
    if entry is not None:
        entry.sent.append(update)
    return RedirectResponse("/tfc?" + urlencode({"sent": request_id, "action": action}), status_code=303)


# --------------------------------------------------------------------------------------------
# CLI


async def list_requests(bootstrap: str, timeout_s: float = 3.0) -> list[JpassRequest]:
    """The latest message of every request on jpass.requests.v1 (read from the beginning, no group)."""
    console = TfcConsole()
    consumer = AIOKafkaConsumer(JPASS_REQUESTS, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    console.record_raw(record.value)
    finally:
        await consumer.stop()
    return [e.latest for e in console.listed()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.tfc", description="TFC console (local only)")
    parser.add_argument("--bootstrap", default=CommonSettings().kafka_bootstrap_servers)
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="answer a request on tfc.request-updates.v1")
    send.add_argument("request_id")
    send.add_argument("action", choices=ACTIONS)
    send.add_argument("--message", default=None, help="TFC連絡事項 (for message)")
    send.add_argument("--update-id", default=None)
    send.add_argument(
        "--result", choices=tuple(REFINANCE_RESULT_LABELS), default=None, help="審査結果 (complete)"
    )
    send.add_argument(
        "--payoff-amount", type=int, default=None, help="早期完済金額 in yen (message / complete)"
    )
    listing = commands.add_parser("list", help="requests J-PASS sent on jpass.requests.v1")
    listing.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.command == "send":
        update = asyncio.run(
            send_update(
                args.bootstrap,
                args.request_id,
                args.action,
                args.message,
                args.update_id,
                result=args.result,
                payoff_amount=args.payoff_amount,
            )
        )
        print(json.dumps(update.model_dump(mode="json"), ensure_ascii=False))
        return
    for r in asyncio.run(list_requests(args.bootstrap, args.timeout)):
        print(
            f"{r.reception_no or '-'}  "
            f"{r.request_id}  {EVENT_LABELS.get(r.event, r.event)}  v{r.version}  {r.type}  {r.contract_no}  "
            f"{r.dealer_code}/{r.store_code}  {r.submitter.name}  {r.requested_at or ''}"
        )


if __name__ == "__main__":
    main()
