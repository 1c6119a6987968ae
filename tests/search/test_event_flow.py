"""Through the real broker: TFC snapshots and the other services' events reach the list and the detail;
read-your-writes with the consistency token; unknown event types are dead-lettered."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date

from services.search.config import SearchSettings
from services.search.main import create_app
from shared.topics import REQUEST_STATUS, SELECTION_EVENTS, TFC_CONTRACTS, dead_letter
from tests.search.factories import assignment, envelope, memo, request_status, selection, snapshot
from tests.support import auth, eventually, publish, running, token_for, wait_dead_lettered

TODAY = date(2026, 5, 20)


async def test_events_flow_into_list_and_detail(
    kafka_bootstrap: str, any_database: Callable[[str], Awaitable[str]]
) -> None:
    settings = SearchSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=await any_database("search_flow"),
        read_your_writes_wait_s=5.0,  # a busy machine may take seconds per event
    )
    no = f"F{uuid.uuid4().hex[:8].upper()}"
    staff, hq = auth("d1s1-staff1"), auth("d1-hq")
    async with running(create_app(settings, clock=lambda: TODAY)) as client:
        await publish(kafka_bootstrap, TFC_CONTRACTS, no, snapshot(no, final_payment_date=date(2026, 9, 10)))

        async def visible() -> dict:
            r = await client.get(f"/api/v1/contracts/{no}", headers=staff)
            assert r.status_code == 200, r.text
            return r.json()

        assert (await eventually(visible))["color"] == "yellow"

        # read-your-writes: the writer's token makes the next read wait for the change
        event = selection(no, 1, category="vehicle_return", replacement="yes", model="クラウン")
        await publish(kafka_bootstrap, SELECTION_EVENTS, no, event.model_dump_json().encode())
        r = await client.get(f"/api/v1/contracts/{no}", params={"after": f"{no}@1"}, headers=staff)
        d = r.json()
        assert d["selection"]["category"] == "vehicle_return" and d["replacement_mark"] == "○"
        assert d["seq"] == 1 and d["handling_status"] == "selected"

        await publish(
            kafka_bootstrap, SELECTION_EVENTS, no, memo(no, 2, "下取り査定済み").model_dump_json().encode()
        )
        page = await client.get(
            f"/contracts/{no}", params={"after": f"{no}@2"}, cookies={"jpass_token": token_for("d1s1-staff1")}
        )
        assert "下取り査定済み" in page.text and "反映中" not in page.text

        # duplicates and an older event change nothing
        await publish(kafka_bootstrap, SELECTION_EVENTS, no, event.model_dump_json().encode())
        older = selection(no, 0, category="cash")
        await publish(kafka_bootstrap, SELECTION_EVENTS, no, older.model_dump_json().encode())

        # the request's status, newest version first then an old one
        await publish(
            kafka_bootstrap,
            REQUEST_STATUS,
            "rq-" + no,
            request_status(no, "rq-" + no, 2, "requested", "依頼中").model_dump_json().encode(),
        )
        await publish(
            kafka_bootstrap,
            REQUEST_STATUS,
            "rq-" + no,
            request_status(no, "rq-" + no, 1, "store_pending", "店舗承認者手続中").model_dump_json().encode(),
        )

        async def request_shown() -> dict:
            d = await visible()
            assert d["request"] and d["request"]["status_label"] == "依頼中", d["request"]
            return d

        await eventually(request_shown)
        items = (
            await client.get("/api/v1/contracts", params={"handling_status": "in_progress"}, headers=staff)
        ).json()["items"]
        assert no in [i["contract_no"] for i in items]

        # reassignment to the other store: green there, gone from the old store's staff
        await publish(kafka_bootstrap, SELECTION_EVENTS, no, assignment(no, 3).model_dump_json().encode())
        r = await client.get(
            "/api/v1/contracts",
            params={"mode": "individual", "contract_no": no, "after": f"{no}@3"},
            headers=hq,
        )
        [row] = r.json()["items"]
        assert (row["store_name"], row["color"], row["transferred_in"]) == ("世田谷店", "green", True)
        assert (await client.get(f"/api/v1/contracts/{no}", headers=staff)).status_code == 404
        d = (await client.get(f"/api/v1/contracts/{no}", headers=hq)).json()
        assert d["selection"]["category"] == "vehicle_return" and d["memo"]["text"] == "下取り査定済み"

        # a token that never arrives: the page says the change is still on its way
        started = time.monotonic()
        page = await client.get(
            f"/contracts/{no}", params={"after": f"{no}@99"}, cookies={"jpass_token": token_for("d1-hq")}
        )
        assert page.status_code == 200 and "反映中" in page.text
        assert 4.9 <= time.monotonic() - started < 30  # waited the 5 s, then answered

        # another dealer's user: no wait, and the same answer whether the contract exists, whatever the seq
        # (it answered in 0.05 s when it existed and in the whole wait when not, revealing its change count)
        other = auth("d2-hq")
        answers = []
        for token in (f"{no}@1", f"{no}@3", f"{no}@99", f"NOSUCH{no}@1"):
            for path, params in (
                (f"/api/v1/contracts/{token.split('@')[0]}", {}),
                ("/api/v1/contracts", {"mode": "individual", "contract_no": token.split("@")[0]}),
            ):
                started = time.monotonic()
                r = await client.get(path, params={**params, "after": token}, headers=other)
                answers.append((path.replace(no, "N").replace("NOSUCHN", "N"), r.status_code, r.text))
                # no read-your-writes wait (5 s here): even on a busy machine a plain answer is quicker
                assert time.monotonic() - started < 3, (token, path)
        assert len(set(answers)) == 2, answers  # one answer per path, the same for every token

        unknown = envelope("jpass.selection.unknown", no, snapshot(no))
        await publish(kafka_bootstrap, SELECTION_EVENTS, no, unknown.model_dump_json().encode())
        await wait_dead_lettered(
            kafka_bootstrap,
            dead_letter(SELECTION_EVENTS),
            lambda r: b"jpass.selection.unknown" in r.value and no.encode() in r.value,
        )
