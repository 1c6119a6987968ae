"""The Japanese templates: every kind shows the request's facts and the link; HTML escapes user text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.mailer.domain import KIND_LABELS
from services.mailer.render import MailRenderer, facts_from_status_change, facts_from_timeout
from shared.events import SendBack
from tests.mailer.factories import party, status_changed, timed_out

SUBJECTS = {
    "completion": "【J-PASS】手続完了のお知らせ（ご契約番号：C000001）",
    "status_check": "【J-PASS】手続状況確認のお願い（ご契約番号：C000001）",
    "send_back": "【J-PASS】差戻しのお知らせ（ご契約番号：C000001）",
    "approval_request": "【J-PASS】承認依頼（ご契約番号：C000001）",
    "approval_status_check": "【J-PASS】承認状況確認のお願い（ご契約番号：C000001）",
}
XSS = '<script>alert("x")</script>'


@pytest.fixture
def renderer() -> MailRenderer:
    return MailRenderer("https://jpass.example/", "j-pass_uketsuke@jpass.example")


@pytest.mark.parametrize("kind", sorted(KIND_LABELS))
def test_every_kind_shows_the_request(renderer: MailRenderer, kind: str) -> None:
    e = status_changed(
        new_status="hq_back",
        dealer_note="書類が不足しています。\n再送をお願いします。",
        actor=party("d1-hq", "森 隆之", "hq"),  # hq's own 貴社連絡欄 beside its send-back
    )
    mail = renderer.render(kind, facts_from_status_change(e), "佐藤 健一")  # type: ignore[arg-type]
    assert mail.subject == SUBJECTS[kind]
    link = f"https://jpass.example/requests/{e.request_id}"
    for body in (mail.text, mail.html):
        for shown in ("C000001", "山田 太郎", "車両返却", "本部承認者手続中（差戻）", "佐藤 健一", link):
            assert shown in body, (kind, shown)
        assert "書類が不足しています。" in body and "貴社連絡欄" in body
        assert "j-pass_uketsuke@jpass.example" in body
    assert f'href="{link}"' in mail.html


def test_no_dealer_note_section_without_a_note(renderer: MailRenderer) -> None:
    mail = renderer.render(
        "completion", facts_from_status_change(status_changed(new_status="completed")), None
    )
    assert "貴社連絡欄" not in mail.text and "貴社連絡欄" not in mail.html
    assert mail.text.startswith("ご担当者 様")


def test_send_back_names_who_sent_it_back_and_tfc_when_tfc_did(renderer: MailRenderer) -> None:
    by_hq = status_changed(new_status="store_back", actor=party("d1-hq", "森 隆之", "hq"))
    assert "差戻し者　　：森 隆之" in renderer.render("send_back", facts_from_status_change(by_hq), None).text
    by_tfc = status_changed(
        new_status="hq_back",
        actor=None,
        send_back=SendBack(reason="車検証の写しを添付してください", sender=None, at=datetime.now(UTC)),
    )
    mail = renderer.render("send_back", facts_from_status_change(by_tfc), None)
    assert "差戻し者　　：TFC" in mail.text and "車検証の写しを添付してください" in mail.text


def test_hq_mails_greet_the_hq_approvers(renderer: MailRenderer) -> None:
    facts = facts_from_timeout(timed_out(status="hq_pending"))
    for kind in ("approval_request", "approval_status_check"):
        assert renderer.render(kind, facts, None).text.startswith("本部承認者 各位")  # type: ignore[arg-type]


def test_html_escapes_names_and_notes_text_keeps_them(renderer: MailRenderer) -> None:
    e = status_changed(
        new_status="store_back",
        contractor_name=f"山田{XSS}",
        dealer_note=f"理由{XSS}",
        actor=party("d1-hq", f"森{XSS}", "hq"),
        submitter=party(name=f"佐藤{XSS}"),
    )
    mail = renderer.render("send_back", facts_from_status_change(e), f"伊藤{XSS}")
    assert "<script>" not in mail.html
    assert mail.html.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") == 5
    assert mail.text.count(XSS) == 5  # plain text is not HTML: shown as written


def test_an_early_payoffs_rows_line_up_with_the_requests_rows_in_the_text(renderer: MailRenderer) -> None:
    """The text part pads its labels with full-width spaces to six characters, so the colons line up
    (受付番号　　：, ご契約者名　：); the rows an 早期完済受付 adds follow the same rule."""
    e = status_changed(
        type="early_payoff",
        new_status="completed",
        payload={"desired_payoff_date": "2026-06-01", "payment_method": "bank_transfer"},
        payoff_amount=1_187_650,
    )
    text = renderer.render("completion", facts_from_status_change(e), None).text
    for row in ("ご契約番号　：C000001", "完済希望日　：2026/06/01", "お支払方法　：振込"):
        assert row in text, text
    for row in ("早期完済金額：1,187,650円",):
        assert row in text, text
