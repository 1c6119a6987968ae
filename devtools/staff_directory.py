"""The demo users as the identity provider's user export that selection reads as its staff directory
(JPASS_STAFF_DIRECTORY, services/selection/staff.py). `make run` writes it before the services start:

    python -m devtools.staff_directory var/staff-directory.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from devtools.demo import DEMO_USERS

EXPORTED = ("user_id", "name", "role", "dealer_code", "store_code", "staff_code")


def export() -> list[dict[str, str | None]]:
    return [u.model_dump(include=set(EXPORTED)) for u in DEMO_USERS]


def write(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(export(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "var/staff-directory.json"))
