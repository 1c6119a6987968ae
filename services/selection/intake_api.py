"""JSON API of the two requests selection takes in (SPEC §9.2). 202 `{request_id}`; refusals are
`{"detail": <Japanese>, "code": ..., "field"?, "errors"?}`: 404 (scope), 409 (state, time), 422 (input)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from services.selection import request_forms as forms
from services.selection import views
from services.selection.deps import Today
from services.selection.intake import IntakeDep
from shared.identity import CurrentUser

router = APIRouter(prefix="/api/v1/contracts", tags=["selection"])


class ContactsBody(BaseModel):
    contact1: str | None = Field(default=None, max_length=40, description="連絡先1 (phone, required)")
    contact2: str | None = Field(default=None, max_length=40, description="連絡先2 (phone)")
    contact3_email: str | None = Field(
        default=None, max_length=254, description="連絡先3 (e-mail; hq: required)"
    )
    notify_on_completion: bool = Field(True, description="TFCにて手続が完了した際のメール通知を希望する")

    def contacts(self) -> forms.Contacts:
        return forms.Contacts(self.contact1, self.contact2, self.contact3_email, self.notify_on_completion)


class RefinanceApplicationBody(ContactsBody):
    """再分割審査申込: the plan is simulated again here from `months` and `annual_rate` (SPEC §3)."""

    months: int = Field(description="支払回数 12–84")
    annual_rate: Decimal | None = Field(
        None, allow_inf_nan=False, description="実質年率, e.g. 0.049; default the contract's rate"
    )
    consent_obtained_on: str | None = Field(None, max_length=20, description="同意取得日 YYYY-MM-DD, ≤ today")


class EarlyPayoffBody(ContactsBody):
    """早期完済受付."""

    desired_payoff_date: str | None = Field(
        None, max_length=20, description="完済希望日 YYYY-MM-DD, today ≤ date ≤ the final date"
    )
    payment_method: Literal["bank_transfer", "account_transfer"] | None = Field(
        None, description="bank_transfer (振込) | account_transfer (口座振替)"
    )


SUBMITTED = "`{request_id, replayed}`: approvals creates the request from the event"


@router.post("/{contract_no}/refinance-application", status_code=202, response_description=SUBMITTED)
async def refinance_application(
    request: Request,
    user: CurrentUser,
    today: Today,
    intake: IntakeDep,
    contract_no: str,
    body: RefinanceApplicationBody,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> views.Accepted:
    """Submit a 再分割審査申込 → 202 `{request_id}`; the same `Idempotency-Key` again returns the same id."""
    form = forms.RefinanceApplicationForm(body.contacts(), body.consent_obtained_on)
    request_id, replayed = await intake.refinance_application(
        user,
        contract_no,
        body.months,
        body.annual_rate,
        form,
        today=today,
        now=request.app.state.now(),
        idempotency_key=idempotency_key,
    )
    return views.Accepted(request_id=request_id, replayed=replayed)


@router.post("/{contract_no}/early-payoff-request", status_code=202, response_description=SUBMITTED)
async def early_payoff_request(
    request: Request,
    user: CurrentUser,
    today: Today,
    intake: IntakeDep,
    contract_no: str,
    body: EarlyPayoffBody,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> views.Accepted:
    """Submit an 早期完済受付 → 202 `{request_id}`; the same `Idempotency-Key` again returns the same id."""
    form = forms.EarlyPayoffForm(body.contacts(), body.desired_payoff_date, body.payment_method)
    request_id, replayed = await intake.early_payoff(
        user, contract_no, form, today=today, now=request.app.state.now(), idempotency_key=idempotency_key
    )
    return views.Accepted(request_id=request_id, replayed=replayed)


@router.get("/{contract_no}/refinance-application")
async def refinance_application_eligibility(
    user: CurrentUser, today: Today, intake: IntakeDep, contract_no: str
) -> views.Eligibility:
    """May the user submit a 再分割審査申込 now? `{eligible, code, detail}` (404 outside the scope)."""
    _, refusal = await intake.start(user, contract_no, forms.REFINANCE_APPLICATION, today)
    return views.eligibility(contract_no, forms.REFINANCE_APPLICATION, refusal)


@router.get("/{contract_no}/early-payoff-request")
async def early_payoff_eligibility(
    user: CurrentUser, today: Today, intake: IntakeDep, contract_no: str
) -> views.Eligibility:
    """May the user submit an 早期完済受付 now? `{eligible, code, detail}` (404 outside the scope)."""
    _, refusal = await intake.start(user, contract_no, forms.EARLY_PAYOFF, today)
    return views.eligibility(contract_no, forms.EARLY_PAYOFF, refusal)
