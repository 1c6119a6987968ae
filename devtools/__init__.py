"""Local/dev-only companions of the system: demo IdP, SMTP mail catcher, TFC console, demo data."""
