"""E-mail: the outbox's messages rendered from Jinja2 templates per language and sent at most once."""
