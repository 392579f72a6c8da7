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
from typing import Any

from connectors.onec.changefeed import AmqpChangeConsumer, SelectChangesPoller
from connectors.sync import cursors
from connectors.sync.context import SyncContext
from connectors.sync.inbound import store_changes

log = logging.getLogger(__name__)

AMQP_QUEUE = "bonusbridge.onec.changes"


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

    def _store(self, changes: list[dict[str, Any]], source: str, message_no: int | None) -> None:
        self._remember_node()
        slots = store_changes(self.ctx, changes, source=source, message_no=message_no)
        self.stored += len(changes)
        self.ctx.request_drain("inbound", slots)

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

    def amqp_consumer(self, *, queue: str = AMQP_QUEUE) -> AmqpChangeConsumer:
        settings = self.ctx.settings
        if self._poller is None:
            try:
                self.ctx.cached("node_ref", self.poller.node_ref)
            except Exception as exc:  # 1C unreachable now: echo is still suppressed by DataVersion
                log.warning("could not read the exchange node (%s)", type(exc).__name__)
        return AmqpChangeConsumer(
            settings.onec_amqp_url,
            settings.onec_amqp_exchange,
            queue,
            lambda changes: self._store(changes, "amqp", None),
        )

    def run(self, stop: threading.Event, *, interval: float = 1.0) -> None:
        if self.ctx.settings.onec_change_feed == "amqp":
            with self.amqp_consumer() as consumer:
                consumer.run(stop)
        else:
            self.poller.run(stop, interval=interval)
