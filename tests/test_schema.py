"""The migrations are the schema: they build it, and they match the models exactly."""

from __future__ import annotations

from bonusbridge.schema import pending_changes, upgrade


def test_models_and_migrations_do_not_drift(engine):
    assert pending_changes(engine) == []


def test_upgrade_is_idempotent(engine):
    upgrade(engine)
    assert pending_changes(engine) == []


def test_constraints_back_up_the_ledger(db):
    """Even a bug that bypassed the ledger service could not store a negative balance."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO programs (code, name, is_legacy, created_at) VALUES ('p', 'P', false, '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO cards (program_id, number, status, is_primary, created_at, updated_at) "
            "VALUES (1, '1', 'active', false, '2026-01-01', '2026-01-01')"
        )
        conn.exec_driver_sql("INSERT INTO card_balances (card_id, total, held) VALUES (1, -1, 0)")
