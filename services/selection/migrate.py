"""Apply this service's database migrations: `python -m services.selection.migrate`."""

from services.selection.config import SelectionSettings
from shared.migrations import upgrade


def main() -> None:
    upgrade("selection", SelectionSettings().database_url)


if __name__ == "__main__":
    main()
