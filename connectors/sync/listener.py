"""The listener: reads 1C's change feed, stores each change in the inbox, and only then lets the
feed acknowledge it (SelectChanges' NotifyChangesReceived, or the AMQP ack). Then it asks the
workers to apply the slots that got new rows.

Only one reader per exchange-plan node is safe (1C's own rule), so there is one listener; the work
of applying is what scales, in the workers. The feed's position (the last acknowledged message
number) is kept in the hub's database, next to the inbox it describes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from connectors.onec.changefeed import AmqpChangeConsumer, SelectChangesPoller
from connectors.sync import cursors
from connectors.sync.context import SyncContext
from connectors.sync.inbound import store_changes
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


class Listener:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.stored = 0
        self.state = DatabasePollState(ctx)
        self._poller: SelectChangesPoller | None = None
        self._unkicked: set[int] = set()
        self._last_sweep = time.monotonic()

    def _store(self, changes: list[dict[str, Any]], source: str, message_no: int | None) -> None:
        self._remember_node()
        slots = store_changes(self.ctx, changes, source=source, message_no=message_no)
        self.stored += len(changes)
        self._kick(slots)

    def _kick(self, slots: Iterable[int]) -> None:
        """Ask workers to apply these slots. The changes are already stored, so a failed kick
        (broker away) must not fail the store: the slots are remembered and asked for again."""
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
        if self.ctx.settings.onec_change_feed == "amqp":
            with self.amqp_consumer() as consumer:
                consumer.run(stop, poll=min(interval, SWEEP_SECONDS), tick=self.sweep)
        else:
            self.poller.run(stop, interval=interval, tick=self.sweep)
