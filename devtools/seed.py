"""Demo activity on top of the demo book, through the real APIs (as the demo staff would do it):
recorded selections (some with replacement, some late) and a few vehicle returns in the workflow, so the
list marks and the dashboard show real figures on a fresh `make run`. Idempotent: the same selections
resubmitted change nothing, and returns carry an Idempotency-Key."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaProducer

from devtools.contracts import demo_contracts
from devtools.demo import DEMO_USERS
from devtools.settings import DevtoolsSettings
from shared.events import OPEN_END_PROGRAMS, ContractSnapshot, RequestUpdate
from shared.identity import User
from shared.topics import TFC_REQUEST_UPDATES

log = logging.getLogger("jpass.devtools.seed")
MODELS = ["プリウス", "アクア", "ノア", "ハリアー", "RAV4", "NX", "RX"]


def _staff_token(sign: Callable[[User], str], contract: ContractSnapshot) -> str:
    user = next(
        (
            u
            for u in DEMO_USERS
            if u.store_code == contract.store_code and u.staff_code == contract.staff_code
        ),
        next(u for u in DEMO_USERS if u.store_code == contract.store_code and u.role == "staff"),
    )
    return sign(user)


def demo_selections(today: date, seed: int = 7) -> list[tuple[ContractSnapshot, dict[str, object]]]:
    """About one in five open contracts whose category may still be set (final − 1 month ≥ today)."""
    rng = random.Random(seed)
    chosen = []
    for c in demo_contracts():
        if c.status != "active" or c.tfc_handling or c.version != 1:
            continue
        if not today + timedelta(days=35) <= c.final_payment_date <= today + timedelta(days=540):
            continue
        if rng.random() > 0.2:
            continue
        category = rng.choice(
            ["cash", "cash", "vehicle_return", "vehicle_return", "refinance", "early_payoff"]
        )
        replacement = "yes" if rng.random() < 0.45 else "no"
        body: dict[str, object] = {
            "category": category,
            "replacement": replacement,
            "confirmation_received_on": (today - timedelta(days=rng.randint(0, 20))).isoformat(),
        }
        if replacement == "yes":
            body["replacement_model"] = rng.choice(MODELS)
        chosen.append((c, body))
    return chosen


async def _wait_ready(client: httpx.AsyncClient, path: str, timeout_s: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            if (await client.get(path)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(path)
        await asyncio.sleep(0.5)


async def seed_activity(
    settings: DevtoolsSettings, sign: Callable[[User], str], today: date | None = None
) -> tuple[int, int]:
    today = today or datetime.now(ZoneInfo("Asia/Tokyo")).date()  # a Japan date, at any hour
    selection_url = f"http://127.0.0.1:{settings.selection_port}"
    returns_url = f"http://127.0.0.1:{settings.returns1_port}"
    plan = demo_selections(today)
    recorded = submitted = 0
    request_ids: list[str] = []
    async with httpx.AsyncClient(timeout=10) as client:
        await _wait_ready(client, f"{selection_url}/selection/readyz")
        await _wait_ready(client, f"{returns_url}/returns/readyz")
        for contract, body in plan:
            headers = {"Authorization": f"Bearer {_staff_token(sign, contract)}"}
            url = f"{selection_url}/api/v1/contracts/{contract.contract_no}/selection"
            for _ in range(60):  # selection may not have consumed the contract yet
                r = await client.put(url, json=body, headers=headers)
                if r.status_code != 404:
                    break
                await asyncio.sleep(0.5)
            recorded += r.status_code == 200
        returns = [
            c for c, b in plan if b["category"] == "vehicle_return" and c.program not in OPEN_END_PROGRAMS
        ][:12]
        for contract in returns:
            headers = {
                "Authorization": f"Bearer {_staff_token(sign, contract)}",
                "Idempotency-Key": f"demo-return-{contract.contract_no}",
            }
            body = {
                "contract_no": contract.contract_no,
                "contact1": "03-1234-5678",
                "contact3_email": f"store-{contract.store_code.lower()}@demo.jpass.example",
                "notify_on_completion": True,
                "result": "returned",
                "returned_on": today.isoformat(),
            }
            for _ in range(40):  # returns learns of the selection through its events
                r = await client.post(f"{returns_url}/api/v1/returns", json=body, headers=headers)
                if r.status_code not in (404, 422):
                    break
                await asyncio.sleep(0.5)
            if r.status_code == 202:
                submitted += 1
                request_ids.append(r.json()["request_id"])
    await tfc_answers(settings, request_ids)
    log.info("demo activity: %d selections recorded, %d returns submitted", recorded, submitted)
    return recorded, submitted


async def tfc_answers(settings: DevtoolsSettings, request_ids: list[str]) -> None:
    """TFC plays its part on some demo requests: accepts half of them, completes a few, after a moment
    (so the dashboard's time per step has something to measure)."""
    if not request_ids:
        return
    await asyncio.sleep(3)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for n, request_id in enumerate(request_ids):
            actions = ["accept"] if n % 2 == 0 else []
            if n % 4 == 0:
                actions.append("complete")
            for action in actions:
                update = RequestUpdate(
                    request_id=request_id,
                    action=action,
                    at=datetime.now(UTC),
                    update_id=f"demo-{request_id}-{action}",
                )
                await producer.send_and_wait(
                    TFC_REQUEST_UPDATES, update.model_dump_json().encode(), key=request_id.encode()
                )
                await asyncio.sleep(1)
    finally:
        await producer.stop()
