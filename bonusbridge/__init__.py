"""The hub: settings, database, domain model (customers, cards, ledger), unit of work, Celery app, CLI."""

__version__ = "0.1.0"
