"""Apply this service's database migrations: `python -m services.mailer.migrate`."""

from services.mailer.config import MailerSettings
from shared.migrations import upgrade


def main() -> None:
    upgrade("mailer", MailerSettings().database_url)


if __name__ == "__main__":
    main()
