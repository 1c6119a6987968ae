"""Who is asking: the user a verified token names, their role and the scope rule (SPEC §9.3). Plain data,
no framework: domains may take a User (shared.identity verifies tokens and makes them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Role = Literal["staff", "store_manager", "hq"]
ROLE_LABELS: dict[str, str] = {"staff": "営業スタッフ", "store_manager": "店長", "hq": "本部"}


class User(BaseModel):
    user_id: str
    name: str
    role: Role
    dealer_code: str
    dealer_name: str = ""
    store_code: str | None = None
    store_name: str | None = None
    staff_code: str | None = None
    email: str | None = None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    def sees_store(self, dealer_code: str, store_code: str) -> bool:
        """Scope rule: hq sees its whole dealer; staff and store managers their own store."""
        if dealer_code != self.dealer_code:
            return False
        return self.role == "hq" or store_code == self.store_code
