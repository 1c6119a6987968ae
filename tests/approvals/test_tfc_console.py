"""The local TFC console: lists what approvals sends on jpass.requests.v1 and answers over the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from devtools.app import create_app as create_devtools
from devtools.settings import DevtoolsSettings
from devtools.tfc import send_update
from shared.topics import TFC_REQUEST_UPDATES
from tests.approvals.conftest import Env
from tests.approvals.support import records_for, submit, wait_request
from tests.support import eventually, free_port, running


async def test_send_update_publishes_a_request_update(kafka_bootstrap: str) -> None:
    update = await send_update(kafka_bootstrap, "req-console-1", "message", "書類をお送りください")
    got = await records_for(kafka_bootstrap, TFC_REQUEST_UPDATES, "req-console-1", expect=1)
    assert got[-1]["action"] == "message" and got[-1]["message"] == "書類をお送りください"
    assert got[-1]["update_id"] == update.update_id


async def test_console_lists_requests_and_answers_them(env: Env) -> None:
    c, b = env.client, env.bootstrap
    await env.set_flow(False, False)
    submitted = await submit(b, c, "d1s1-staff1", contract_no="TFCCONSOLE1")
    rid = submitted["request_id"]
    requested_in_tokyo = datetime.fromisoformat(submitted["requested_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
    settings = DevtoolsSettings(kafka_bootstrap_servers=b, smtp_catcher_port=free_port(), seed_on_start=False)
    async with running(create_devtools(settings)) as console:

        async def listed() -> dict:
            items = (await console.get("/tfc/api/requests")).json()
            mine = [i for i in items if i["request_id"] == rid]
            assert mine, [i["request_id"] for i in items]
            return mine[0]

        item = await eventually(listed)
        assert item["event"] == "requested" and item["contract_no"] == "TFCCONSOLE1"
        assert item["reception_no"] == submitted["reception_no"]  # from jpass.requests.v1
        page = await console.get("/tfc")
        assert page.status_code == 200 and rid in page.text and "TFCコンソール" in page.text
        assert f'<td class="reception-no">{submitted["reception_no"]}</td>' in page.text
        assert f"<td>{requested_in_tokyo:%Y/%m/%d %H:%M}</td>" in page.text  # 依頼日時 in Japan time
        sent = await console.post(f"/tfc/requests/{rid}/updates", data={"action": "accept"})
        assert sent.status_code == 303
        await wait_request(c, rid, "d1s1-staff1", "tfc_processing")
        await console.post(f"/tfc/requests/{rid}/updates", data={"action": "message", "message": "印鑑証明"})
        r = await wait_request(c, rid, "d1s1-staff1", "tfc_message")
        assert r["tfc_message"] == "印鑑証明"
        assert (
            await console.post(f"/tfc/requests/{rid}/updates", data={"action": "nope"})
        ).status_code == 422
        long = await console.post(  # J-PASS would dead-letter it: the console refuses it
            f"/tfc/requests/{rid}/updates", data={"action": "message", "message": "あ" * 2001}
        )
        # the console is a page: the refusal is a page with the message (data-code names it)
        assert long.status_code == 422 and 'data-code="message_too_long"' in long.text
        assert "文字以内で入力してください" in long.text

    # the CLI: send and list
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devtools.tfc",
        "--bootstrap",
        b,
        "send",
        rid,
        "complete",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["action"] == "complete"
    await wait_request(c, rid, "d1s1-staff1", "completed")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devtools.tfc",
        "--bootstrap",
        b,
        "list",
        "--timeout",
        "1.5",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert rid in out.decode() and "TFCCONSOLE1" in out.decode()
    assert f"{submitted['reception_no']}  {rid}" in out.decode()
