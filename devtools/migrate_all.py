"""Bring every service's database to the newest schema (Alembic), as `make run` does before starting.

A service's database is `JPASS_<SERVICE>_DATABASE_URL` (what `make run` hands the Procfile), else its
settings' `database_url`."""

from __future__ import annotations

import importlib
import os
import sys

from devtools.local_postgres import SERVICES, service_url_variable
from shared.migrations import upgrade


def service_database_url(service: str) -> str:
    given = os.environ.get(service_url_variable(service))
    if given:
        return given
    config = importlib.import_module(f"services.{service}.config")
    settings_class = getattr(config, f"{service.capitalize()}Settings")
    return str(settings_class().database_url)


def main() -> int:
    for service in SERVICES:
        try:
            upgrade(service, service_database_url(service))
        except Exception as e:
            print(f"J-PASS: migrating the {service} database failed: {e}", file=sys.stderr)
            print("A database made by an older `make run` can be dropped with `make clean`.", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
