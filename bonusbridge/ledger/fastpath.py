"""PostgreSQL fast path for accruals and redemptions: one function call, one round trip.

The benchmark (bench/ledger.py) showed where a ledger operation's time goes on a 2-core machine:
the same SQL driven from a C client reached ~0.7 of pgbench's rate, but from Python, each extra
statement and the BEGIN/COMMIT round trips cost more client CPU than the database spends. So the
two hot operations run as ``bb_accrue``/``bb_redeem`` (migration 0002) in autocommit, called
straight on the pooled psycopg connection.

Only the success path lives in SQL. Whatever the function does not handle raises SQLSTATE BB100
and the statement is rolled back; the caller then runs the operation through ``LedgerBook``,
which decides every refusal. That includes an accrual that would take a card above
``intents.MAX_BALANCE`` (migration 0013): ``bb_accrue`` declines it rather than overflow the
NUMERIC(15,2) column, and the Python path refuses it with ``BalanceLimitExceeded``. A replay is
answered by the function; its record is read back by the Python path, exactly as for any replay.
"""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from bonusbridge import errors
from bonusbridge.ledger.intents import Accrual, Redemption
from bonusbridge.ledger.records import MovementRecord

log = logging.getLogger(__name__)

PYTHON_PATH = "BB100"
KEY_CONFLICT = "BB409"

ACCRUE_SQL = "SELECT operation_id, movement_id, replayed FROM bb_accrue(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
REDEEM_SQL = "SELECT operation_id, movement_id, replayed FROM bb_redeem(%s,%s,%s,%s,%s,%s,%s,%s,%s)"


class TakePythonPath(Exception):
    """The fast path declined; run the operation through ``LedgerBook``."""


_installed: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()
_pools: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def available(engine: Engine) -> bool:
    """Whether the database has the fast-path functions (PostgreSQL at migration 0002 or later)."""
    if engine.dialect.name != "postgresql":
        return False
    with _lock:
        if engine not in _installed:
            with engine.connect() as conn:
                found = conn.execute(
                    text("SELECT count(*) FROM pg_proc WHERE proname IN ('bb_accrue', 'bb_redeem')")
                ).scalar_one()
            _installed[engine] = found == 2
        return _installed[engine]


def _autocommit_pool(engine: Engine) -> Engine:
    """One autocommit engine per application engine, without pre-ping: a connection found dead is
    invalidated and that one call goes to the Python path, whose engine pings. Half the main pool's
    size, so both together stay within the server's connection limit."""
    with _lock:
        pool = _pools.get(engine)
        if pool is None:
            size = max(2, engine.pool.size() // 2)  # type: ignore[attr-defined]
            pool = create_engine(
                engine.url, isolation_level="AUTOCOMMIT", pool_size=size, max_overflow=0, pool_recycle=3600
            )
            _pools[engine] = pool
        return pool


def accrue_params(accrual: Accrual, now: datetime) -> tuple[Any, ...]:
    return (
        accrual.origin.value,
        accrual.key,
        accrual.fingerprint,
        accrual.actor,
        accrual.card_id,
        accrual.points,
        accrual.document,
        accrual.reason,
        accrual.occurred,
        accrual.spendable_from,
        accrual.expires_at,
        now,
    )


def redeem_params(redemption: Redemption, now: datetime) -> tuple[Any, ...]:
    return (
        redemption.origin.value,
        redemption.key,
        redemption.fingerprint,
        redemption.actor,
        redemption.card_id,
        redemption.points,
        redemption.document,
        redemption.reason,
        now,
    )


def decline(exc: Exception, key: str) -> Exception:
    """What a failed fast-path call means to its caller: ``IdempotencyConflict`` for a key reused
    with other arguments, ``TakePythonPath`` for anything else (the statement was atomic: nothing
    happened, or all of it did and the Python path replays it)."""
    diag = getattr(exc, "diag", None) or getattr(getattr(exc, "orig", None), "diag", None)
    sqlstate = getattr(diag, "sqlstate", None)
    if sqlstate == KEY_CONFLICT:
        return errors.IdempotencyConflict(key, getattr(diag, "message_detail", None) or "other")
    if sqlstate != PYTHON_PATH:
        log.info("ledger fast path declined after %s", type(exc).__name__)
    return TakePythonPath()


def call_in_transaction(conn: Connection, statement: str, params: tuple[Any, ...], key: str) -> Any:
    """One fast-path call inside the caller's open transaction (a batch of many operations, one
    commit). When it declines, the transaction is aborted: the caller rolls it back and does the
    batch again through ``LedgerBook``'s Python path."""
    try:
        return conn.exec_driver_sql(statement, params).one()
    except DBAPIError as exc:
        raise decline(exc, key) from None


class AccrualPipeline:
    """Accruals of one transaction sent together: a batch of till receipts is many ``bb_accrue``
    calls whose answers nobody reads before the commit, so they go as one pipelined
    ``executemany`` (psycopg sends them without waiting for each answer) instead of one round
    trip each. The calls run in the order they were added, like the same calls made one by one.

    Whoever adds to it must ``flush`` before anything else in the transaction that reads or
    writes the ledger (a redemption, a reversal, a read of a card's movements), and before the
    commit. A failed flush raises ``TakePythonPath``: the transaction is aborted and the caller
    does the work again one operation at a time, which decides every refusal."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._params: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self._params)

    def add(self, accrual: Accrual) -> None:
        self._params.append(accrue_params(accrual, self.now))

    def flush(self, conn: Connection) -> None:
        params, self._params = self._params, []
        if not params:
            return
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            with driver.cursor() as cursor:
                cursor.executemany(ACCRUE_SQL, params)
        except Exception:
            # Even a key reused with other arguments: the one-by-one path names the right key.
            raise TakePythonPath() from None


class FastPath:
    """Calls the fast-path functions on an autocommit connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = _autocommit_pool(engine)

    def accrue(self, accrual: Accrual, now: datetime) -> tuple[int, MovementRecord | None]:
        """Returns ``(operation_id, record)``; ``record`` is None for a replay (read it back)."""
        operation_id, movement_id, replayed = self._call(ACCRUE_SQL, accrue_params(accrual, now), accrual.key)
        return operation_id, None if replayed else accrual.record(movement_id)

    def redeem(self, redemption: Redemption, now: datetime) -> tuple[int, MovementRecord | None]:
        operation_id, movement_id, replayed = self._call(
            REDEEM_SQL, redeem_params(redemption, now), redemption.key
        )
        return operation_id, None if replayed else redemption.record(movement_id, now)

    def _call(self, statement: str, params: tuple[Any, ...], key: str) -> Any:
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            try:
                with driver.cursor() as cursor:
                    cursor.execute(statement, params)
                    return cursor.fetchone()
            except Exception as exc:
                # A dropped connection, a deadlock: the statement was atomic, so nothing happened or
                # all of it did; the Python path, with its retries and its replay of a key that did
                # land, sorts it out. After a server restart every pooled connection is dead.
                if getattr(driver, "closed", False) or getattr(driver, "broken", False):
                    conn.invalidate()
                    self.engine.pool.dispose()
                raise decline(exc, key) from None
