"""The ledger as a service: each call is one transaction, retried when the database asks for it.

PostgreSQL may abort a transaction with a serialization failure (40001) or a deadlock (40P01),
SQLite with "database is locked" after its busy timeout. Both mean "nothing happened, try again",
and since every operation carries an idempotency key, trying again is always safe.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError

from bonusbridge.actors import Actor
from bonusbridge.ledger import fastpath
from bonusbridge.ledger.book import ZERO, LedgerBook
from bonusbridge.ledger.fastpath import FastPath, TakePythonPath
from bonusbridge.ledger.intents import Accrual, Redemption
from bonusbridge.ledger.records import BalanceView, HoldRecord, MovementRecord, TransferRecord
from bonusbridge.ledger.statements import OPEN, holds, lots
from bonusbridge.models import HoldStatus, Origin, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def is_retryable(exc: DBAPIError) -> bool:
    """Serialization failure, deadlock, SQLite's busy lock, or a pooled connection found dead."""
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


class LedgerService:
    """Entry point for everything that changes or reads points outside a larger unit of work."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        hold_ttl: timedelta = timedelta(minutes=15),
        expiring_within: timedelta = timedelta(days=30),
        max_retries: int = 5,
        fast_path: bool = True,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.hold_ttl = hold_ttl
        self.expiring_within = expiring_within
        self.max_retries = max_retries
        self.fast: FastPath | None = FastPath(engine) if fast_path and fastpath.available(engine) else None

    def run(self, work: Callable[[LedgerBook], T]) -> T:
        """Run ``work`` in one transaction, retrying it on serialization failures and deadlocks."""
        for attempt in range(1, self.max_retries + 1):
            try:
                with self.engine.begin() as conn:
                    return work(LedgerBook(conn, now=self.clock(), hold_ttl=self.hold_ttl))
            except DBAPIError as exc:
                if attempt == self.max_retries or not is_retryable(exc):
                    raise
                delay = random.uniform(0, 0.01 * 2**attempt)
                log.info("ledger transaction retried (attempt %d) after %s", attempt, type(exc.orig).__name__)
                time.sleep(delay)
        raise AssertionError("unreachable")

    # --- operations ---------------------------------------------------------------------------

    def accrue(self, card_id: int, amount: Decimal | int | str, **kwargs: Any) -> MovementRecord:
        now = self.clock()
        accrual = Accrual.build(card_id, amount, now=now, **kwargs)
        if accrual.date_problem is None:
            fast = self._try_fast_path(lambda fast: fast.accrue(accrual, now))
            if fast is not None:
                return fast
        return self.run(lambda book: book.apply_accrual(accrual))

    def redeem(self, card_id: int, amount: Decimal | int | str, **kwargs: Any) -> MovementRecord:
        redemption = Redemption.build(card_id, amount, **kwargs)
        now = self.clock()
        fast = self._try_fast_path(lambda fast: fast.redeem(redemption, now))
        return fast or self.run(lambda book: book.apply_redemption(redemption))

    def _try_fast_path(
        self, call: Callable[[FastPath], tuple[int, MovementRecord | None]]
    ) -> MovementRecord | None:
        """The fast path's record, the replayed one it pointed at, or None: take the Python path."""
        if self.fast is None:
            return None
        try:
            operation_id, record = call(self.fast)
        except TakePythonPath:
            return None
        return record or self.run(lambda book: book.replay_movement(operation_id))

    def hold(self, card_id: int, amount: Decimal | int | str, **kwargs: Any) -> HoldRecord:
        return self.run(lambda book: book.hold(card_id, amount, **kwargs))

    def capture(
        self, hold_id: int, amount: Decimal | int | str | None = None, **kwargs: Any
    ) -> MovementRecord:
        return self.run(lambda book: book.capture(hold_id, amount, **kwargs))

    def void(self, hold_id: int, **kwargs: Any) -> HoldRecord:
        return self.run(lambda book: book.void(hold_id, **kwargs))

    def transfer(
        self, from_card_id: int, to_card_id: int, amount: Decimal | int | str | None = None, **kwargs: Any
    ) -> TransferRecord | None:
        return self.run(lambda book: book.transfer(from_card_id, to_card_id, amount, **kwargs))

    def adjust(
        self, card_id: int, amount: Decimal | int | str, *, actor: Actor, **kwargs: Any
    ) -> MovementRecord:
        return self.run(lambda book: book.adjust(card_id, amount, actor=actor, **kwargs))

    def reverse(
        self, movement_id: int, amount: Decimal | int | str | None = None, **kwargs: Any
    ) -> MovementRecord:
        return self.run(lambda book: book.reverse(movement_id, amount, **kwargs))

    def balance(self, card_id: int, *, expiring_within: timedelta | None = None) -> BalanceView:
        horizon = expiring_within or self.expiring_within
        with self.engine.connect() as conn:
            return LedgerBook(conn, now=self.clock()).balance(card_id, expiring_within=horizon)

    # --- time-driven sweeps -------------------------------------------------------------------

    def expire_due(
        self, now: datetime | None = None, *, key: str | None = None, batch: int = 500
    ) -> list[MovementRecord]:
        """Write off every point whose expiry date has passed, one card per transaction.

        The key names the run (default: its cut-off instant); each card's expiry is its own
        operation ``<key>/card/<id>``, so a run killed half-way and started again with the same key
        finishes the job without expiring anything twice.
        """
        as_of = now or self.clock()
        run_key = key or f"expire_due:{as_of.isoformat()}"
        written: list[MovementRecord] = []
        done: set[int] = set()
        while True:
            with self.engine.connect() as conn:
                query = (
                    select(lots.c.card_id)
                    .where(
                        lots.c.remaining > lots.c.held, lots.c.expires_at <= as_of, lots.c.remaining > OPEN
                    )
                    .distinct()
                    .order_by(lots.c.card_id)
                    .limit(batch)
                )
                if done:
                    query = query.where(lots.c.card_id > max(done))
                card_ids = list(conn.execute(query).scalars())
            if not card_ids:
                return written
            for card_id in card_ids:
                done.add(card_id)
                record = self.run(
                    partial(_expire_one, card_id=card_id, key=f"{run_key}/card/{card_id}", as_of=as_of)
                )
                if record is not None and not record.replayed:
                    written.append(record)

    def release_expired_holds(self) -> Decimal:
        """Release every pending hold whose time to live is over (the checkout was abandoned)."""
        now = self.clock()
        with self.engine.connect() as conn:
            card_ids = list(
                conn.execute(
                    select(holds.c.card_id)
                    .where(holds.c.status == HoldStatus.PENDING, holds.c.expires_at <= now)
                    .distinct()
                ).scalars()
            )
        released = ZERO
        for card_id in card_ids:
            released += self.run(partial(_release_one, card_id=card_id))
        return released


def _expire_one(book: LedgerBook, *, card_id: int, key: str, as_of: datetime) -> MovementRecord | None:
    return book.expire_card(card_id, key=key, as_of=as_of)


def _release_one(book: LedgerBook, *, card_id: int) -> Decimal:
    return book.release_expired_holds(card_id)


__all__ = ["LedgerService", "Origin"]
