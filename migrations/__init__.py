"""Alembic migrations: the one authoritative history of the database schema."""
