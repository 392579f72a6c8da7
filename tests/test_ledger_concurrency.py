"""The ledger under real concurrent transactions.

On PostgreSQL (CI's second pass) these are truly parallel transactions on separate connections;
on SQLite they prove that ``BEGIN IMMEDIATE`` serializes writers without a lost update.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from bonusbridge import errors
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.ledger.statements import movements
from bonusbridge.models import Origin

WEB = Origin.WEBSITE


def race(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released at the same instant; return results or errors."""
    barrier = threading.Barrier(count)

    def runner(index: int) -> Any:
        barrier.wait()
        try:
            return work(index)
        except errors.LedgerError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(runner, range(count)))


def test_fifty_concurrent_redemptions_of_ten_from_two_hundred(ledger, make_card, db):
    card = make_card()
    ledger.accrue(card, Decimal("200"), key="seed", origin=WEB)
    results = race(50, lambda i: ledger.redeem(card, Decimal("10"), key=f"redeem-{i}", origin=WEB))
    outcomes = Counter(type(result).__name__ for result in results)
    assert outcomes == {"MovementRecord": 20, "InsufficientBalance": 30}
    assert ledger.balance(card).available == Decimal("0")
    with db.connect() as conn:
        assert check_ledger(conn) == []


def test_one_key_sent_by_many_clients_at_once_is_applied_once(ledger, make_card, db):
    card = make_card()
    results = race(20, lambda i: ledger.accrue(card, Decimal("7"), key="receipt-42", origin=Origin.ONEC))
    assert len({result.id for result in results}) == 1
    assert sum(1 for result in results if not result.replayed) == 1
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(movements)).scalar_one() == 1
    assert ledger.balance(card).total == Decimal("7")


def test_crossing_transfers_do_not_deadlock_or_lose_points(ledger, make_card, db):
    left, right = make_card(), make_card()
    ledger.accrue(left, Decimal("100"), key="l", origin=WEB)
    ledger.accrue(right, Decimal("100"), key="r", origin=WEB)

    def shuffle(index: int) -> Any:
        source, target = (left, right) if index % 2 else (right, left)
        return ledger.transfer(source, target, Decimal("3"), key=f"t-{index}", origin=WEB)

    results = race(30, shuffle)
    assert all(not isinstance(result, Exception) for result in results)
    assert ledger.balance(left).total + ledger.balance(right).total == Decimal("200")
    with db.connect() as conn:
        assert check_ledger(conn) == []


def test_concurrent_holds_never_reserve_more_than_the_balance(ledger, make_card, db):
    card = make_card()
    ledger.accrue(card, Decimal("100"), key="seed", origin=WEB)
    results = race(12, lambda i: ledger.hold(card, Decimal("15"), key=f"hold-{i}", origin=WEB))
    held = [result for result in results if not isinstance(result, Exception)]
    assert len(held) == 6
    assert all(isinstance(result, errors.InsufficientBalance) for result in results if result not in held)
    captured = race(len(held), lambda i: ledger.capture(held[i].id, key=f"cap-{i}", origin=WEB))
    assert all(not isinstance(result, Exception) for result in captured)
    balance = ledger.balance(card)
    assert (balance.total, balance.held) == (Decimal("10"), Decimal("0"))


def test_a_connection_killed_by_the_server_is_retried(ledger, make_card, db):
    import pytest
    from sqlalchemy import text

    if db.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL can terminate a pooled connection from the server side")
    card = make_card()
    ledger.accrue(card, Decimal("5"), key="warm-up", origin=WEB)  # leaves a connection in the pool
    with db.connect() as admin:
        admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        admin.commit()
    assert ledger.accrue(card, Decimal("5"), key="after-kill", origin=WEB).amount == Decimal("5")
    assert ledger.balance(card).total == Decimal("10")
