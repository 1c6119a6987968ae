"""One whole local system (honcho + Procfile on free ports) and one Chromium for the browser suite.

Every test drives the gateway as a person would and saves a screenshot of every screen it sees to
`artifacts/screenshots/<test>/<step>.png` (git-ignored)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from shared.events import ContractSnapshot
from shared.pdf import japanese_font_path
from shared.topics import TFC_CONTRACTS
from tests.factories import contract_snapshot
from tests.support import LocalSystem

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's (make test installs it)
# Every browser test module: one xdist worker for the whole suite (one system, one browser).
BROWSER_SUITE = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=ja-JP",  # dates in inputs as a Japanese browser shows them
]
REMINDER_S = 4  # the 7-day and 3-day reminder periods, shortened
APPROVER = "approver@d1.example"
SUBMITTER_MAIL = "sato@d1.example"


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    for day in (d.day, 30, 29, 28):
        try:
            return date(d.year + y, m + 1, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class TestContract:
    contract_no: str
    name: str
    kana: str
    months_to_final: int
    program: str = "gamma_finance"
    model: str = "プリウス"
    plate: str = "あ 12-34"  # after 「品川 300 」
    store: tuple[str, str] = ("S0101", "品川店")
    staff_code: str = "010101"
    first_reg_months_before_final: int = 36


# Contracts of dealer D001 品川店 with known dates (relative to today), one per flow.
CONTRACTS = {
    c.contract_no: c
    for c in (
        TestContract("T9000001", "試験 一郎", "シケン イチロウ", 6, plate="さ 90-01"),
        TestContract("T9000002", "検証 二郎", "ケンショウ ジロウ", 6, model="アクア", plate="た 90-02"),
        TestContract("T9000003", "確認 三郎", "カクニン サブロウ", 5, model="ハリアー", plate="な 90-03"),
        TestContract("T9000004", "返却 四郎", "ヘンキャク シロウ", 3, plate="は 90-04"),
        TestContract("T9000005", "取下 五郎", "トリサゲ ゴロウ", 3, program="max_value_a", plate="ま 90-05"),
        TestContract("T9000006", "異動 六子", "イドウ ロクコ", 8, plate="や 90-06"),
        TestContract("T9000007", "早期 七海", "ソウキ ナナミ", 7, model="カローラ", plate="ら 90-07"),
        TestContract("T9000008", "開放 八重", "カイホウ ヤエ", 3, "smart_value_open", plate="わ 90-08"),
        TestContract("T9000009", "再考 九平", "サイコウ キュウヘイ", 3, plate="を 90-09"),
        TestContract("T9000010", "審査 十吾", "シンサ トオゴ", 6, model="ノア", plate="ん 90-10"),
        TestContract("T9000011", "完済 十一", "カンサイ ジュウイチ", 7, model="ヤリス", plate="い 90-11"),
    )
}


def snapshot(c: TestContract, today: date) -> ContractSnapshot:
    """The contract's snapshot from the one factory (tests.factories), its dates relative to `today`."""
    final = add_months(today, c.months_to_final)
    return contract_snapshot(
        c.contract_no,
        store=c.store[0],
        store_name=c.store[1],
        staff_code=c.staff_code,
        contractor_name=c.name,
        contractor_name_kana=c.kana,
        registration_no=f"品川 300 {c.plate}",
        model=c.model,
        first_registration_date=add_months(final, -c.first_reg_months_before_final).isoformat(),
        program=c.program,
        final_payment_date=final,
        final_payment_amount=1_234_000,
    )


async def _publish_contracts(bootstrap: str, today: date, contracts: Iterable[TestContract] = ()) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for c in contracts or CONTRACTS.values():
            raw = snapshot(c, today).model_dump_json().encode()
            await producer.send_and_wait(TFC_CONTRACTS, raw, key=c.contract_no.encode())
    finally:
        await producer.stop()


class Api:
    """The JSON API through the gateway, as a given demo user (for set-up checks, not the flows)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._tokens: dict[str, tuple[str, float]] = {}

    def token(self, user_id: str) -> str:
        """The provider's tokens live 5 minutes: a new one after 4."""
        token, at = self._tokens.get(user_id, ("", 0.0))
        if time.monotonic() - at > 240:
            r = httpx.post(f"{self.base}/auth/token", json={"user_id": user_id}, timeout=10)
            token, at = r.json()["access_token"], time.monotonic()
            self._tokens[user_id] = (token, at)
        return token

    def get(self, path: str, user_id: str = "d1-hq", **params: Any) -> Any:
        r = httpx.get(
            f"{self.base}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.token(user_id)}"},
            timeout=15,
        )
        r.raise_for_status()
        return r.json()

    def mails(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.base}/dev/mail/messages", timeout=10).json()


def wait_until(check: Any, timeout_s: float = 30.0, interval_s: float = 0.3) -> Any:
    """Retry `check` until it returns a truthy value (its value), or fail with its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last value: {value!r}")
        time.sleep(interval_s)


@dataclass
class System:
    base: str
    bootstrap: str
    api: Api
    today: date

    def add_contracts(self, *contracts: TestContract) -> None:
        """Publish a test module's own contracts of D001 (beside CONTRACTS) and wait until search has them."""
        with ThreadPoolExecutor(1) as pool:  # pytest-asyncio's loop runs in this thread
            pool.submit(asyncio.run, _publish_contracts(self.bootstrap, self.today, contracts)).result()
        wait_until(
            lambda: all(
                self.api.get("/api/v1/contracts", mode="individual", contract_no=c.contract_no)["total"] == 1
                for c in contracts
            ),
            timeout_s=60,
        )


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("system")
    local = LocalSystem(
        tmp,
        {
            "JPASS_SEED_CONTRACTS": "300",
            "JPASS_REMINDER_SUBMITTER_AFTER_S": str(REMINDER_S),
            "JPASS_REMINDER_HQ_AFTER_S": str(REMINDER_S),
            "JPASS_SWEEP_INTERVAL_S": "1",
            # make run's group timings: with the suite's 1 s session a loaded machine lets a session expire,
            # the group rebalances and an in-flight offset commit fails (a Traceback in the log)
            "JPASS_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "JPASS_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        },
    )
    local.start()
    try:
        api = Api(local.base)
        today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
        with ThreadPoolExecutor(1) as pool:  # pytest-asyncio's loop runs in this thread
            pool.submit(asyncio.run, _publish_contracts(local.bootstrap, today)).result()
        wait_until(  # generous: on a loaded machine the consumer groups take long to join at first
            lambda: all(
                api.get("/api/v1/contracts", mode="individual", contract_no=no)["total"] == 1
                for no in CONTRACTS
            ),
            timeout_s=180,
            interval_s=1.0,
        )
        yield System(local.base, local.bootstrap, api, today)
    finally:
        running_log = local.log()  # what the services logged while the flows ran (not their shutdown)
        local.stop()
    assert "Traceback" not in running_log, running_log[-6000:]


def fontconfig_with_japanese(tmp: Path) -> Path:
    """A fontconfig file adding the IPAex Gothic font that ships with our Python dependencies, so the
    screenshots show Japanese on a machine without Japanese system fonts."""
    conf = tmp / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<dir>{japanese_font_path().parent}</dir><cachedir>{tmp / 'fontcache'}</cachedir>"
        "</fontconfig>"
    )
    return conf


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Per module: Playwright's sync API marks an event loop as running in this thread while it is
    started, which would break the async tests that the same xdist worker runs afterwards."""
    fonts = fontconfig_with_japanese(tmp_path_factory.mktemp("fonts"))
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            env={**os.environ, "FONTCONFIG_FILE": str(fonts)},
        )
        try:
            yield b
        finally:
            b.close()


class Screens:
    """Numbered screenshots of one test: artifacts/screenshots/<test>/<nn>-<step>.png."""

    def __init__(self, test_name: str) -> None:
        self.dir = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", test_name)
        if self.dir.exists():
            for old in self.dir.glob("*.png"):
                old.unlink()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def __call__(self, page: Page, step: str, full_page: bool = True) -> Path:
        self.n += 1
        path = self.dir / f"{self.n:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    def part(self, element: Locator, step: str) -> Path:
        """A screenshot of one element (a panel) only."""
        self.n += 1
        path = self.dir / f"{self.n:02d}-{step}.png"
        element.screenshot(path=str(path))
        return path


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Screens:
    return Screens(request.node.name)


@pytest.fixture
def page(browser: Browser, system: System) -> Iterator[Page]:
    """A fresh browser context (no cookies) at desktop width; every confirm dialog is accepted."""
    context = browser.new_context(
        base_url=system.base, viewport={"width": 1366, "height": 900}, locale="ja-JP", accept_downloads=True
    )
    context.set_default_timeout(15_000)
    p = context.new_page()
    p.on("dialog", lambda d: d.accept())
    try:
        yield p
    finally:
        context.close()


def login(page: Page, user_id: str, next_path: str = "/") -> None:
    """The demo login (the local provider's page): the row of that user, 「このユーザーでログイン」; then the
    page login's callback moves on to `next_path` by itself."""
    page.context.clear_cookies()
    page.goto(f"/login?next={quote(next_path)}")
    page.locator(f"button[data-user='{user_id}']").click()
    page.wait_for_url(lambda url: "/login" not in url and "/oidc/" not in url)
    page.wait_for_load_state()


def open_detail(page: Page, contract_no: str) -> None:
    page.goto(f"/contracts/{contract_no}")
    expect(page.get_by_role("heading", name="顧客詳細")).to_be_visible()


def record_selection(page: Page, category_label: str, replacement: str, model: str | None, day: str) -> None:
    page.locator("#action-selection").click()
    expect(page.get_by_role("heading", name="進捗・結果入力")).to_be_visible()
    page.get_by_label(category_label, exact=True).check()
    page.get_by_label(replacement, exact=True).check()
    if model:
        page.locator("#replacement_model").select_option(model)
    page.locator("#confirmation_received_on").fill(day)


def set_approval_flow(page: Page, shot: Screens | None, store: bool, hq: bool) -> None:
    login(page, "d1-hq", "/approval-flow")
    expect(page.get_by_role("heading", name="承認フロー設定（本部用）")).to_be_visible()
    page.locator("#store_approval").set_checked(store)
    page.locator("#hq_approval").set_checked(hq)
    page.locator("#hq_approver_emails").fill(APPROVER)
    if shot:
        shot(page, "approval-flow")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("承認フロー設定を保存しました。")).to_be_visible()


def open_request(page: Page, user_id: str, request_id: str) -> None:
    login(page, user_id, f"/requests/{request_id}")
    expect(page.get_by_role("heading", name=re.compile("契約内容変更受付"))).to_be_visible()


def status_of(page: Page) -> str:
    return page.locator("dd [data-status]").first.get_attribute("data-status") or ""


def wait_for_status(page: Page, request_id: str, status: str) -> None:
    def reached() -> bool:
        page.goto(f"/requests/{request_id}")
        return status_of(page) == status

    wait_until(reached, timeout_s=30, interval_s=0.5)
