"""The staff directory handed to selection by configuration (SPEC §9.1, docs/decisions.md "Staff directory").

`JPASS_STAFF_DIRECTORY` names a JSON file exported from the identity provider: a list of its users, each
with at least `dealer_code`, `store_code`, `staff_code` and `name` (other keys, e.g. `user_id` or `email`,
are ignored; users without a store or staff code, such as hq, are skipped). Locally `make run` and the
test suite write the demo users' export (devtools/staff_directory.py). Read once at start: no request
ever calls the identity provider or devtools.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from services.selection.domain import StaffMember


class _DirectoryUser(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dealer_code: str
    store_code: str | None = None
    staff_code: str | None = None
    name: str = ""


def parse_staff_directory(text: str) -> tuple[StaffMember, ...]:
    users = [_DirectoryUser.model_validate(u) for u in json.loads(text)]
    return tuple(
        StaffMember(u.dealer_code, u.store_code, u.staff_code, u.name.strip())
        for u in users
        if u.store_code and u.staff_code
    )


def load_staff_directory(path: Path | None) -> tuple[StaffMember, ...]:
    """The directory's staff; none without a file (then only the staff codes of TFC's feed are known).
    A configured file that is missing or malformed stops the start: a silent empty directory would refuse
    every reassignment to a person the feed has not carried yet."""
    if path is None:
        return ()
    return parse_staff_directory(path.read_text(encoding="utf-8"))
