"""Engines and sessions, with the per-database settings that make SQLite and PostgreSQL behave alike.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE``: it takes the database write
lock up front, so two ledger operations are serialized instead of both reading a balance and then
one failing (or worse, both succeeding) at commit. PostgreSQL runs READ COMMITTED and the ledger
locks the card's balance row explicitly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, create_engine, event, literal_column
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_db_engine(
    url: str, *, echo: bool = False, pool_size: int = 10, ping: Literal["always", "when_idle"] = "always"
) -> Engine:
    """Create an engine for ``url`` configured for BonusBridge's concurrency model.

    ``ping``: "always" pings every pooled connection before handing it out (a round trip per
    checkout; after a restart no caller ever sees a dead connection); "when_idle" only those idle
    for a while (``_ping_when_idle``), for a process whose every call may fail and be redone."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=ping == "always",
        pool_recycle=3600,
        isolation_level="READ COMMITTED",
    )
    if ping == "when_idle":
        _ping_when_idle(engine)
    return engine


#: A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Pre-ping, but only for connections that sat idle in the pool for a while.

    SQLAlchemy's ``pool_pre_ping`` costs one round trip per checkout: for a sync worker that takes a
    connection a dozen times per batch, that was a tenth of its time. A connection that a database
    restart killed has usually been idle as long as the restart took, so pinging those keeps most
    of what pre-ping is for. A connection handed back moments ago is used as is; if it died in
    those moments (a backend terminated by an administrator), its statement fails once, SQLAlchemy
    refreshes the whole pool, and the caller's retry (the sync's sweeps and republishing) redoes it.
    Raising ``DisconnectionError`` in ``checkout`` makes the pool discard it and take a fresh one."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get(_RETURNED_AT, 0.0) <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"stale pooled connection ({type(exc).__name__})") from exc
        if not alive:
            raise DisconnectionError("stale pooled connection")


_RETURNED_AT = "bonusbridge.returned_at"


def create_read_engine(engine: Engine) -> Engine:
    """An engine for one-statement reads that are safe to repeat (the shop API's quotes and
    look-ups): autocommit, and no pre-ping — its round trip was a third of a quote's. A caller
    repeats a read once when its connection turns out dead (``DBAPIError.connection_invalidated``:
    SQLAlchemy then refreshes the pool), which pre-ping did for it. SQLite: the engine itself."""
    if engine.dialect.name != "postgresql":
        return engine
    return create_engine(
        engine.url,
        echo=engine.echo,
        pool_size=engine.pool.size(),  # type: ignore[attr-defined]
        max_overflow=engine.pool.size(),  # type: ignore[attr-defined]
        pool_pre_ping=False,
        pool_recycle=3600,
        isolation_level="AUTOCOMMIT",
    )


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"echo": echo, "connect_args": {"check_same_thread": False, "timeout": 30}}
    if not in_memory:
        # One connection per checkout: SQLite connections are cheap and the file lock serializes.
        kwargs["poolclass"] = NullPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def sql_constant(value: str | int) -> ColumnElement[Any]:
    """``value`` written into the statement's text rather than sent as a parameter.

    A partial index (``WHERE state = 'pending'``, ``WHERE remaining > 0``) serves a query only when
    the planner sees that constant. Sent as a parameter, it is invisible to the generic plan that
    PostgreSQL settles on for a prepared statement (psycopg prepares any statement a connection
    runs five times): the plan then scans the table, more slowly as the table grows — the sync's
    queries over a growing inbox became the largest cost of a one-minute benchmark. Trusted
    constants of the code only, never input."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"not a SQL constant: {value!r}")
    return literal_column(str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'")
