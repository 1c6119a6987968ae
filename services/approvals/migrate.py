"""Apply this service's database migrations: `python -m services.approvals.migrate`."""

from services.approvals.config import ApprovalsSettings
from shared.migrations import upgrade


def main() -> None:
    upgrade("approvals", ApprovalsSettings().database_url)


if __name__ == "__main__":
    main()
