"""Order per key with many workers: the outbox and the inbox are split into ``SYNC_SLOTS`` slots by
the key whose changes must apply in order (a card, a customer), and one worker at a time drains a
slot, oldest row first.

Why this rather than one broker queue per key: the order lives in the database, next to the rows,
so nothing the broker does can break it. A duplicated, lost or reordered broker message is only a
hint ("slot 17 has work"); whoever holds the slot always takes the oldest pending row of each key.
A row that must wait (its retry is not due, 1C is down) blocks the later rows of *its key only*;
other keys in the slot go on. Workers take different slots, so throughput grows with workers.

The slot lock is a PostgreSQL session advisory lock on a connection of its own (held across the
drain's many short transactions, released on disconnect if the worker dies), or a process-local
lock on SQLite, where the embedded default runs everything in one process anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine, Integer, Row, Select, Table, and_, column, func, or_, select
from sqlalchemy.dialects.postgresql import array

from bonusbridge.db import sql_constant
from bonusbridge.models import InboxMessage, OutboxMessage, SyncState

OUTBOX = cast(Table, OutboxMessage.__table__)
INBOX = cast(Table, InboxMessage.__table__)
#: ``state = 'pending'`` as the partial indexes of both tables are written (``sql_constant``).
PENDING = sql_constant(SyncState.PENDING.value)
#: Advisory-lock namespaces (the first int4 of the two-key form), one per table.
_NAMESPACE = {"sync_outbox": 0x4242_0001, "sync_inbox": 0x4242_0002}
_local_locks: dict[tuple[str, int], threading.Lock] = {}
_local_guard = threading.Lock()


@contextmanager
def slot_locks(engine: Engine, table: Table, slots: Iterable[int]) -> Iterator[list[int]]:
    """Try to take each of ``slots``; yields those this caller got (never waits), and releases them
    on exit. One connection and two statements however many slots: a worker's kick names several."""
    wanted = sorted(set(slots))
    if engine.dialect.name == "postgresql":
        namespace = _NAMESPACE[table.name]
        listed = _as_rows(wanted)
        # Autocommit: a session lock needs no transaction, and none is left open while it is held.
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = [
                int(s)
                for s in conn.scalars(
                    select(listed.c.slot).where(func.pg_try_advisory_lock(namespace, listed.c.slot))
                )
            ]
            try:
                yield sorted(got)
            finally:
                if got:
                    held = _as_rows(got)
                    conn.execute(select(func.pg_advisory_unlock(namespace, held.c.slot)))
        finally:
            conn.close()
        return
    got = []
    try:
        for slot_no in wanted:
            with _local_guard:
                lock = _local_locks.setdefault((table.name, slot_no), threading.Lock())
            if lock.acquire(blocking=False):
                got.append(slot_no)
        yield got
    finally:
        for slot_no in got:
            _local_locks[(table.name, slot_no)].release()


def _as_rows(slots: list[int]) -> Any:
    """``unnest(ARRAY[...]) AS slot``: one statement takes or releases every slot's lock."""
    return func.unnest(array(slots, type_=Integer)).table_valued(column("slot", Integer)).render_derived()


class Outcome:
    """What handling one row did. ``WAIT`` keeps the row pending and holds back its key."""

    DONE = "done"
    WAIT = "wait"


@dataclass
class DrainReport:
    slots: list[int]
    busy: set[int] = field(default_factory=set)  # slots another caller held
    handled: int = 0
    waiting_keys: set[str] = field(default_factory=set)
    #: Stopped at its limit (``max_rows``, ``deadline``) with rows perhaps left: ask again.
    more: bool = False


Handler = Callable[[Row[Any]], str]
#: Handles several rows in one transaction: True when all are done, False when it changed nothing
#: (one of them needs the careful path: parked, retried), and the rows then go one by one.
BatchHandler = Callable[[list[Row[Any]]], bool]


def pending_rows(
    engine: Engine,
    table: Table,
    slots: Sequence[int],
    *,
    after: int,
    limit: int,
    extra: Sequence[ColumnElement[Any]] = (),
) -> list[Row[Any]]:
    """``extra``: more columns for the handlers (the inbox's payload: no second read per batch)."""
    with engine.connect() as conn:
        return list(conn.execute(pending_query(table, slots, after=after, limit=limit, extra=extra)))


def pending_query(
    table: Table, slots: Sequence[int], *, after: int, limit: int, extra: Sequence[ColumnElement[Any]] = ()
) -> Select[Any]:
    """The pending rows of ``slots`` after id ``after``, oldest first (``ix_*_pending_slot``)."""
    return (
        select(table.c.id, table.c.key, table.c.slot, table.c.next_attempt_at, table.c.attempts, *extra)
        .where(table.c.slot.in_(slots), table.c.state == PENDING, table.c.id > after)
        .order_by(table.c.id)
        .limit(limit)
    )


def drain(
    engine: Engine,
    table: Table,
    slots: int | Sequence[int],
    handle: Handler,
    *,
    clock: Callable[[], datetime],
    batch: int = 200,
    max_rows: int = 5000,
    handle_batch: BatchHandler | None = None,
    row_columns: Sequence[ColumnElement[Any]] = (),
    on_done: Callable[[list[Row[Any]]], None] | None = None,
    deadline: float | None = None,
) -> DrainReport:
    """Handle the pending rows of ``slots`` in id order until none is left that may run now.

    ``handle`` runs one row in its own transaction(s) and marks it; it returns ``Outcome.WAIT`` when
    the row must stay pending (it set the row's ``next_attempt_at``), and then no later row of the
    same key runs in this drain. ``handle_batch``, if given, is tried first on each run of rows that
    may go now (one commit for many rows is what keeps up with a busy till network); when it
    declines, those rows go through ``handle`` one by one. ``row_columns``: what else the handlers
    get with each row, read with it (the slot lock keeps it current until handled). ``on_done``
    is called with the rows handled (not those left waiting), after their commits: the stage
    timings (``metrics``). ``deadline`` (``time.monotonic()``): no new batch starts after it, so
    a worker that also delivers to 1C gets back to its other queue (``report.more`` then says
    rows may be left; at least one batch is always handled).

    Several slots drain together, rows of all of them in one id-ordered stream: a key lives in one
    slot, so its order is kept, and a batch is as large as the work, not as a slot's share of it.
    A slot another caller holds is skipped (it is that caller's work). After releasing its slots
    the drain looks once more: a row committed while another caller found a slot busy is not left
    behind.
    """
    report = DrainReport([slots] if isinstance(slots, int) else sorted(set(slots)))
    wanted = slots_with_work(engine, table, clock, among=report.slots)  # a stale hint costs one query
    while wanted:
        with slot_locks(engine, table, wanted) as got:
            report.busy.update(set(wanted).difference(got))
            report.busy.difference_update(got)
            if not got:
                return report
            _drain_locked(
                engine,
                table,
                got,
                handle,
                handle_batch,
                clock,
                batch,
                max_rows,
                report,
                row_columns,
                on_done,
                deadline,
            )
        if report.handled >= max_rows or report.more:
            report.more = True
            return report
        wanted = _runnable(engine, table, got, report.waiting_keys, clock)
        if wanted and deadline is not None and time.monotonic() >= deadline:
            report.more = True  # rows came meanwhile: the next turn takes them
            return report
    return report


def _drain_locked(
    engine: Engine,
    table: Table,
    slots: list[int],
    handle: Handler,
    handle_batch: BatchHandler | None,
    clock: Callable[[], datetime],
    batch: int,
    max_rows: int,
    report: DrainReport,
    row_columns: Sequence[ColumnElement[Any]],
    on_done: Callable[[list[Row[Any]]], None] | None = None,
    deadline: float | None = None,
) -> None:
    after = 0
    while report.handled < max_rows:
        if deadline is not None and after and time.monotonic() >= deadline:
            report.more = True  # a batch was handled: the rest waits for the next turn
            return
        rows = pending_rows(engine, table, slots, after=after, limit=batch, extra=row_columns)
        if not rows:
            return
        now = clock()
        runnable = []
        for row in rows:
            after = row.id
            if row.key in report.waiting_keys:
                continue
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                report.waiting_keys.add(row.key)  # its later rows wait behind it
                continue
            runnable.append(row)
        done: list[Row[Any]] = []
        if not (handle_batch is not None and len(runnable) > 1 and handle_batch(runnable)):
            for row in runnable:
                if row.key in report.waiting_keys:
                    continue
                if handle(row) == Outcome.WAIT:
                    report.waiting_keys.add(row.key)
                else:
                    report.handled += 1
                    done.append(row)
        else:
            report.handled += len(runnable)
            done = runnable
        if on_done is not None and done:
            on_done(done)
        if len(rows) < batch:
            return  # that was all; what came since is found by drain's last look


def due(table: Table, now: datetime) -> ColumnElement[bool]:
    """Pending rows whose next try may run now (never tried, or their backoff is over)."""
    return and_(
        table.c.state == PENDING,
        or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now),
    )


def _runnable(
    engine: Engine, table: Table, slots: list[int], waiting: set[str], clock: Callable[[], datetime]
) -> list[int]:
    """Of ``slots``, those holding a row that may run now and whose key is not held back."""
    now = clock()
    found = set()
    for row in pending_rows(engine, table, slots, after=0, limit=500):
        if row.key in waiting:
            continue
        if row.next_attempt_at is None or row.next_attempt_at <= now:
            found.add(row.slot)
    return sorted(found)


def slots_with_work(
    engine: Engine, table: Table, clock: Callable[[], datetime], *, among: Sequence[int] | None = None
) -> list[int]:
    """Slots holding a pending row that may run now (for sweeps, the in-process runner, and a
    drain checking its hint), of ``among`` if given."""
    query = select(table.c.slot).where(due(table, clock())).distinct()
    if among is not None:
        query = query.where(table.c.slot.in_(among))
    with engine.connect() as conn:
        return sorted(int(s) for s in conn.scalars(query))
