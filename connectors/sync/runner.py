"""Running the sync: which function drains what, and the in-process runner of the embedded default.

With RabbitMQ, three kinds of processes share the work (``bonusbridge sync relay``, ``sync listen``,
``sync worker`` — any number of workers): the relay publishes outbox rows, the listener stores 1C's
changes and publishes "apply slot N" messages, and Celery workers drain slots. On the embedded
default (``memory://`` broker, SQLite) there is one process: ``InlineRunner`` calls the same drain
functions directly, in a background thread, instead of sending messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence

from connectors.sync import inbound, metrics, outbound
from connectors.sync.context import SyncContext
from connectors.sync.slots import INBOX, OUTBOX, DrainReport, drain, slots_with_work

log = logging.getLogger(__name__)


def drain_outbound(ctx: SyncContext, slot: int) -> DrainReport:
    return drain(
        ctx.engine,
        OUTBOX,
        slot,
        lambda row: outbound.deliver(ctx, row),
        clock=ctx.clock,
        row_columns=(OUTBOX.c.published_at,),
        on_done=lambda rows: metrics.observe_rows("outbound", "deliver", rows, "published_at", ctx.clock()),
    )


#: Inbox rows read and applied per transaction.
INBOUND_BATCH = 200


def drain_inbound(
    ctx: SyncContext, slots: int | Sequence[int], *, deadline: float | None = None
) -> DrainReport:
    """Apply the inbox rows of one slot or several together (one stream, batches across slots);
    ``deadline`` (monotonic): start no batch after it (``DrainReport.more``: ask again)."""
    return drain(
        ctx.engine,
        INBOX,
        slots,
        lambda row: inbound.apply(ctx, row),
        clock=ctx.clock,
        batch=INBOUND_BATCH,
        deadline=deadline,
        handle_batch=lambda rows: inbound.apply_batch(ctx, rows),
        row_columns=inbound.BATCH_COLUMNS,  # with received_at, the stage timing's start
        on_done=lambda rows: metrics.observe_rows("inbound", "apply", rows, "received_at", ctx.clock()),
    )


def drain_everything(ctx: SyncContext, *, rounds: int = 50) -> int:
    """Drain every slot with runnable work in both directions until none is left (tests, demo)."""
    handled = 0
    for _ in range(rounds):
        work = 0
        inbox_slots = slots_with_work(ctx.engine, INBOX, ctx.clock)
        if inbox_slots:
            work += drain_inbound(ctx, inbox_slots).handled
        for slot in slots_with_work(ctx.engine, OUTBOX, ctx.clock):
            work += drain_outbound(ctx, slot).handled
        handled += work
        if not work:
            break
    return handled


class InlineRunner:
    """Kicks become direct calls (the embedded default), each direction in a thread of its own.

    Inbound (1C's changes to apply) and outbound (the hub's changes to deliver to 1C) never wait
    for each other: a backlog of till receipts being applied does not hold back a website edit
    that 1C must learn, and a slow or unreachable 1C does not hold back the balances. (One thread
    for both made an edit wait for a whole inbound drain: ``tests/sync/test_fairness.py``.)
    """

    DIRECTIONS = ("inbound", "outbound")

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._pending: dict[str, set[int]] = {d: set() for d in self.DIRECTIONS}
        self._wake = {d: threading.Condition(self._lock) for d in self.DIRECTIONS}
        ctx.kick = self.kick

    def kick(self, direction: str, slots: Iterable[int]) -> None:
        with self._lock:
            self._pending[direction].update(slots)
            self._wake[direction].notify()

    def publish(self, rows: list[tuple[int, int]]) -> set[int]:
        """The relay's publisher in-process: a kick per slot; "confirmed" once queued here."""
        self.kick("outbound", [slot for _, slot in rows])
        return {message_id for message_id, _ in rows}

    def run(self, stop: threading.Event, *, sweep_every: float = 1.0) -> None:
        """Drain until ``stop``: outbound in a thread of its own, inbound in this one. A direction
        with no kick for ``sweep_every`` looks for work itself (a kick lost, a retry come due)."""
        outbound = threading.Thread(
            target=self._run_direction,
            args=("outbound", stop, sweep_every),
            name="sync-outbound",
            daemon=True,
        )
        outbound.start()
        try:
            self._run_direction("inbound", stop, sweep_every)
        finally:
            outbound.join()

    def _run_direction(self, direction: str, stop: threading.Event, sweep_every: float) -> None:
        table = INBOX if direction == "inbound" else OUTBOX
        while not stop.is_set():
            with self._lock:
                if not self._pending[direction]:
                    self._wake[direction].wait(timeout=sweep_every)
                work, self._pending[direction] = sorted(self._pending[direction]), set()
            try:
                slots = work or slots_with_work(self.ctx.engine, table, self.ctx.clock)
                if direction == "inbound":
                    if slots:
                        drain_inbound(self.ctx, slots)
                else:
                    for slot in slots:
                        drain_outbound(self.ctx, slot)
            except Exception as exc:
                log.warning("in-process sync pass (%s) failed (%s)", direction, type(exc).__name__)
                stop.wait(1.0)
