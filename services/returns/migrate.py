"""Apply this service's database migrations: `python -m services.returns.migrate`."""

from services.returns.config import ReturnsSettings
from shared.migrations import upgrade


def main() -> None:
    upgrade("returns", ReturnsSettings().database_url)


if __name__ == "__main__":
    main()
