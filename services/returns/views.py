"""The shapes the JSON API and the pages show (typed response models) and the PDF answer of 入力内容印刷.
Their JSON is a stable interface (SPEC §7): field names, nulls and types stay as they are."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.returns.db import RequestStatus, Submission
from services.returns.printing import render_input_pdf
from services.returns.queries import ContractView
from shared.refusal import Refusal


class Accepted(BaseModel):
    request_id: str
    replayed: bool = Field(description="true: the same Idempotency-Key again, the request sent before")


class ReturnContract(BaseModel):
    """The contract as 車両返却 結果入力 shows it (its current store)."""

    contract_no: str
    dealer_name: str
    store_code: str
    store_name: str
    staff_code: str
    contractor_name: str
    contractor_name_kana: str
    contractor_postal_code: str
    contractor_address: str
    registration_no: str
    model: str
    program: str
    program_label: str
    contract_kind: str
    final_payment_date: str = Field(description="YYYY-MM-DD")


class Eligibility(BaseModel):
    contract_no: str
    eligible: bool
    code: str | None = Field(description="why not: the refusal's stable code")
    detail: str | None = Field(description="why not, in Japanese")
    contract: ReturnContract | None


def eligibility(contract_no: str, view: ContractView | None, refusal: Refusal | None) -> Eligibility:
    return Eligibility(
        contract_no=contract_no,
        eligible=refusal is None,
        code=refusal.code if refusal else None,
        detail=refusal.message if refusal else None,
        contract=ReturnContract(**view.summary()) if view else None,
    )


class Submitted(BaseModel):
    """What was submitted, with the latest status approvals reported (null until it has)."""

    request_id: str
    contract_no: str
    contract: dict[str, Any] = Field(description="the contract as shown when submitted (ReturnContract)")
    submitter: dict[str, Any] = Field(description="user_id, name, role, email")
    payload: dict[str, Any] = Field(description="the request's payload (VehicleReturnPayload)")
    submitted_at: str
    needs_extra_tfc_procedure: bool
    status: str | None
    status_label: str | None
    reception_no: str | None = Field(description="受付番号, once approvals gave it")


def submitted(s: Submission, status: RequestStatus | None) -> Submitted:
    return Submitted(
        request_id=s.request_id,
        contract_no=s.contract_no,
        contract=s.contract,
        submitter=s.submitter,
        payload=s.payload,
        submitted_at=s.submitted_at.isoformat(),
        needs_extra_tfc_procedure=s.needs_extra_tfc_procedure,
        status=status.status if status else None,
        status_label=status.status_label if status else None,
        reception_no=status.reception_no if status else None,
    )


def pdf_response(s: Submission, reception_no: str | None) -> Response:
    return Response(
        render_input_pdf(s, reception_no),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="vehicle-return-{s.contract_no}.pdf"'},
    )
