"""The PostgreSQL fast path handles the common case itself and hands everything else to Python."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from bonusbridge import errors
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import CardStatus, Origin

WEB = Origin.WEBSITE


@pytest.fixture
def services(db, clock):
    if db.dialect.name != "postgresql":
        pytest.skip("the fast path exists on PostgreSQL only")
    fast = LedgerService(db, clock=clock)
    python = LedgerService(db, clock=clock, fast_path=False)
    assert fast.fast is not None and python.fast is None
    return fast, python


def test_success_path_runs_without_the_python_path(services, make_card, monkeypatch, clock):
    fast, _ = services
    card = make_card()

    def forbidden(*args, **kwargs):
        raise AssertionError("the Python path ran")

    monkeypatch.setattr(fast, "run", forbidden)
    earned = fast.accrue(
        card, Decimal("12.34"), key="a", origin=WEB, expires_at=clock.now + timedelta(days=9)
    )
    spent = fast.redeem(card, Decimal("2.34"), key="r", origin=WEB, document="order-1")
    assert (earned.amount, spent.amount, spent.document) == (Decimal("12.34"), Decimal("-2.34"), "order-1")


def test_both_paths_write_the_same_records_and_replay_each_other(services, make_card, clock):
    fast, python = services
    card = make_card()
    expiry = clock.now + timedelta(days=30)
    by_fast = fast.accrue(card, Decimal("10"), key="k1", origin=WEB, document="d", expires_at=expiry)
    by_python = python.accrue(card, Decimal("10"), key="k2", origin=WEB, document="d", expires_at=expiry)
    assert {**vars(by_fast), "id": 0, "external_id": ""} == {**vars(by_python), "id": 0, "external_id": ""}
    assert (
        python.accrue(card, Decimal("10"), key="k1", origin=WEB, document="d", expires_at=expiry) == by_fast
    )
    replay = fast.accrue(card, Decimal("10"), key="k2", origin=WEB, document="d", expires_at=expiry)
    assert replay == by_python and replay.replayed
    with pytest.raises(errors.IdempotencyConflict):
        fast.accrue(card, Decimal("11"), key="k1", origin=WEB, document="d", expires_at=expiry)
    spent = fast.redeem(card, Decimal("3"), key="r1", origin=WEB)
    assert python.redeem(card, Decimal("3"), key="r1", origin=WEB) == spent


@pytest.mark.parametrize(
    ("status", "error"),
    [(CardStatus.BLOCKED, errors.CardBlocked), (CardStatus.ACCUMULATION_ONLY, errors.AccumulationOnly)],
)
def test_refusals_come_from_the_python_path(services, make_card, status, error):
    fast, _ = services
    card = make_card(status=status)
    with pytest.raises(error):
        fast.redeem(card, Decimal("1"), key="r", origin=WEB)
    with pytest.raises(errors.UnknownCard):
        fast.accrue(10**6, Decimal("1"), key="x", origin=WEB)


def test_pending_points_and_stale_holds_are_left_to_python(services, make_card, clock):
    fast, _ = services
    card = make_card()
    fast.accrue(card, Decimal("10"), key="p", origin=WEB, available_from=clock.now + timedelta(days=1))
    with pytest.raises(errors.InsufficientBalance):
        fast.redeem(card, Decimal("1"), key="r1", origin=WEB)
    fast.accrue(card, Decimal("10"), key="a", origin=WEB)
    fast.hold(card, Decimal("10"), key="h", origin=WEB)
    clock.advance(timedelta(hours=1))
    assert fast.redeem(card, Decimal("10"), key="r2", origin=WEB).amount == Decimal("-10")
