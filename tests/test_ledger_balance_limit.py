"""The most a card may hold (issue 15, item 5): every path that credits a card refuses, with
``BalanceLimitExceeded``, a credit that would take its total above ``MAX_BALANCE`` — on SQLite
and on PostgreSQL, through the fast path and the Python path — instead of overflowing the
NUMERIC(15,2) column (a 500 through the API). A refusal writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.ledger import fastpath
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.ledger.book import LedgerBook, LotPart
from bonusbridge.ledger.fastpath import TakePythonPath
from bonusbridge.ledger.intents import MAX_AMOUNT, MAX_BALANCE, Accrual
from bonusbridge.ledger.statements import lots
from bonusbridge.models import CardStatus, Origin
from bonusbridge.unit_of_work import UnitOfWork
from tests.test_ledger_rules import snapshot

D = Decimal
WEB = Origin.WEBSITE
STAFF = Actor("ivanova", frozenset({Permission.ADJUST}))
CENT = D("0.01")


@pytest.fixture(autouse=True)
def ledger_stays_consistent(db: Engine) -> Iterator[None]:
    yield
    with db.connect() as conn:
        assert check_ledger(conn) == []


def test_the_maximum_is_the_columns_and_a_card_may_reach_it_exactly(ledger, make_card):
    assert MAX_BALANCE == MAX_AMOUNT == D("9999999999999.99")
    card = make_card()
    ledger.accrue(card, MAX_BALANCE - 1, key="almost", origin=WEB)
    ledger.accrue(card, D("1"), key="exactly", origin=WEB)
    balance = ledger.balance(card)
    assert (balance.total, balance.available) == (MAX_BALANCE, MAX_BALANCE)


def test_an_accrual_above_the_maximum_is_refused_and_writes_nothing(ledger, make_card, db):
    card = make_card()
    ledger.accrue(card, MAX_BALANCE, key="full", origin=WEB)
    before = snapshot(db)
    with pytest.raises(errors.BalanceLimitExceeded) as refused:
        ledger.accrue(card, CENT, key="one-cent-more", origin=WEB)
    assert (refused.value.card_id, refused.value.amount, refused.value.total) == (card, CENT, MAX_BALANCE)
    assert refused.value.code == "balance_limit_exceeded"
    assert snapshot(db) == before
    ledger.redeem(card, D("1.00"), key="spend", origin=WEB)
    ledger.accrue(card, D("1.00"), key="one-cent-more", origin=WEB)  # the refused key is free again
    assert ledger.balance(card).total == MAX_BALANCE


def test_a_blocked_full_card_is_refused_as_blocked(ledger, make_card, db, clock):
    card = make_card()
    ledger.accrue(card, MAX_BALANCE, key="full", origin=WEB)
    with UnitOfWork(db, clock=clock) as uow:
        uow.cards.get(card).status = CardStatus.BLOCKED  # type: ignore[union-attr]
        uow.commit()
    with pytest.raises(errors.CardBlocked):
        ledger.accrue(card, CENT, key="more", origin=WEB)


def test_a_positive_adjustment_above_the_maximum_is_refused(ledger, make_card, db):
    card = make_card()
    ledger.accrue(card, MAX_BALANCE - 5, key="nearly", origin=WEB)
    before = snapshot(db)
    with pytest.raises(errors.BalanceLimitExceeded):
        ledger.adjust(card, D("5.01"), key="adj", origin=WEB, actor=STAFF, reason="goodwill")
    assert snapshot(db) == before
    ledger.adjust(card, D("5.00"), key="adj", origin=WEB, actor=STAFF, reason="goodwill")
    assert ledger.balance(card).total == MAX_BALANCE


def test_reversing_a_redemption_onto_a_full_card_is_refused(ledger, make_card, db):
    card = make_card()
    ledger.accrue(card, D("100"), key="a", origin=WEB)
    spent = ledger.redeem(card, D("60"), key="r", origin=WEB)
    ledger.accrue(card, MAX_BALANCE - 40, key="fill", origin=WEB)
    before = snapshot(db)
    with pytest.raises(errors.BalanceLimitExceeded):
        ledger.reverse(spent.id, key="refund", origin=WEB)
    with pytest.raises(errors.BalanceLimitExceeded):
        ledger.reverse(spent.id, CENT, key="refund-part", origin=WEB)
    assert snapshot(db) == before
    ledger.redeem(card, D("60"), key="r2", origin=WEB)
    ledger.reverse(spent.id, key="refund", origin=WEB)  # room again: the whole reversal fits
    assert ledger.balance(card).total == MAX_BALANCE


def test_reversing_onto_the_card_that_holds_the_points_now_checks_that_card(ledger, make_card, db):
    """A refund after a merge reverses on the card merged into (``on_card``): the maximum is that
    card's, not the emptied original's."""
    merged_away, holder = make_card(), make_card()
    ledger.accrue(merged_away, D("100"), key="a", origin=WEB)
    spent = ledger.redeem(merged_away, D("60"), key="r", origin=WEB)
    ledger.accrue(holder, MAX_BALANCE - 40, key="fill", origin=WEB)
    before = snapshot(db)
    with pytest.raises(errors.BalanceLimitExceeded) as refused:
        ledger.reverse(spent.id, key="refund", origin=WEB, on_card=holder)
    assert refused.value.card_id == holder
    assert snapshot(db) == before
    ledger.reverse(spent.id, D("40"), key="refund-fits", origin=WEB, on_card=holder)
    assert ledger.balance(holder).total == MAX_BALANCE


def test_a_transfer_into_a_full_card_is_refused(ledger, make_card, db, clock):
    source, target = make_card(), make_card()
    ledger.accrue(source, D("10"), key="src", origin=WEB)
    ledger.accrue(target, MAX_BALANCE - D("9.99"), key="dst", origin=WEB)
    before = snapshot(db)
    with pytest.raises(errors.BalanceLimitExceeded):
        ledger.transfer(source, target, D("10"), key="t1", origin=WEB)
    with pytest.raises(errors.BalanceLimitExceeded):
        ledger.transfer(source, target, key="t-all", origin=WEB)  # everything that can move
    with UnitOfWork(db, clock=clock) as uow:
        lot = uow.session.execute(select(lots).where(lots.c.card_id == source)).one()
        part = LotPart(lot.id, D("10"), lot.available_from, lot.expires_at)
        with pytest.raises(errors.BalanceLimitExceeded):
            uow.ledger.transfer_lots(source, target, [part], key="t-lots", origin=WEB, actor="s", reason="r")
    assert snapshot(db) == before
    moved = ledger.transfer(source, target, D("9.99"), key="t1", origin=WEB)
    assert moved is not None and ledger.balance(target).total == MAX_BALANCE


def test_the_fast_path_declines_a_credit_above_the_maximum(db, make_card, clock):
    """``bb_accrue`` says "take the Python path" (BB100), rather than fail on the column's numeric
    overflow (22003); both ways the statement wrote nothing."""
    if db.dialect.name != "postgresql":
        pytest.skip("the ledger's SQL functions exist on PostgreSQL only")
    card = make_card()
    with db.begin() as conn:
        LedgerBook(conn, now=clock.now).accrue(card, MAX_BALANCE, key="full", origin=WEB)
    before = snapshot(db)
    accrual = Accrual.build(card, CENT, key="more", origin=WEB, now=clock.now)
    with db.connect() as conn:
        with pytest.raises(DBAPIError) as declined:
            conn.exec_driver_sql(fastpath.ACCRUE_SQL, fastpath.accrue_params(accrual, clock.now))
        assert getattr(declined.value.orig, "sqlstate", None) == fastpath.PYTHON_PATH
        conn.rollback()
    with db.connect() as conn, conn.begin():
        with pytest.raises(TakePythonPath):
            LedgerBook(conn, now=clock.now, in_sql=True).apply_accrual(accrual)
        conn.rollback()
    with db.connect() as conn, conn.begin():
        with pytest.raises(errors.BalanceLimitExceeded):
            LedgerBook(conn, now=clock.now).apply_accrual(accrual)
        conn.rollback()  # as ``LedgerService.run`` does on any refusal
    assert snapshot(db) == before


def test_holds_and_pending_points_count_toward_the_maximum(ledger, make_card, clock):
    """The maximum bounds the card's total, whatever part of it is held or not yet spendable."""
    card = make_card()
    ledger.accrue(card, MAX_BALANCE - 100, key="a", origin=WEB)
    ledger.accrue(card, D("100"), key="p", origin=WEB, available_from=clock.now + timedelta(days=3))
    ledger.hold(card, D("50"), key="h", origin=WEB)
    with pytest.raises(errors.BalanceLimitExceeded):
        ledger.accrue(card, CENT, key="more", origin=WEB)
