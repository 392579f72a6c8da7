"""The ledger's balance read awaited on an event loop (the shop API's balance call, on PostgreSQL).

Why not SQLAlchemy's asyncio engine: a balance is one statement, and the engine's greenlet
bridge, its pool's pre-ping and a second query for the card's status cost more than the read
itself. ``AsyncBalanceReader`` runs one prepared statement on psycopg's own asyncio connections,
kept per event loop. The statement is ``book.card_balance_statement``, built from the same columns
as the ledger's ``LedgerBook.balances`` and read into the same ``BalanceView`` with the same
column types, so the two paths cannot drift apart (``tests/test_ledger_async_reads.py``).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.types import TypeDecorator

from bonusbridge.ledger.book import balance_views, card_balance_statement
from bonusbridge.ledger.records import BalanceView
from bonusbridge.models import CardStatus
from bonusbridge.types import UTCDateTime

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
_STATEMENT = card_balance_statement()
_COMPILED = _STATEMENT.compile(dialect=_DIALECT)
_SQL = str(_COMPILED)
#: The statement's literals (the 0 of a COALESCE, ``remaining > 0``) travel as parameters too.
_CONSTANTS = {
    name: value for name, value in _COMPILED.params.items() if name not in ("card", "now", "horizon")
}
_RESULT_TYPES = [column.type for column in _STATEMENT.selected_columns]
_INSTANT = UTCDateTime()


def _loaded(value: Any, column_type: Any) -> Any:
    if isinstance(column_type, TypeDecorator):
        return column_type.process_result_value(value, _DIALECT)
    return value


class _LoopConnections:
    """Idle connections of one event loop, and a bound on how many may be open at once."""

    def __init__(self, size: int) -> None:
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.slots = asyncio.Semaphore(size)


class AsyncBalanceReader:
    """Card balances awaited on psycopg asyncio connections (autocommit: a read needs no BEGIN).

    Connections are opened on first need, at most ``size`` per event loop, and reused; one that
    failed is closed, never put back, so a restarted server costs one failed read, not many."""

    def __init__(self, conninfo: str, *, size: int = 10) -> None:
        self._conninfo = conninfo
        self._size = size
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnections] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def for_engine(cls, engine: Engine) -> AsyncBalanceReader | None:
        """A reader on the engine's PostgreSQL database; None on SQLite (no asyncio driver here:
        callers read with the sync engine in a worker thread)."""
        if engine.dialect.name != "postgresql":
            return None
        url = engine.url.set(drivername="postgresql")
        size = getattr(engine.pool, "size", lambda: 10)()
        return cls(url.render_as_string(hide_password=False), size=max(int(size), 1))

    async def card_balance(
        self, card_id: int, *, now: datetime, expiring_within: timedelta
    ) -> tuple[CardStatus, BalanceView] | None:
        """The card's status and balance now, or None when the ledger does not know the card."""
        horizon = now + expiring_within
        params = {
            **_CONSTANTS,
            "card": card_id,
            "now": _INSTANT.process_bind_param(now, _DIALECT),
            "horizon": _INSTANT.process_bind_param(horizon, _DIALECT),
        }
        row = await self._fetch_one(params)
        if row is None or row[1] is None:
            return None
        status, *rest = (_loaded(value, kind) for value, kind in zip(row, _RESULT_TYPES, strict=True))
        view = balance_views([rest], now=now, horizon=horizon)[rest[0]]
        # ``rest[0]`` is the account card holding the points (``ledger.accounts``); name the card asked for.
        return CardStatus(status), replace(view, card_id=card_id)

    async def _fetch_one(self, params: dict[str, Any]) -> tuple[Any, ...] | None:
        loop = asyncio.get_running_loop()
        connections = self._loops.get(loop)
        if connections is None:
            connections = self._loops[loop] = _LoopConnections(self._size)
        async with connections.slots:
            conn = connections.idle.pop() if connections.idle else None
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            try:
                cursor = await conn.execute(_SQL, params, prepare=True)
                row = await cursor.fetchone()
            except BaseException:
                await conn.close()
                raise
            connections.idle.append(conn)
            return row

    async def close(self) -> None:
        """Close this event loop's idle connections (tests; servers simply exit)."""
        connections = self._loops.pop(asyncio.get_running_loop(), None)
        for conn in connections.idle if connections else []:
            await conn.close()
