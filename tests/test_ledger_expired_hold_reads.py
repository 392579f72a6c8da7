"""Expired holds read as expired (issue 15, item 6): a hold past its time to live reserves nothing,
whether or not the sweeper has released it yet. Every balance read — ``LedgerBook.balance(s)`` and
the awaited read on PostgreSQL — shows its points where the sweep will put them (available,
expiring soon, or expired with their lot), and a read of the hold says ``expired``. Reading
writes nothing; capturing an expired hold stays refused."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from bonusbridge import errors
from bonusbridge.ledger.async_reads import AsyncBalanceReader
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.records import BalanceView
from bonusbridge.models import CardStatus, HoldStatus, Origin
from tests.test_ledger_rules import snapshot

D = Decimal
WEB = Origin.WEBSITE


@pytest.fixture(autouse=True)
def ledger_stays_consistent(db: Engine) -> Iterator[None]:
    yield
    with db.connect() as conn:
        assert check_ledger(conn) == []


def read(db: Engine, now, card_id: int) -> BalanceView:
    with db.connect() as conn:
        return LedgerBook(conn, now=now).balance(card_id)


def test_an_expired_hold_reads_as_expired_and_its_points_as_available(ledger, make_card, clock, db):
    card = make_card()
    ledger.accrue(card, D("100"), key="a", origin=WEB)
    hold = ledger.hold(card, D("30"), key="h", origin=WEB)
    live = ledger.balance(card)
    assert (live.available, live.held) == (D("70"), D("30"))

    clock.advance(timedelta(minutes=15))  # its time to live is over; no sweeper ran
    before = snapshot(db)
    balance = ledger.balance(card)
    assert (balance.total, balance.available, balance.held) == (D("100"), D("100"), D("0"))
    with db.connect() as conn:
        book = LedgerBook(conn, now=clock.now)
        assert book.read_hold(hold.id).status is HoldStatus.EXPIRED
        assert book.balances([card])[card] == balance
        with pytest.raises(errors.UnknownHold):
            book.read_hold(hold.id + 1000)
    assert snapshot(db) == before  # reads wrote nothing: the hold is still pending in the table

    with pytest.raises(errors.HoldExpired):
        ledger.capture(hold.id, key="late", origin=WEB)
    assert ledger.release_expired_holds() == D("30")
    assert ledger.balance(card) == balance  # the sweep changes nothing a reader sees


def test_a_live_hold_still_reads_as_pending_and_held(ledger, make_card, clock, db):
    card = make_card()
    ledger.accrue(card, D("100"), key="a", origin=WEB)
    hold = ledger.hold(card, D("30"), key="h", origin=WEB)
    clock.advance(timedelta(minutes=14, seconds=59))
    with db.connect() as conn:
        assert LedgerBook(conn, now=clock.now).read_hold(hold.id).status is HoldStatus.PENDING
    assert (ledger.balance(card).available, ledger.balance(card).held) == (D("70"), D("30"))
    ledger.capture(hold.id, D("10"), key="c", origin=WEB)
    clock.advance(timedelta(hours=1))
    with db.connect() as conn:  # resolved holds keep their status however old they are
        assert LedgerBook(conn, now=clock.now).read_hold(hold.id).status is HoldStatus.CAPTURED


def test_points_of_an_expired_hold_follow_their_lots_dates(ledger, make_card, clock, db):
    """The hold took the soonest-expiring lot: once the hold is over, those points are expiring
    soon (and, past the lot's date, expired) like the rest of their lot — not available for ever."""
    card = make_card()
    ledger.accrue(card, D("50"), key="soon", origin=WEB, expires_at=clock.now + timedelta(days=2))
    ledger.accrue(card, D("50"), key="never", origin=WEB)
    ledger.hold(card, D("40"), key="h", origin=WEB, ttl=timedelta(days=1))

    clock.advance(timedelta(days=1, hours=1))  # the hold is over, its lot still valid
    balance = ledger.balance(card)
    assert (balance.available, balance.held, balance.expiring_soon) == (D("100"), D("0"), D("50"))

    clock.advance(timedelta(days=1))  # the lot expired too: all 50 of it, the held part included
    balance = ledger.balance(card)
    assert (balance.available, balance.held, balance.expired_unswept) == (D("50"), D("0"), D("50"))
    assert balance.total == D("100")
    ledger.release_expired_holds()
    assert ledger.balance(card) == balance
    ledger.expire_due(key="nightly")
    assert ledger.balance(card).total == D("50")


def test_a_live_hold_on_an_expired_lot_stays_held(ledger, make_card, clock):
    card = make_card()
    ledger.accrue(card, D("50"), key="soon", origin=WEB, expires_at=clock.now + timedelta(hours=1))
    ledger.hold(card, D("20"), key="h", origin=WEB, ttl=timedelta(days=1))
    clock.advance(timedelta(hours=2))
    balance = ledger.balance(card)
    assert (balance.available, balance.held, balance.expired_unswept) == (D("0"), D("20"), D("30"))


def test_a_read_before_the_sweep_equals_the_read_after_it_in_random_states(ledger, make_card, clock, db):
    """Cards with live, expired, captured and voided holds on lots of every kind, read at several
    instants: every field of every balance is the same before the sweeper runs and after."""
    rng = random.Random(20261208)
    cards = [make_card() for _ in range(8)]
    for n, card in enumerate(cards):
        for m in range(rng.randint(1, 3)):
            ledger.accrue(
                card,
                D(rng.randint(100, 9999)) / 100,
                key=f"a{n}.{m}",
                origin=WEB,
                expires_at=rng.choice([None, clock.now + timedelta(hours=rng.randint(1, 72))]),
                available_from=rng.choice([None, None, clock.now + timedelta(hours=2)]),
            )
        for m in range(rng.randint(0, 3)):
            spendable = ledger.balance(card).available
            if spendable < 1:
                break
            hold = ledger.hold(
                card,
                (spendable / 3).quantize(D("0.01")),
                key=f"h{n}.{m}",
                origin=WEB,
                ttl=timedelta(hours=rng.randint(1, 48)),
            )
            fate = rng.choice(["open", "open", "capture", "void"])
            if fate == "capture":
                ledger.capture(hold.id, key=f"c{n}.{m}", origin=WEB)
            elif fate == "void":
                ledger.void(hold.id, key=f"v{n}.{m}", origin=WEB)
    for step in range(4):
        clock.advance(timedelta(hours=rng.randint(3, 30)))
        with db.connect() as conn:
            unswept = LedgerBook(conn, now=clock.now).balances(cards)
        ledger.release_expired_holds()
        with db.connect() as conn:
            swept = LedgerBook(conn, now=clock.now).balances(cards)
        assert unswept == swept, f"step {step}"
        for view in swept.values():
            assert view.total == view.available + view.pending + view.held + view.expired_unswept


def test_the_awaited_balance_also_frees_an_expired_holds_points(db, clock, ledger, make_card):
    if db.dialect.name != "postgresql":
        pytest.skip("asyncio reads run on PostgreSQL only (psycopg's async connection)")
    card = make_card()
    ledger.accrue(card, D("80"), key="a", origin=WEB, expires_at=clock.now + timedelta(days=10))
    ledger.accrue(card, D("20"), key="b", origin=WEB)
    ledger.hold(card, D("30"), key="h1", origin=WEB)
    ledger.hold(card, D("5"), key="h2", origin=WEB, ttl=timedelta(days=1))
    clock.advance(timedelta(hours=1))
    expected = read(db, clock.now, card)
    assert (expected.available, expected.held, expected.expiring_soon) == (D("95"), D("5"), D("75"))
    reader = AsyncBalanceReader.for_engine(db)
    assert reader is not None

    async def awaited() -> object:
        try:
            return await reader.card_balance(card, now=clock.now, expiring_within=timedelta(days=30))
        finally:
            await reader.close()

    assert asyncio.run(awaited()) == (CardStatus.ACTIVE, expected)
