"""Request types and their payload schemas: the intakes (returns, selection) and the workflow (approvals)
agree here; also the 貴社情報 contact rules of SPEC §4 that every intake applies."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, EmailStr, Field, create_model, model_validator

from shared import rules
from shared.events import JpassRequest, RequestSubmitted

NOT_RETURNED_REASONS: dict[str, str] = {
    "customer_purchase": "顧客買取",
    "total_loss": "車両全損",
    "theft": "盗難",
    "unknown_location": "所在不明",
    "other": "その他",
}

PHONE_PATTERN = r"^0\d{1,4}-?\d{1,4}-?\d{3,4}$"


class VehicleReturnPayload(BaseModel):
    """車両返却 結果入力 (SPEC §4)."""

    model_config = ConfigDict(extra="forbid")

    contact1: str = Field(pattern=PHONE_PATTERN, description="連絡先1 (phone)")
    contact2: str | None = Field(default=None, pattern=PHONE_PATTERN, description="連絡先2 (phone)")
    contact3_email: EmailStr | None = Field(default=None, description="連絡先3 (e-mail)")
    notify_on_completion: bool = True
    result: Literal["returned", "not_returned"] = "returned"
    returned_on: date | None = None
    not_returned_reason: (
        Literal["customer_purchase", "total_loss", "theft", "unknown_location", "other"] | None
    ) = None
    not_returned_reason_text: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _result_fields(self) -> VehicleReturnPayload:
        if self.result == "returned" and self.returned_on is None:
            raise ValueError("returned_on is required when result is returned")
        if self.result == "not_returned" and self.not_returned_reason is None:
            raise ValueError("not_returned_reason is required when result is not_returned")
        if self.not_returned_reason == "other" and not (self.not_returned_reason_text or "").strip():
            raise ValueError("not_returned_reason_text is required when the reason is other")
        return self


class ContactsPayload(BaseModel):
    """貴社情報 (SPEC §4): the same four fields in every request type."""

    model_config = ConfigDict(extra="forbid")

    contact1: str = Field(pattern=PHONE_PATTERN, description="連絡先1 (phone)")
    contact2: str | None = Field(default=None, pattern=PHONE_PATTERN, description="連絡先2 (phone)")
    contact3_email: EmailStr | None = Field(default=None, description="連絡先3 (e-mail; required for hq)")
    notify_on_completion: bool = True


class RefinancePlan(BaseModel):
    """The plan of a 再分割シミュレーション (元利均等, whole yen; SPEC §3): the instalments add up."""

    model_config = ConfigDict(extra="forbid")

    principal: int = Field(ge=1, description="再分割元金 = the final payment amount (yen)")
    months: int = Field(ge=12, le=84, description="支払回数")
    annual_rate: float = Field(ge=0, le=0.3, description="実質年率, e.g. 0.049")
    first_payment: int = Field(ge=0, description="初回お支払額 (absorbs the rounding)")
    monthly_payment: int = Field(ge=0, description="2回目以降お支払額 (a multiple of 100 yen)")
    total_payment: int = Field(ge=0, description="お支払総額")
    total_interest: int = Field(ge=0, description="うち利息")

    @model_validator(mode="after")
    def _adds_up(self) -> RefinancePlan:
        if self.first_payment + self.monthly_payment * (self.months - 1) != self.total_payment:
            raise ValueError("plan: the instalments do not add up to total_payment")
        if self.total_payment - self.principal != self.total_interest:
            raise ValueError("plan: total_interest is not total_payment - principal")
        return self


class RefinanceApplicationPayload(ContactsPayload):
    """再分割審査申込 (SPEC §9.2): the simulated plan and the date the customer consented."""

    consent_obtained_on: date = Field(description="お客様の同意取得日 (not after the day of submission)")
    plan: RefinancePlan


PAYMENT_METHOD_LABELS: dict[str, str] = {"bank_transfer": "振込", "account_transfer": "口座振替"}


class EarlyPayoffPayload(ContactsPayload):
    """早期完済受付 (SPEC §9.2): when and how the customer wants to pay off."""

    desired_payoff_date: date = Field(description="完済希望日: from the day of submission to the final date")
    payment_method: Literal["bank_transfer", "account_transfer"] = Field(description="振込 | 口座振替")
    final_payment_date: date = Field(description="the contract's final date (the latest payoff date)")

    @model_validator(mode="after")
    def _before_the_final_date(self) -> EarlyPayoffPayload:
        if self.desired_payoff_date > self.final_payment_date:
            raise ValueError("desired_payoff_date is after final_payment_date")
        return self


REQUEST_TYPES: dict[str, type[BaseModel]] = {
    "vehicle_return": VehicleReturnPayload,
    "refinance_application": RefinanceApplicationPayload,
    "early_payoff": EarlyPayoffPayload,
}
REQUEST_TYPE_LABELS: dict[str, str] = rules.REQUEST_TYPE_LABELS


def typed_jpass_request(request_type: str) -> type[BaseModel]:
    """`JpassRequest` with its `type` and `payload` narrowed to one request type: what the AsyncAPI documents
    show for each type (the message on the wire is the same JpassRequest)."""
    name = "JpassRequest_" + "".join(part.title() for part in request_type.split("_"))
    only_this_type: Any = Literal[request_type]  # built at run time: no static type to check
    return create_model(
        name,
        __base__=JpassRequest,
        __doc__=f"{JpassRequest.__doc__} Type `{request_type}` ({REQUEST_TYPE_LABELS[request_type]}).",
        type=(only_this_type, ...),
        payload=(REQUEST_TYPES[request_type], ...),
    )


def typed_submission(request_type: str) -> type[BaseModel]:
    """The submission event's data with `payload` narrowed to one request type (AsyncAPI)."""
    name = "".join(part.title() for part in request_type.split("_")) + "Submitted"
    return create_model(
        name,
        __base__=RequestSubmitted,
        __doc__=f"{REQUEST_TYPE_LABELS[request_type]} submitted ({request_type}).",
        payload=(REQUEST_TYPES[request_type], ...),
    )


# --------------------------------------------------------------------------------------------
# 貴社情報 as a person types it (SPEC §4): the rules every intake applies, with the same codes


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str


def normalise_phone(raw: str | None) -> str:
    """Full-width digits and hyphens become ASCII; spaces go (what a person types into a phone box)."""
    text = unicodedata.normalize("NFKC", raw or "")
    for dash in ("‐", "‑", "–", "—", "−", "ー"):
        text = text.replace(dash, "-")
    return "".join(text.split())


def check_contacts(
    contact1: str | None, contact2: str | None, contact3_email: str | None, *, submitter_role: str
) -> tuple[dict[str, Any], list[FieldError]]:
    """連絡先1 (phone, required), 連絡先2 (phone), 連絡先3 (e-mail; required for hq): the cleaned values and
    the errors in screen order."""
    errors: list[FieldError] = []
    phone1 = normalise_phone(contact1)
    if not phone1:
        errors.append(FieldError("contact1", "contact1_required", "連絡先1（電話番号）を入力してください。"))
    elif not re.fullmatch(PHONE_PATTERN, phone1):
        errors.append(
            FieldError(
                "contact1", "invalid_phone", "連絡先1の電話番号の形式が正しくありません（例: 03-1234-5678）。"
            )
        )
    phone2 = normalise_phone(contact2) or None
    if phone2 and not re.fullmatch(PHONE_PATTERN, phone2):
        errors.append(
            FieldError(
                "contact2", "invalid_phone", "連絡先2の電話番号の形式が正しくありません（例: 03-1234-5678）。"
            )
        )
    email = unicodedata.normalize("NFKC", contact3_email or "").strip() or None
    if email is None:
        if submitter_role == "hq":
            errors.append(
                FieldError(
                    "contact3_email",
                    "contact3_required_for_hq",
                    "本部担当者は連絡先3（メールアドレス）の入力が必須です。",
                )
            )
    else:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            message = "連絡先3のメールアドレスの形式が正しくありません。"
            errors.append(FieldError("contact3_email", "invalid_email", message))
    return {"contact1": phone1, "contact2": phone2, "contact3_email": email}, errors
