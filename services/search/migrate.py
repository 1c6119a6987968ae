"""Apply this service's database migrations: `python -m services.search.migrate`."""

from services.search.config import SearchSettings
from shared.migrations import upgrade


def main() -> None:
    upgrade("search", SearchSettings().database_url)


if __name__ == "__main__":
    main()
