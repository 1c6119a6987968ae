"""All five services with data of two dealers. Authorization matrix (every endpoint × role × own store /
other store / other dealer, with requests of every type), hostile input (XSS in pages, PDFs and e-mails;
CSV formulas; SQL-shaped search input) and personal data kept out of logs and metrics labels."""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from pypdf import PdfReader

from shared.events import ContractSnapshot, RequestUpdate
from shared.topics import TFC_REQUEST_UPDATES
from tests.faults.support import figure
from tests.faults.system import APPLICATIONS, System, application_body, contract, new_no, system
from tests.security.routes import Endpoint, all_endpoints, protected
from tests.support import auth, eventually, publish, token_for

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("security-world")]

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
RAW = ("<script>alert(1)", "<img src=x onerror")
STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"
ROLES = {"staff": STAFF, "store_manager": MANAGER, "hq": HQ}


@dataclass
class World:
    s: System
    own: str  # contract of S0101 (D001) with hostile contractor name
    other_store: str  # S0102 (D001)
    other_dealer: str  # S0201 (D002)
    csv_no: str
    rid_own: str  # sent back by hq (store_back), notes hostile
    rid_pending: str  # store_pending: the store manager's step
    rid_other_store: str
    rid_other_dealer: str  # TFC message hostile
    tag: str
    # SPEC §9.2's request types, taken in by selection (hostile contractor names where own)
    ref_pending: str  # own 再分割審査申込, store_pending
    ep_own: str  # own 早期完済受付, approved by the store: hq_pending
    applications: dict[str, dict[str, str]]  # target → the contract and request of an application there
    ref_form_no: str  # own contracts with 再分割 / 早期完済 chosen and no request yet: the forms open
    ep_form_no: str

    def contract_of(self, request_id: str) -> str:
        return next(a["contract_no"] for a in self.applications.values() if a["request_id"] == request_id)


async def _flow(s: System, user: str, store: bool, hq: bool, emails: list[str]) -> None:
    r = await s.request(
        "PUT",
        "/api/v1/approval-flow",
        json={"store_approval": store, "hq_approval": hq, "hq_approver_emails": emails},
        headers=auth(user),
    )
    assert r.status_code == 200, r.text


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(kafka_bootstrap: str) -> AsyncIterator[World]:
    tag = uuid.uuid4().hex[:6]
    async with system(kafka_bootstrap) as s:
        await _flow(s, HQ, True, True, [f"hq-approver-{tag}@example.com"])
        hostile = dict(
            contractor_name=f"{SCRIPT}山田{IMG}",
            contractor_address=f"東京都{IMG}",
            model=f"プリウス{SCRIPT}",
        )
        own = contract(new_no("SEC"), "S0101", **hostile)
        pending = contract(new_no("SEC"), "S0101", **hostile)
        other_store = contract(new_no("SEC"), "S0102")
        other_dealer = contract(new_no("SEC"), "S0201", **hostile)
        csv_contract = contract(
            new_no("CSV"),
            "S0101",
            contractor_name='=HYPERLINK("http://evil.example","click")',
            contractor_name_kana="@SUM(1+1)",
            model="+cmd|' /C calc'!A0",
            registration_no="-2+3",
        )
        await s.add_contract(csv_contract)
        rid_own = await s.request_for(own, STAFF)
        rid_pending = await s.request_for(pending, STAFF)
        rid_other_store = await s.request_for(other_store, "d1s2-staff1")
        rid_other_dealer = await s.request_for(other_dealer, "d2s1-staff1")
        ref_own = contract(new_no("SEC"), "S0101", **hostile)
        ep_own = contract(new_no("SEC"), "S0101", **hostile)
        ep_other_store = contract(new_no("SEC"), "S0102")
        ref_other_dealer = contract(new_no("SEC"), "S0201", **hostile)
        ref_pending = await s.application_for(ref_own, STAFF, "refinance_application")
        ep_own_id = await s.application_for(ep_own, STAFF, "early_payoff")
        ep_other_store_id = await s.application_for(ep_other_store, "d1s2-staff1", "early_payoff")
        ref_other_dealer_id = await s.application_for(
            ref_other_dealer, "d2s1-staff1", "refinance_application"
        )
        r = await s.request(
            "POST", f"/api/v1/requests/{ep_own_id}/approve", json={"version": 1}, headers=auth(MANAGER)
        )
        assert r.status_code == 200 and r.json()["status"] == "hq_pending", r.text
        forms = {}
        for request_type, (_, category) in APPLICATIONS.items():
            form = contract(new_no("SEC"), "S0101", **hostile)
            await s.add_contract(form)
            await s.record_selection(form.contract_no, STAFF, category)
            forms[request_type] = form.contract_no
        memo = await s.request(
            "PUT",
            f"/api/v1/contracts/{own.contract_no}/memo",
            json={"text": f"メモ{SCRIPT}{IMG}"},
            headers=auth(STAFF),
        )
        assert memo.status_code == 200
        r = await s.request(
            "POST", f"/api/v1/requests/{rid_own}/approve", json={"version": 1}, headers=auth(MANAGER)
        )
        assert r.status_code == 200, r.text
        r = await s.request(
            "POST",
            f"/api/v1/requests/{rid_own}/send-back",
            json={"version": 2, "note": f"差戻し{SCRIPT}", "dealer_note": f"貴社連絡{IMG}{SCRIPT}"},
            headers=auth(HQ),
        )
        assert r.status_code == 200 and r.json()["status"] == "store_back", r.text
        for action, message in (("accept", None), ("message", f"TFC連絡{SCRIPT}{IMG}")):
            update = RequestUpdate(
                request_id=rid_other_dealer, action=action, message=message, at=datetime.now(UTC)
            )  # type: ignore[arg-type]
            await publish(s.bootstrap, TFC_REQUEST_UPDATES, rid_other_dealer, update)
        await s.wait_request(rid_other_dealer, "d2-hq", "tfc_message")
        yield World(
            s,
            own.contract_no,
            other_store.contract_no,
            other_dealer.contract_no,
            csv_contract.contract_no,
            rid_own,
            rid_pending,
            rid_other_store,
            rid_other_dealer,
            tag,
            ref_pending,
            ep_own_id,
            {
                "own": {"contract_no": ref_own.contract_no, "request_id": ref_pending},
                "other_store": {"contract_no": ep_other_store.contract_no, "request_id": ep_other_store_id},
                "other_dealer": {
                    "contract_no": ref_other_dealer.contract_no,
                    "request_id": ref_other_dealer_id,
                },
            },
            forms["refinance_application"],
            forms["early_payoff"],
        )


# --------------------------------------------------------------------------------------------
# Hostile input


def assert_escaped(html: str, where: str) -> None:
    for raw in RAW:
        assert raw not in html, f"{where}: unescaped {raw!r}"


def assert_not_cached_and_policed(r: Any, where: str) -> None:
    """Personal data is never kept by a browser or proxy cache; pages run our own scripts only."""
    assert r.headers.get("cache-control") == "no-store", (where, r.headers.get("cache-control"))
    policy = r.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, (where, policy)


async def test_json_with_personal_data_is_not_cached(world: World) -> None:
    w, s = world, world.s
    for path in (
        f"/api/v1/contracts/{w.own}",
        "/api/v1/contracts",
        f"/api/v1/contracts/{w.own}/memo",
        f"/api/v1/requests/{w.rid_own}",
        f"/api/v1/returns/{w.rid_own}",
        "/api/v1/mail-log",
        "/api/v1/contracts/export.csv",
    ):
        r = await s.get(path, HQ)
        assert r.status_code == 200, (path, r.text[:200])
        assert_not_cached_and_policed(r, path)


async def test_xss_payloads_are_escaped_in_every_page(world: World) -> None:
    w, s = world, world.s
    pages = {
        HQ: [
            f"/contracts?mode=individual&contract_no={w.own}",
            f"/contracts/{w.own}",
            f"/selection/contracts/{w.own}/input",
            f"/selection/contracts/{w.own}/memo",
            f"/selection/contracts/{w.own}/refinance",
            f"/selection/contracts/{w.own}/assignment",
            f"/returns/contracts/{w.own}",
            f"/returns/{w.rid_own}",
            f"/requests/{w.rid_own}",
            "/requests",
            "/mail-log",
            f"/selection/contracts/{w.ref_form_no}/refinance/application?months=24",
            f"/selection/contracts/{w.ep_form_no}/early-payoff/acceptance",
            f"/selection/requests/{w.ref_pending}",
            f"/selection/requests/{w.ep_own}",
            f"/requests/{w.ref_pending}",
            f"/requests/{w.ep_own}",
            f"/contracts/{w.contract_of(w.ref_pending)}",
            "/requests?type=refinance_application",
            "/requests?type=early_payoff",
        ],
        "d2-hq": [
            f"/requests/{w.rid_other_dealer}",
            f"/contracts/{w.other_dealer}",
            f"/requests/{w.applications['other_dealer']['request_id']}",
        ],
    }
    shown = 0
    for user, paths in pages.items():
        for path in paths:
            r = await s.request("GET", path, cookies={"jpass_token": token_for(user)})
            assert r.status_code == 200, (path, r.status_code)
            assert_escaped(r.text, path)
            assert_not_cached_and_policed(r, path)
            shown += "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    detail = await s.request("GET", f"/requests/{w.rid_own}", cookies={"jpass_token": token_for(HQ)})
    assert "貴社連絡&#34;&gt;&lt;img" in detail.text or "貴社連絡&quot;&gt;&lt;img" in detail.text
    tfc = await s.request(
        "GET", f"/requests/{w.rid_other_dealer}", cookies={"jpass_token": token_for("d2-hq")}
    )
    assert "TFC連絡&lt;script&gt;" in tfc.text
    assert shown >= 16, shown  # the payload is shown (as text) where the name, memo or notes appear


def pdf_text(data: bytes) -> str:
    return "".join("".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


async def test_xss_payloads_print_literally_in_pdfs(world: World) -> None:
    w, s = world, world.s
    for path in (
        f"/api/v1/contracts/{w.own}/confirmation.pdf",
        f"/api/v1/returns/{w.rid_own}/print.pdf",
        f"/selection/requests/{w.ref_pending}/print.pdf",
        f"/selection/requests/{w.ep_own}/print.pdf",
    ):
        r = await s.get(path, HQ)
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", path
        assert_not_cached_and_policed(r, path)
        text = pdf_text(r.content)
        assert "<script>alert(1)</script>山田" in text, (path, text[:300])


async def test_xss_payloads_are_escaped_in_e_mails(world: World) -> None:
    w = world
    assert w.s.smtp is not None

    async def mails() -> list[dict[str, Any]]:
        found = [m for m in w.s.smtp.handler.messages if w.own in (m.get("text") or "")]
        kinds = {m["subject"] for m in found}
        assert len(found) >= 2, kinds  # approval request to hq, send-back to the store manager
        return found

    found = await eventually(mails, timeout_s=30)
    for m in found:
        assert m["html"], m["subject"]
        assert_escaped(m["html"], m["subject"])
        assert "&lt;script&gt;alert(1)&lt;/script&gt;山田" in m["html"]
    send_back = [m for m in found if "差戻" in m["subject"]]
    assert send_back
    assert any(f"貴社連絡{q}&gt;&lt;img" in send_back[0]["html"] for q in ("&#34;", "&quot;"))

    ep_contract = (await w.s.get(f"/api/v1/requests/{w.ep_own}", HQ)).json()["contract_no"]

    async def early_payoff_mails() -> list[dict[str, Any]]:
        found = [m for m in w.s.smtp.handler.messages if ep_contract in (m.get("text") or "")]  # type: ignore[union-attr]
        assert any("承認依頼・早期完済受付" in m["subject"] for m in found), [m["subject"] for m in found]
        return found

    for m in await eventually(early_payoff_mails, timeout_s=30):
        assert m["html"], m["subject"]
        assert_escaped(m["html"], m["subject"])
        assert "&lt;script&gt;alert(1)&lt;/script&gt;山田" in m["html"]


async def test_csv_export_neutralises_formulas(world: World) -> None:
    w, s = world, world.s
    r = await s.get(
        "/api/v1/contracts/export.csv",
        HQ,
        params={"mode": "individual", "contract_no": w.csv_no, "encoding": "utf-8-sig"},
    )
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    row = next(row for row in rows if w.csv_no in row)
    risky = [cell for cell in row if cell[:1] in ("=", "+", "-", "@")]
    assert not risky, row
    assert '\'=HYPERLINK("http://evil.example","click")' in row and "'-2+3" in row


@pytest.mark.parametrize(
    "field, value",
    [
        ("contractor_name", "' OR '1'='1"),
        ("contractor_name", "山田'; DROP TABLE contracts; --"),
        ("registration_no", "%' OR 1=1 --"),
        ("contract_no", "x' UNION SELECT * FROM contracts --"),
        ("contractor_name", "%"),
        ("contractor_name", "_"),
        ("contractor_name", "\\"),
    ],
)
async def test_sql_shaped_search_input_is_harmless(world: World, field: str, value: str) -> None:
    s = world.s
    r = await s.get("/api/v1/contracts", STAFF, params={"mode": "individual", field: value})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        body = r.json()
        assert all(item["store_name"] == "品川店" for item in body["items"]), body["items"][:3]
        if "'" in value:
            assert body["total"] == 0, body
    after = await s.get(f"/api/v1/contracts/{world.own}", STAFF)
    assert after.status_code == 200  # the tables are still there


# --------------------------------------------------------------------------------------------
# Authorization matrix


VALID_BODIES: dict[str, Any] = {
    "/selection": {
        "category": "vehicle_return",
        "replacement": "no",
        "confirmation_received_on": "2026-05-14",
    },
    "/memo": {"text": "確認"},
    "/refinance-simulation": {"months": 60},
    "/refinance-application": {"months": 60, "consent_obtained_on": "2026-05-14", "contact1": "03-1234-5678"},
    "/early-payoff-request": {"desired_payoff_date": "2026-06-01", "payment_method": "bank_transfer"},
    "/assignment": {"store_code": "S0101", "staff_code": "010101"},
    "/approve": {"version": 1},
    "/send-back": {"version": 1},
    "/withdraw": {"version": 1},
    "/api/v1/requests/{request_id}": {"version": 1, "payload": {"contact1": "03-1234-5678"}},
}


def body_for(e: Endpoint) -> Any:
    if e.method == "GET":
        return None
    for suffix, body in VALID_BODIES.items():
        if e.path.endswith(suffix):
            return body
    return {}


def ids_for(w: World, target: str) -> list[dict[str, str]]:
    """A return and an application (再分割審査申込 or 早期完済受付, with its category chosen: the intake
    would take it) of that store or dealer."""
    returns = {
        "own": {"contract_no": w.own, "request_id": w.rid_own},
        "other_store": {"contract_no": w.other_store, "request_id": w.rid_other_store},
        "other_dealer": {"contract_no": w.other_dealer, "request_id": w.rid_other_dealer},
    }[target]
    return [returns, w.applications[target]]


async def call(s: System, e: Endpoint, user: str, ids: dict[str, str]) -> int:
    path = e.fill(**ids)
    params = {"contract_no": ids["contract_no"]} if e.path.endswith("/eligibility") else None
    kw: dict[str, Any] = {"params": params}
    if e.is_api:
        kw["headers"] = auth(user)
        body = body_for(e)
        if body is not None:
            kw["json"] = body
    else:
        kw["cookies"] = {"jpass_token": token_for(user)}
        if e.method != "GET":
            kw["data"] = {"version": "1"}
    return (await s.request(e.method, path, **kw)).status_code


async def test_other_dealers_and_other_stores_are_404_everywhere(world: World) -> None:
    """Every endpoint that names a contract or a request: another dealer's id is 404 for every role;
    another store's id is 404 for staff and store managers (hq sees its whole dealer)."""
    w, s = world, world.s
    scoped = [
        e
        for e in all_endpoints()
        if protected(e)
        and ("{contract_no}" in e.path or "{request_id}" in e.path or e.path.endswith("/eligibility"))
    ]
    assert len(scoped) >= 25, len(scoped)
    failures, calls = [], 0
    for e in scoped:
        for role, user in ROLES.items():
            targets = ["other_dealer"] + ([] if role == "hq" else ["other_store"])
            for target in targets:
                for ids in ids_for(w, target):
                    code = await call(s, e, user, ids)
                    calls += 1
                    if code != 404:
                        failures.append(f"{role} {e.method} {e.path} on {target} {ids} → {code}")
            if role == "hq" and e.method == "GET":  # hq reads the other store of its own dealer
                for ids in ids_for(w, "other_store"):
                    if (
                        e.service == "returns"
                        and "{request_id}" in e.path
                        and ids == w.applications["other_store"]
                    ):
                        continue  # returns knows only its own intake's requests: 404 for an application
                    code = await call(s, e, user, ids)
                    calls += 1
                    if code in (404, 500):
                        failures.append(f"hq {e.method} {e.path} on other_store {ids} → {code}")
    figure(
        f"authorization matrix: {len(scoped)} endpoints naming a contract or request × 3 roles × "
        f"other store / other dealer × a return and an application = {calls} calls, {len(failures)} leaks"
    )
    assert not failures, "\n".join(failures)


async def test_lists_never_show_another_dealers_or_stores_data(world: World) -> None:
    w, s = world, world.s
    lists = [
        e
        for e in all_endpoints()
        if protected(e) and e.method == "GET" and "{" not in e.path and not e.path.endswith("/eligibility")
    ]
    failures = []
    for e in lists:
        for role, user in ROLES.items():
            headers = auth(user) if e.is_api else {}
            cookies = {} if e.is_api else {"jpass_token": token_for(user)}
            r = await s.request("GET", e.path, headers=headers, cookies=cookies)
            foreign = [w.other_dealer, w.rid_other_dealer, *w.applications["other_dealer"].values()] + (
                []
                if role == "hq"
                else [w.other_store, w.rid_other_store, *w.applications["other_store"].values()]
            )
            leaked = [x for x in foreign if x in r.text]
            if leaked or r.status_code >= 500:
                failures.append(f"{role} GET {e.path} → {r.status_code} {leaked}")
    assert not failures, "\n".join(failures)


ROLE_RULES = [  # (method, path, body, {role: expected status}) on the user's own data
    ("GET", "/api/v1/contracts/export.csv", None, {"staff": 403, "store_manager": 200, "hq": 200}),
    ("GET", "/api/v1/approval-flow", None, {"staff": 403, "store_manager": 403, "hq": 200}),
    ("PUT", "/api/v1/approval-flow", "flow", {"staff": 403, "store_manager": 403, "hq": 200}),
    ("GET", "/api/v1/mail-log", None, {"staff": 403, "store_manager": 403, "hq": 200}),
    ("PUT", "/api/v1/contracts/{own}/assignment", "assignment", {"staff": 403}),
    ("POST", "/api/v1/requests/{pending}/approve", "pending", {"staff": 403, "hq": 403}),
    ("POST", "/api/v1/requests/{pending}/send-back", "pending", {"staff": 403, "hq": 403}),
    ("POST", "/api/v1/requests/{own_req}/withdraw", "own_req", {"store_manager": 403, "hq": 403}),
    ("POST", "/api/v1/requests/{ref_pending}/approve", "ref_pending", {"staff": 403, "hq": 403}),
    ("POST", "/api/v1/requests/{ref_pending}/send-back", "ref_pending", {"staff": 403, "hq": 403}),
    ("POST", "/api/v1/requests/{ref_pending}/withdraw", "ref_pending", {"store_manager": 403, "hq": 403}),
    ("POST", "/api/v1/requests/{ep_own}/approve", "ep_own", {"staff": 403, "store_manager": 403}),
    ("POST", "/api/v1/requests/{ep_own}/send-back", "ep_own", {"staff": 403, "store_manager": 403}),
    ("POST", "/api/v1/requests/{ep_own}/withdraw", "ep_own", {"store_manager": 403, "hq": 403}),
    ("GET", "/approval-flow", None, {"staff": 403, "store_manager": 403, "hq": 200}),
    ("GET", "/mail-log", None, {"staff": 403, "store_manager": 403, "hq": 200}),
]


async def test_role_rules(world: World) -> None:
    w, s = world, world.s
    flow = (await s.get("/api/v1/approval-flow", HQ)).json()
    pending = (await s.get(f"/api/v1/requests/{w.rid_pending}", HQ)).json()
    own_req = (await s.get(f"/api/v1/requests/{w.rid_own}", HQ)).json()
    ref_pending = (await s.get(f"/api/v1/requests/{w.ref_pending}", HQ)).json()
    ep_own = (await s.get(f"/api/v1/requests/{w.ep_own}", HQ)).json()
    assert (ref_pending["status"], ep_own["status"]) == ("store_pending", "hq_pending")
    bodies = {
        "flow": flow,
        "assignment": {"store_code": "S0101", "staff_code": "010101"},
        "pending": {"version": pending["version"]},
        "own_req": {"version": own_req["version"]},
        "ref_pending": {"version": ref_pending["version"], "note": "確認"},
        "ep_own": {"version": ep_own["version"], "note": "確認"},
    }
    failures = []
    for method, template, body, expected in ROLE_RULES:
        path = template.format(
            own=w.own, pending=w.rid_pending, own_req=w.rid_own, ref_pending=w.ref_pending, ep_own=w.ep_own
        )
        for role, status in expected.items():
            kw: dict[str, Any] = {}
            if path.startswith("/api/"):
                kw["headers"] = auth(ROLES[role])
            else:
                kw["cookies"] = {"jpass_token": token_for(ROLES[role])}
            if body:
                kw["json"] = bodies[body]
            r = await s.request(method, path, **kw)
            if r.status_code != status:
                failures.append(
                    f"{role} {method} {path} → {r.status_code} (expected {status}) {r.text[:100]}"
                )
    assert not failures, "\n".join(failures)
    assert (await s.get(f"/api/v1/requests/{w.rid_pending}", HQ)).json()["version"] == pending["version"]
    for rid, before in ((w.ref_pending, ref_pending), (w.ep_own, ep_own)):
        assert (await s.get(f"/api/v1/requests/{rid}", HQ)).json()["version"] == before["version"]


# --------------------------------------------------------------------------------------------
# Personal data stays out of logs and metrics


async def test_personal_data_never_reaches_logs_or_metric_labels(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    s = world.s
    tag = uuid.uuid4().hex[:6]
    personal = {
        "name": f"秘密{tag}花子",
        "kana": f"ヒミツ{tag}ハナコ",
        "address": f"東京都港区秘密町{tag}",
        "plate": f"品川 500 ひ {tag[:2]}-{tag[2:4]}",
        "email": f"private-{tag}@example.com",
        "phone": "03-9876-5432",
    }
    caplog.set_level(logging.DEBUG)

    def personal_contract() -> ContractSnapshot:
        return contract(
            new_no("PII"),
            "S0101",
            contractor_name=personal["name"],
            contractor_name_kana=personal["kana"],
            contractor_address=personal["address"],
            registration_no=personal["plate"],
        )

    snap = personal_contract()
    await s.add_contract(snap)
    await s.record_selection(snap.contract_no, STAFF)
    await s.wait_eligible(snap.contract_no, STAFF)
    rid = await s.submit_return(
        snap.contract_no, STAFF, contact3_email=personal["email"], contact1=personal["phone"]
    )
    await s.wait_request(rid, STAFF)
    await s.get(
        "/api/v1/contracts", STAFF, params={"mode": "individual", "contractor_name": personal["name"]}
    )
    for request_type, (path, category) in APPLICATIONS.items():  # selection's intake of SPEC §9.2
        applicant = personal_contract()
        await s.add_contract(applicant)
        await s.record_selection(applicant.contract_no, STAFF, category)
        no = applicant.contract_no
        refused = await s.request(  # a name where the phone number goes: refused, the value not logged
            "POST",
            f"/api/v1/contracts/{no}/{path}",
            json=application_body(request_type, contact1=personal["name"]),
            headers=auth(STAFF),
        )
        assert refused.status_code == 422, refused.text
        contacts = {"contact3_email": personal["email"], "contact1": personal["phone"]}
        app_id = await s.submit_application(no, STAFF, request_type, **contacts)
        await s.wait_request(app_id, STAFF)
    bad = await s.request(
        "POST",
        "/api/v1/returns",
        json={"contract_no": snap.contract_no, "contact1": personal["name"]},
        headers=auth(STAFF),
    )
    assert bad.status_code >= 400
    await publish(
        s.bootstrap,
        TFC_REQUEST_UPDATES,
        rid,
        {"request_id": rid, "action": "nonsense", "message": personal["name"]},
    )
    metrics = ""
    for name, client in s.clients.items():
        metrics += (await client.get(f"/{name}/metrics")).text
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    forms = {k: (v, str(v.encode())[2:-1], v.encode("unicode_escape").decode()) for k, v in personal.items()}
    leaks = [k for k, vs in forms.items() if any(v in logged or v in metrics for v in vs)]
    figure(
        f"personal data: {len(caplog.records)} log records at DEBUG and {len(metrics.splitlines())} "
        f"metric lines checked for {len(personal)} personal values, {len(leaks)} found"
    )
    assert caplog.records and not leaks, leaks
