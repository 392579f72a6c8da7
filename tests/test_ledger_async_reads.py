"""``bonusbridge.ledger.async_reads``: the balance awaited on an asyncio connection equals the
ledger's own read, field by field (PostgreSQL: SQLite has no async driver here)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from bonusbridge.db import create_async_read_engine
from bonusbridge.ledger.async_reads import card_balance
from bonusbridge.models import CardStatus, Origin
from bonusbridge.unit_of_work import UnitOfWork


def test_sqlite_has_no_async_engine_and_callers_fall_back(db: Engine) -> None:
    if db.dialect.name == "postgresql":
        assert create_async_read_engine(db) is not None
    else:
        assert create_async_read_engine(db) is None


def test_the_awaited_balance_is_the_ledgers_balance(db, clock, ledger, make_card) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("asyncio reads run on PostgreSQL only (psycopg's async connection)")
    card = make_card()
    ledger.accrue(
        card, Decimal("100.00"), key="a1", origin=Origin.ONEC, expires_at=clock() + timedelta(days=10)
    )
    ledger.accrue(
        card, Decimal("40.50"), key="a2", origin=Origin.WEBSITE, available_from=clock() + timedelta(days=3)
    )
    ledger.accrue(card, Decimal("7.00"), key="a3", origin=Origin.ONEC)
    ledger.hold(card, Decimal("5.00"), key="h1", origin=Origin.WEBSITE)
    with UnitOfWork(db, clock=clock) as uow:
        expected = uow.ledger.balance(card, expiring_within=timedelta(days=30))
    engine = create_async_read_engine(db)
    assert engine is not None

    async def read(card_id: int) -> object:
        try:
            async with engine.connect() as conn:
                return await card_balance(conn, card_id, now=clock(), expiring_within=timedelta(days=30))
        finally:
            await engine.dispose()

    found = asyncio.run(read(card))
    assert found == (CardStatus.ACTIVE, expected)
    assert expected.available == Decimal("102.00") and expected.pending == Decimal("40.50")
    assert expected.held == Decimal("5.00") and expected.expiring_soon == Decimal(
        "95.00"
    )  # the hold took the soonest-expiring points
    assert asyncio.run(read(card + 10_000)) is None
