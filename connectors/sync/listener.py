"""The listener: reads 1C's change feed, stores each change in the inbox — applying it in the same
transaction when nothing stands before it (``inbound.store_and_apply``) — and only then lets the
feed acknowledge it (SelectChanges' NotifyChangesReceived, or the AMQP ack). Then it asks the
workers to apply what it left to them.

Only one reader per exchange-plan node is safe (1C's own rule), so there is one listener; the work
of applying is what scales, in the workers. The feed's position (the last acknowledged message
number) is kept in the hub's database, next to the inbox it describes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from connectors.onec.changefeed import ONEC_CHANGED_AT, AmqpChangeConsumer, SelectChangesPoller
from connectors.sync import cursors, metrics
from connectors.sync.context import SyncContext
from connectors.sync.inbound import store_and_apply, store_changes
from connectors.sync.slots import INBOX, slots_with_work

log = logging.getLogger(__name__)

#: How often the listener re-asks for slots that still hold runnable inbox rows: a kick lost with a
#: broker that went away (or a row whose retry came due) is picked up within this many seconds.
SWEEP_SECONDS = 5.0


class DatabasePollState:
    """The poller's position in ``sync_cursors`` (``feed:select_changes``)."""

    def __init__(self, ctx: SyncContext, name: str = "feed:select_changes") -> None:
        self.ctx = ctx
        self.name = name

    def last_acknowledged(self) -> int:
        with self.ctx.engine.connect() as conn:
            value = cursors.read(conn, self.name)
        return int(value["last_acknowledged"]) if value else 0

    def acknowledged(self, message_no: int) -> None:
        with self.ctx.engine.begin() as conn:
            cursors.write(conn, self.name, {"last_acknowledged": message_no})


class Kicker:
    """Sends the listener's "apply these slots" requests from a thread of its own, at most once
    every ``interval`` seconds. Under a stream of till receipts one request then covers many stored
    batches: each request is a task message, and each task has a fixed cost in the worker. A failed
    send (the broker away) keeps its slots and is tried again a second later."""

    def __init__(self, send: Callable[[list[int]], None], interval: float) -> None:
        self.send = send
        self.interval = interval
        self._pending: set[int] = set()
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    def add(self, slots: Iterable[int]) -> None:
        with self._cond:
            self._pending.update(slots)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sync-kicker", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
            time.sleep(max(0.0, last + self.interval - time.monotonic()))
            with self._cond:
                slots, self._pending = sorted(self._pending), set()
            try:
                self.send(slots)
                last = time.monotonic()
            except Exception as exc:
                log.warning("could not ask workers to apply %d slot(s) (%s)", len(slots), type(exc).__name__)
                with self._cond:
                    self._pending.update(slots)
                    if self._closing:
                        return
                time.sleep(1.0)

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)


class Listener:
    """``kick_interval``: 0 asks workers at once after each stored batch (tests, the in-process
    runner); a deployed listener coalesces requests over a few tens of milliseconds (``Kicker``)."""

    def __init__(self, ctx: SyncContext, *, kick_interval: float = 0.0) -> None:
        self.ctx = ctx
        self._kicker = (
            Kicker(lambda slots: ctx.request_drain("inbound", slots), kick_interval)
            if kick_interval > 0
            else None
        )
        self.stored = 0
        self.state = DatabasePollState(ctx)
        self._poller: SelectChangesPoller | None = None
        self._unkicked: set[int] = set()
        self._last_sweep = time.monotonic()

    def _store(self, changes: list[dict[str, Any]], source: str, message_no: int | None) -> None:
        """Store (and, when it may, apply) a batch; kick the workers for what is left to them."""
        self._remember_node()
        at_most = self.ctx.settings.sync_listener_applies_at_most
        if at_most:
            slots = store_and_apply(
                self.ctx, changes, source=source, message_no=message_no, apply_at_most=at_most
            )
        else:
            slots = store_changes(self.ctx, changes, source=source, message_no=message_no)
        self.stored += len(changes)
        metrics.observe("inbound", "feed", (self._onec_time(c) for c in changes), self.ctx.clock())
        self._kick(slots)

    def _onec_time(self, change: dict[str, Any]) -> datetime | None:
        """1C's time of a change, where its exchange message gave one (the ``feed`` stage's start)."""
        stamp = change.get(ONEC_CHANGED_AT)
        if not stamp:
            return None
        try:
            when = datetime.fromisoformat(str(stamp))
        except ValueError:
            return None
        return when if when.tzinfo is not None else when.replace(tzinfo=self.ctx.settings.onec_zone)

    def _kick(self, slots: Iterable[int]) -> None:
        """Ask workers to apply these slots. The changes are already stored, so a failed kick
        (broker away) must not fail the store: the slots are remembered and asked for again."""
        if self._kicker is not None:
            self._kicker.add(slots)
            return
        wanted = sorted(self._unkicked.union(slots))
        if not wanted:
            return
        try:
            self.ctx.request_drain("inbound", wanted)
        except Exception as exc:
            self._unkicked.update(wanted)
            log.warning("could not ask workers to apply %d slot(s) (%s)", len(wanted), type(exc).__name__)
            return
        self._unkicked.clear()

    def sweep(self, *, every: float = SWEEP_SECONDS) -> None:
        """Every ``every`` seconds, kick the slots with runnable inbox rows."""
        if time.monotonic() - self._last_sweep < every:
            return
        self._last_sweep = time.monotonic()
        try:
            slots = slots_with_work(self.ctx.engine, INBOX, self.ctx.clock)
        except Exception as exc:  # the database is away: the next sweep tries again
            log.warning("inbox sweep failed (%s)", type(exc).__name__)
            return
        self._kick(slots)

    def _remember_node(self) -> None:
        """Our node's Ref_Key, so AMQP messages for the hub's own writes are recognised."""
        if self._poller is not None:
            self.ctx.cached("node_ref", self._poller.node_ref)

    # --- SelectChanges ---------------------------------------------------------------------------

    @property
    def poller(self) -> SelectChangesPoller:
        if self._poller is None:
            settings = self.ctx.settings

            def store(changes: list[dict[str, Any]]) -> None:
                self._store(changes, "select_changes", self.state.last_acknowledged() + 1)

            self._poller = SelectChangesPoller(
                self.ctx.client, settings.onec_exchange_plan, settings.onec_exchange_node, store, self.state
            )
        return self._poller

    def poll_once(self) -> int:
        return self.poller.poll_once().received

    # --- AMQP --------------------------------------------------------------------------------------

    def amqp_consumer(self, *, queue: str | None = None) -> AmqpChangeConsumer:
        settings = self.ctx.settings
        if self._poller is None:
            try:
                self.ctx.cached("node_ref", self.poller.node_ref)
            except Exception as exc:  # 1C unreachable now: echo is still suppressed by DataVersion
                log.warning("could not read the exchange node (%s)", type(exc).__name__)
        return AmqpChangeConsumer(
            settings.onec_amqp_url,
            settings.onec_amqp_exchange,
            queue or settings.onec_amqp_queue,
            lambda changes: self._store(changes, "amqp", None),
        )

    def run(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        try:
            if self.ctx.settings.onec_change_feed == "amqp":
                with self.amqp_consumer() as consumer:
                    consumer.run(stop, poll=min(interval, SWEEP_SECONDS), tick=self.sweep)
            else:
                self.poller.run(stop, interval=interval, tick=self.sweep)
        finally:
            if self._kicker is not None:
                self._kicker.close()
