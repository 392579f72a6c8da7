"""``bonusbridge.ledger.async_reads``: the balance awaited on an asyncio connection equals the
ledger's own read, field by field, in every state a card's lots can be in (PostgreSQL: SQLite has
no async driver here)."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from bonusbridge.ledger.async_reads import AsyncBalanceReader
from bonusbridge.models import CardStatus, Origin
from bonusbridge.unit_of_work import UnitOfWork


def test_sqlite_has_no_async_reader_and_callers_fall_back(db: Engine) -> None:
    if db.dialect.name == "postgresql":
        assert AsyncBalanceReader.for_engine(db) is not None
    else:
        assert AsyncBalanceReader.for_engine(db) is None


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
    reader = AsyncBalanceReader.for_engine(db)
    assert reader is not None

    async def read(card_id: int) -> object:
        try:
            return await reader.card_balance(card_id, now=clock(), expiring_within=timedelta(days=30))
        finally:
            await reader.close()

    found = asyncio.run(read(card))
    assert found == (CardStatus.ACTIVE, expected)
    assert expected.available == Decimal("102.00") and expected.pending == Decimal("40.50")
    assert expected.held == Decimal("5.00") and expected.expiring_soon == Decimal(
        "95.00"
    )  # the hold took the soonest-expiring points
    assert asyncio.run(read(card + 10_000)) is None


def test_the_awaited_balance_matches_the_ledger_in_random_states(db, clock, ledger, make_card) -> None:
    """Pending, expiring, expired-not-swept, held, spent and never-touched cards, read both ways at
    several instants: the one-statement read and ``LedgerBook.balances`` agree on every field."""
    if db.dialect.name != "postgresql":
        pytest.skip("asyncio reads run on PostgreSQL only (psycopg's async connection)")
    rng = random.Random(20261203)
    cards = [make_card() for _ in range(12)]
    for n, card in enumerate(cards[:-1]):  # the last card never gets a movement
        for m in range(rng.randint(1, 4)):
            start = clock() + timedelta(days=rng.choice([0, 0, 2, 5]))
            ledger.accrue(
                card,
                Decimal(rng.randint(100, 9999)) / 100,
                key=f"r{n}.{m}",
                origin=Origin.ONEC,
                available_from=start,
                expires_at=rng.choice([None, start + timedelta(days=rng.randint(1, 60))]),
            )
        with UnitOfWork(db, clock=clock) as uow:
            available = uow.ledger.balance(card).available
        if available > 1 and rng.random() < 0.5:
            ledger.hold(card, (available / 3).quantize(Decimal("0.01")), key=f"h{n}", origin=Origin.WEBSITE)
        if available > 1 and rng.random() < 0.5:
            ledger.redeem(card, (available / 4).quantize(Decimal("0.01")), key=f"s{n}", origin=Origin.WEBSITE)
    reader = AsyncBalanceReader.for_engine(db)
    assert reader is not None
    for days in (0, 3, 7, 40, 90):
        at = clock() + timedelta(days=days)
        with UnitOfWork(db, clock=lambda at=at: at) as uow:
            expected = {card: uow.ledger.balance(card, expiring_within=timedelta(days=30)) for card in cards}

        async def read_all(at=at) -> dict[int, object]:
            try:
                return {
                    card: await reader.card_balance(card, now=at, expiring_within=timedelta(days=30))
                    for card in cards
                }
            finally:
                await reader.close()

        found = asyncio.run(read_all())
        for card in cards:
            assert found[card] == (CardStatus.ACTIVE, expected[card]), (days, card)
