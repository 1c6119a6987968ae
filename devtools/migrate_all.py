"""Bring every service's database to the newest schema (Alembic), as `make run` does before starting."""

from __future__ import annotations

import importlib
import sys

from shared.migrations import upgrade

SERVICES = ("search", "selection", "returns", "approvals", "mailer")


def main() -> int:
    for service in SERVICES:
        config = importlib.import_module(f"services.{service}.config")
        settings_class = getattr(config, f"{service.capitalize()}Settings")
        try:
            upgrade(service, settings_class().database_url)
        except Exception as e:
            print(f"J-PASS: migrating the {service} database failed: {e}", file=sys.stderr)
            print("A database made by an older `make run` can be dropped with `make clean`.", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
