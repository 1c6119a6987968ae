"""Request types and their payload schemas: intake (returns) and the workflow (approvals) agree here."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

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


REQUEST_TYPES: dict[str, type[BaseModel]] = {"vehicle_return": VehicleReturnPayload}
REQUEST_TYPE_LABELS: dict[str, str] = {"vehicle_return": "車両返却"}
