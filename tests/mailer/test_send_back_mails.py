"""差戻しメール (SPEC §9.1): the reason of that send-back, the actions its recipient can take, the 受付番号.

Rendering first, then the real thing: approvals and the mailer on the real broker, their own PostgreSQL
databases and an SMTP server, driven through approvals' API and TFC's topic."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.approvals.config import ApprovalsSettings
from services.approvals.main import create_app as create_approvals
from services.mailer import domain
from services.mailer.main import create_app as create_mailer
from services.mailer.render import MailRenderer, facts_from_status_change, facts_from_timeout
from shared.events import SendBack
from shared.topics import REQUEST_STATUS
from tests.approvals.support import act, payload, submit, tfc, wait_request
from tests.mailer.conftest import Smtp, mailer_settings, publish_all
from tests.mailer.factories import envelope, party, status_changed, timed_out
from tests.support import auth, eventually, running, token_for

OLD_SENTENCE = "差戻しの理由等は「貴社連絡欄」をご確認ください"
HQ_PARTY = party("d1-hq", "森 隆之", "hq", "hq@example.com")
MANAGER_PARTY = party("d1s1-manager", "伊藤 誠", "store_manager", "manager@example.com")


@pytest.fixture
def renderer() -> MailRenderer:
    return MailRenderer("https://jpass.example/", "j-pass_uketsuke@jpass.example")


def send_back(new_status: str, actor: Any, reason: str | None, **kw: Any) -> Any:
    return status_changed(
        action="send_back",
        old_status=kw.pop("old_status", "hq_pending"),
        new_status=new_status,
        actor=actor,
        reception_no="2612-000123",
        send_back=SendBack(reason=reason, sender=actor, at=datetime.now(UTC)),
        **kw,
    )


def both(mail: Any) -> tuple[str, str]:
    return mail.text, mail.html


@pytest.mark.parametrize(
    ("new_status", "actions", "never"),
    [
        ("staff_back", "訂正・再送信または取下げ", ("承認", "差戻しのお手続き")),
        ("store_back", "訂正、承認または差戻し", ("取下げ", "再送信")),
        ("hq_back", "訂正、承認または差戻し", ("取下げ", "再送信")),
    ],
)
def test_a_send_back_mail_names_only_the_recipients_actions(
    renderer: MailRenderer, new_status: str, actions: str, never: tuple[str, ...]
) -> None:
    e = send_back(new_status, HQ_PARTY, "返却書類の不備")
    for body in both(renderer.render("send_back", facts_from_status_change(e), "受信者")):
        assert f"{actions}のお手続きをお願いいたします" in body
        for word in never:
            assert word not in body.split("■")[0].split("<table")[0], (word, body)
    if new_status != "staff_back":  # an approver cannot withdraw: the word appears nowhere
        for body in both(renderer.render("send_back", facts_from_status_change(e), "受信者")):
            assert "取下げ" not in body


def test_the_actions_follow_the_recipient() -> None:
    assert domain.send_back_actions(send_back("staff_back", MANAGER_PARTY, "x")) == ("訂正・再送信", "取下げ")
    assert domain.send_back_actions(send_back("store_back", HQ_PARTY, "x")) == ("訂正", "承認", "差戻し")
    assert domain.send_back_actions(send_back("hq_back", None, "x")) == ("訂正", "承認", "差戻し")
    assert domain.send_back_actions(status_changed(new_status="hq_pending")) == ()


def test_the_mail_carries_that_send_backs_reason_and_not_an_older_note(renderer: MailRenderer) -> None:
    # the store manager sends back to the submitter; hq's 貴社連絡欄 from an earlier round stays out
    e = send_back(
        "staff_back",
        MANAGER_PARTY,
        "受領日を確認してください",
        old_status="store_back",
        dealer_note="以前の本部連絡",
        tfc_message="以前のTFC連絡",
    )
    mail = renderer.render("send_back", facts_from_status_change(e), "佐藤 健一")
    for body in both(mail):
        assert "差戻し理由" in body and "受領日を確認してください" in body
        assert "以前の本部連絡" not in body and "以前のTFC連絡" not in body
        assert OLD_SENTENCE not in body
    assert mail.subject == "【J-PASS】差戻しのお知らせ（受付番号：2612-000123／ご契約番号：C000001）"
    assert "受付番号　　：2612-000123" in mail.text and "2612-000123" in mail.html


def test_tfcs_message_reaches_hq_and_an_empty_reason_says_so(renderer: MailRenderer) -> None:
    e = send_back("hq_back", None, "車検証の写しが不足しています", old_status="tfc_processing")
    mail = renderer.render("send_back", facts_from_status_change(e), None)
    assert "差戻し者　　：TFC" in mail.text and "車検証の写しが不足しています" in mail.text
    silent = send_back("hq_back", None, None, old_status="tfc_processing")
    for body in both(renderer.render("send_back", facts_from_status_change(silent), None)):
        assert "差戻し理由の記載はありません" in body and OLD_SENTENCE not in body


def test_hqs_own_send_back_shows_its_dealer_note_once(renderer: MailRenderer) -> None:
    # the reason given in the 貴社連絡欄: shown as the reason, not twice
    e = send_back("store_back", HQ_PARTY, "返却書類の不備", dealer_note="返却書類の不備")
    text = renderer.render("send_back", facts_from_status_change(e), None).text
    assert text.count("返却書類の不備") == 1 and "■貴社連絡欄" not in text
    # a comment as the reason, and a 貴社連絡欄 hq keeps beside it: both
    e = send_back("store_back", HQ_PARTY, "再確認のうえ承認してください", dealer_note="返却書類の不備")
    text = renderer.render("send_back", facts_from_status_change(e), None).text
    assert "再確認のうえ承認してください" in text and "■貴社連絡欄\n返却書類の不備" in text


@pytest.mark.parametrize("kind", sorted(domain.KIND_LABELS))
def test_every_mail_shows_the_reception_number(renderer: MailRenderer, kind: str) -> None:
    if kind in ("status_check", "approval_status_check"):
        facts = facts_from_timeout(timed_out(status="hq_pending", reception_no="2612-000777"))
    else:
        facts = facts_from_status_change(
            status_changed(new_status="hq_back", action="send_back", reception_no="2612-000777")
        )
    mail = renderer.render(kind, facts, None)  # type: ignore[arg-type]
    assert "受付番号：2612-000777／" in mail.subject
    for body in both(mail):
        assert "受付番号" in body and "2612-000777" in body
    # an older producer's event without it: no empty row
    older = facts_from_timeout(timed_out(status="hq_pending"))
    assert "受付番号" not in renderer.render("approval_status_check", older, None).text


# --------------------------------------------------------------------------------------------
# Through approvals and the mailer


STAFF, MANAGER, HQ = "d1s1-staff1", "d1s1-manager", "d1-hq"
MANAGER_MAIL, HQ_MAIL = "d1s1-manager@demo.jpass.example", "d1-hq@demo.jpass.example"


async def test_send_back_reasons_reach_the_right_people(
    kafka_bootstrap: str, pg_database: Callable[[str], Awaitable[str]], smtp: Smtp
) -> None:
    b = kafka_bootstrap
    tag = uuid.uuid4().hex[:8]
    contract_no, staff_mail = f"SB{tag}", f"staff-{tag}@example.com"
    await smtp.start()
    approvals_settings = ApprovalsSettings(
        kafka_bootstrap_servers=b, database_url=await pg_database("sb_approvals"), sweep_interval_s=3600
    )
    mailer = create_mailer(mailer_settings(b, await pg_database("sb_mailer"), smtp))
    async with running(create_approvals(approvals_settings)) as c, running(mailer):
        r = await c.put(
            "/api/v1/approval-flow",
            json={"store_approval": True, "hq_approval": True, "hq_approver_emails": []},
            headers=auth(HQ),
        )
        assert r.status_code == 200
        body = payload(contact3_email=staff_mail)
        r = await submit(b, c, STAFF, contract_no=contract_no, body=body)
        rid, no = r["request_id"], r["reception_no"]

        def mails() -> list[dict[str, Any]]:
            return [m for m in smtp.handler.messages if contract_no in m["subject"]]

        async def mail_to(address: str, count: int) -> dict[str, Any]:
            async def arrived() -> dict[str, Any]:
                mine = [m for m in mails() if address in m["to"] and "差戻し" in m["subject"]]
                assert len(mine) == count, [m["subject"] for m in mails()]
                return mine[-1]

            return await eventually(arrived, timeout_s=30)

        assert (await act(c, MANAGER, rid, "approve", 1)).status_code == 200
        # hq sends back to the store manager, the reason written in the 貴社連絡欄
        r = await act(c, HQ, rid, "send_back", 2, dealer_note="返却書類の不備（本部）")
        assert r.status_code == 200, r.text
        to_manager = await mail_to(MANAGER_MAIL, 1)
        # the store manager sends back to the submitter with a note
        r = await act(c, MANAGER, rid, "send_back", 3, note="受領日を確認してください（店長）")
        assert r.status_code == 200, r.text
        to_staff = await mail_to(staff_mail, 1)
        # an approver's send-back without a note is refused: no change, no mail
        await act(c, STAFF, rid, "correct", 4, payload=body)
        assert (await act(c, MANAGER, rid, "approve", 5)).status_code == 200
        refused = await act(c, HQ, rid, "send_back", 6)
        assert refused.status_code == 422 and refused.json()["code"] == "send_back_reason_required"
        assert (await wait_request(c, rid, STAFF))["version"] == 6
        assert (await act(c, HQ, rid, "approve", 6)).status_code == 200
        # TFC sends back to hq with a message
        await tfc(b, rid, "send_back", "車検証の写しが不足しています（TFC）")
        await wait_request(c, rid, HQ, "hq_back")
        to_hq = await mail_to(HQ_MAIL, 1)

    subject = f"【J-PASS】差戻しのお知らせ（受付番号：{no}／ご契約番号：{contract_no}）"
    assert to_manager["subject"] == to_staff["subject"] == to_hq["subject"] == subject

    assert "返却書類の不備（本部）" in to_manager["text"]
    assert "差戻し者　　：" in to_manager["text"] and "訂正、承認または差戻し" in to_manager["text"]

    assert "受領日を確認してください（店長）" in to_staff["text"]
    assert "返却書類の不備（本部）" not in to_staff["text"]  # hq's older note is not repeated
    assert "訂正・再送信または取下げ" in to_staff["text"]

    assert "車検証の写しが不足しています（TFC）" in to_hq["text"] and "差戻し者　　：TFC" in to_hq["text"]
    assert "返却書類の不備（本部）" not in to_hq["text"]

    for approver_mail in (to_manager, to_hq):  # approvers cannot withdraw
        assert "取下げ" not in approver_mail["text"] and "取下げ" not in approver_mail["html"]
    for mail in (to_manager, to_staff, to_hq):
        assert OLD_SENTENCE not in mail["text"] and OLD_SENTENCE not in mail["html"]
        assert f"受付番号　　：{no}" in mail["text"]
    assert len([m for m in mails() if "差戻し" in m["subject"]]) == 3  # the refused one mailed nobody


async def test_the_mail_log_shows_and_finds_the_reception_number(
    kafka_bootstrap: str, any_database: Callable[[str], Awaitable[str]], smtp: Smtp
) -> None:
    tag = uuid.uuid4().hex[:8]
    await smtp.start()
    numbered = envelope(
        status_changed(
            contract_no=f"L{tag}",
            old_status=None,
            new_status="hq_pending",
            reception_no="2612-004711",
            hq_approver_emails=[f"hq-{tag}@example.com"],
        )
    )
    other = envelope(
        status_changed(
            contract_no=f"M{tag}",
            old_status=None,
            new_status="hq_pending",
            hq_approver_emails=[f"o-{tag}@example.com"],
        )
    )
    app = create_mailer(mailer_settings(kafka_bootstrap, await any_database("mailer_log_no"), smtp))
    async with running(app) as client:
        await publish_all(kafka_bootstrap, [(REQUEST_STATUS, e.subject, e) for e in (numbered, other)])

        async def logged() -> list[dict[str, Any]]:
            r = await client.get("/api/v1/mail-log", params={"limit": 500}, headers=auth(HQ))
            mine = [i for i in r.json()["items"] if tag in i["to"]]
            assert len(mine) == 2
            return mine

        items = await eventually(logged, timeout_s=30)
        numbers = {i["contract_no"]: i["reception_no"] for i in items}
        assert numbers == {f"L{tag}": "2612-004711", f"M{tag}": None}
        typed = "２６１２－００４７１１ "
        found = await client.get("/api/v1/mail-log", params={"reception_no": typed}, headers=auth(HQ))
        assert [i["contract_no"] for i in found.json()["items"]] == [f"L{tag}"]
        hq_cookie = {"jpass_token": token_for(HQ)}
        page = await client.get("/mail-log", params={"reception_no": typed}, cookies=hq_cookie)
        assert page.status_code == 200 and "<th>受付番号</th>" in page.text
        assert '<td class="reception-no">2612-004711</td>' in page.text and f"M{tag}" not in page.text
