"""E-mail content: Japanese subject, text and HTML bodies from Jinja2 templates (templates/mail/)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.mailer.domain import MailKind, is_send_back, send_back_actions
from shared.events import RequestStatusChanged, RequestTimedOut
from shared.requests import PAYMENT_METHOD_LABELS, REQUEST_TYPE_LABELS
from shared.rules import REFINANCE_RESULT_LABELS
from shared.timefmt import jp_date, jp_datetime

MAIL_TEMPLATES = Path(__file__).parent / "templates" / "mail"
TFC_LABEL = "TFC"


@dataclass(frozen=True)
class MailFacts:
    """What every e-mail about a request shows."""

    request_id: str
    request_type_label: str
    contract_no: str
    contractor_name: str
    status_label: str
    submitter_name: str
    dealer_note: str | None = None
    tfc_message: str | None = None
    actor_name: str | None = None  # who acted (send-back: who sent it back)
    reception_no: str | None = None  # 受付番号; None from an older producer
    send_back_reason: str | None = None  # the reason of this very send-back
    next_actions: tuple[str, ...] = ()  # what the recipient can do now (send-back)
    # SPEC §9.2: what each type's mails show (None / empty for a vehicle return or an older producer)
    request_type: str = "vehicle_return"
    subject_type: str = (
        ""  # 「・再分割審査申込」 in the subjects of the new types; "" for 車両返却 (unchanged)
    )
    result_label: str | None = None  # 審査結果 of a 再分割審査申込: 承認 / 否決
    payoff_amount: str | None = None  # 早期完済金額, formatted (1,234,567円)
    type_rows: tuple[tuple[str, str], ...] = ()  # the request's own details (plan, payoff date ...)


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str


def _type_label(request_type: str) -> str:
    return REQUEST_TYPE_LABELS.get(request_type, request_type)


def _ymd(value: Any) -> str:
    return jp_date(value) if isinstance(value, str) else ""


def _yen(value: Any) -> str:
    return f"{value:,}円" if isinstance(value, int) else ""


def type_facts(
    request_type: str, payload: dict[str, Any] | None, result: str | None, payoff: int | None
) -> dict[str, Any]:
    """What a 再分割審査申込 / 早期完済受付 adds to its mails: subject tag, TFC's answer, its rows."""
    if request_type not in ("refinance_application", "early_payoff"):
        return {"request_type": request_type}
    p = payload or {}
    rows: list[tuple[str, str]] = []
    if request_type == "refinance_application":
        plan = p.get("plan") or {}
        if plan:
            rows += [
                ("支払回数", f"{plan.get('months')}回"),
                ("実質年率", f"{float(plan.get('annual_rate') or 0) * 100:.3f}%"),
                ("初回お支払額", _yen(plan.get("first_payment"))),
                ("2回目以降お支払額", _yen(plan.get("monthly_payment"))),
                ("お支払総額", _yen(plan.get("total_payment"))),
            ]
    else:
        rows += [
            ("完済希望日", _ymd(p.get("desired_payoff_date"))),
            ("お支払方法", PAYMENT_METHOD_LABELS.get(p.get("payment_method") or "", "")),
        ]
    return {
        "request_type": request_type,
        "subject_type": f"・{_type_label(request_type)}",
        "result_label": REFINANCE_RESULT_LABELS.get(result or "")
        if request_type == "refinance_application"
        else None,
        "payoff_amount": _yen(payoff) or None,
        "type_rows": tuple((label, value) for label, value in rows if value),
    }


def facts_from_status_change(event: RequestStatusChanged) -> MailFacts:
    send_back = is_send_back(event)
    reason = event.send_back.reason if send_back and event.send_back else None
    dealer_note = event.dealer_note or None
    if send_back and not (event.actor is not None and event.actor.role == "hq" and dealer_note != reason):
        # A 差戻しメール carries that send-back's reason; the 貴社連絡欄 is hq's, so it is shown only
        # beside hq's own send-back (else it may be an older round's note) and not twice.
        dealer_note = None
    return MailFacts(
        request_id=event.request_id,
        request_type_label=_type_label(event.type),
        contract_no=event.contract_no,
        contractor_name=event.contractor_name,
        status_label=event.new_status_label,
        submitter_name=event.submitter.name,
        dealer_note=dealer_note,
        tfc_message=None if send_back else event.tfc_message or None,  # TFC's send-back: its reason
        actor_name=event.actor.name if event.actor is not None else TFC_LABEL,
        reception_no=event.reception_no,
        send_back_reason=reason,
        next_actions=send_back_actions(event),
        **type_facts(event.type, event.payload, event.result, event.payoff_amount),
    )


def facts_from_timeout(event: RequestTimedOut) -> MailFacts:
    return MailFacts(
        request_id=event.request_id,
        request_type_label=_type_label(event.type),
        contract_no=event.contract_no,
        contractor_name=event.contractor_name,
        status_label=event.status_label,
        submitter_name=event.submitter.name,
        reception_no=event.reception_no,
        **type_facts(event.type, None, None, None),
    )


class MailRenderer:
    def __init__(self, public_base_url: str, mail_from: str, template_dir: Path = MAIL_TEMPLATES) -> None:
        self._text, self._html = (
            Environment(
                loader=FileSystemLoader(template_dir),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                autoescape=autoescape,
            )
            for autoescape in (False, True)
        )
        for env in (self._text, self._html):  # a time in an e-mail reads as on the pages (SPEC §9.1)
            env.filters.update(jp_date=jp_date, jp_datetime=jp_datetime)
        self.public_base_url = public_base_url.rstrip("/")
        self.mail_from = mail_from

    def request_url(self, request_id: str) -> str:
        return f"{self.public_base_url}/requests/{request_id}"

    def render(self, kind: MailKind, facts: MailFacts, recipient_name: str | None) -> MailContent:
        context = {
            **asdict(facts),
            "kind": kind,
            "recipient_name": recipient_name,
            "request_url": self.request_url(facts.request_id),
            "mail_from": self.mail_from,
        }
        subject = self._text.get_template(f"{kind}.subject.txt").render(context)
        return MailContent(
            subject=" ".join(subject.split()),  # one line: no header folding surprises
            text=self._text.get_template(f"{kind}.txt").render(context).strip() + "\n",
            html=self._html.get_template(f"{kind}.html").render(context),
        )
