"""The outbox relay: publishes pending outbox rows to the broker and marks them published only once
the broker confirmed them.

- It selects every unpublished row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two relays share the
  work), never "ids above the last one seen": serial ids become visible out of commit order, and a
  high-water mark would skip the row that committed late.
- Each row becomes a Celery task message ``bonusbridge.sync.deliver(id, slot)`` published with
  publisher confirms (the app's ``confirm_publish``) and ``mandatory``: a message the broker could not
  route comes back (``basic.return``) and its row stays unpublished.
- A row whose delivery failed is unpublished again by the worker with a ``next_attempt_at``; the
  relay publishes it when that time comes — the backoff lives in the database, not in countdown
  tasks that RabbitMQ's ``consumer_timeout`` would kill.
- A row published long ago and still pending (its message was lost with a broker that had not
  persisted it, or a worker is stuck) is published again after ``sync_republish_after_seconds``:
  delivery is idempotent, so a duplicate costs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from connectors.sync import metrics
from connectors.sync.context import SyncContext
from connectors.sync.slots import OUTBOX, PENDING, due

log = logging.getLogger(__name__)

#: Publishes (outbox id, slot) pairs; returns the ids the broker confirmed.
Publish = Callable[[list[tuple[int, int]]], set[int]]

DELIVER_TASK = "bonusbridge.sync.deliver"
#: Deliveries to 1C go to a queue of their own next to the app's default one, which carries the
#: inbound "apply" kicks: a worker consuming both takes from each in turn, so a website edit waits
#: for at most one inbound task, not for a whole backlog of them.
OUTBOUND_SUFFIX = ".outbound"


def outbound_queue(app: Any) -> str:
    return f"{app.conf.task_default_queue}{OUTBOUND_SUFFIX}"


APPLY_TASK = "bonusbridge.sync.apply"


class Relay:
    def __init__(self, ctx: SyncContext, publish: Publish, *, batch: int = 500) -> None:
        self.ctx = ctx
        self.publish = publish
        self.batch = batch
        self.published = 0

    def run_once(self) -> int:
        """Publish one batch of due rows; the number confirmed."""
        now = self.ctx.clock()
        query = (
            select(OUTBOX.c.id, OUTBOX.c.slot, OUTBOX.c.created_at, OUTBOX.c.attempts)
            .where(due(OUTBOX, now), OUTBOX.c.published_at.is_(None))
            .order_by(OUTBOX.c.id)
            .limit(self.batch)
        )
        with self.ctx.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            found = list(conn.execute(query))
            rows = [(int(r.id), int(r.slot)) for r in found]
            if not rows:
                return 0
            confirmed = self.publish(rows)
            if confirmed:
                conn.execute(
                    update(OUTBOX).where(OUTBOX.c.id.in_(sorted(confirmed))).values(published_at=now)
                )
        # The written → published stage, for first publications (a retry's wait is its backoff).
        first = (r.created_at for r in found if int(r.id) in confirmed and not r.attempts)
        metrics.observe("outbound", "publish", first, self.ctx.clock())
        unconfirmed = len(rows) - len(confirmed)
        if unconfirmed:
            log.warning("%d outbox message(s) not confirmed by the broker; will publish again", unconfirmed)
        self.published += len(confirmed)
        return len(confirmed)

    def _quiet_for(self, longest: float) -> float:
        """How long the relay may wait for a notification: ``longest``, or less when a row's retry
        comes due sooner (a retry is not announced; it must not wait for the next look)."""
        now = self.ctx.clock()
        try:
            with self.ctx.engine.connect() as conn:
                soonest = conn.scalar(
                    select(func.min(OUTBOX.c.next_attempt_at)).where(
                        OUTBOX.c.state == PENDING,
                        OUTBOX.c.published_at.is_(None),
                        OUTBOX.c.next_attempt_at > now,
                    )
                )
        except Exception:  # the database is away: the next pass says so
            return longest
        if soonest is None:
            return longest
        if soonest.tzinfo is None:
            soonest = soonest.replace(tzinfo=now.tzinfo)
        return max(0.0, min(longest, float((soonest - now).total_seconds())))

    def republish_stale(self) -> int:
        """Unpublish rows published long ago and still pending, so the next pass sends them again."""
        cutoff = self.ctx.clock() - timedelta(seconds=self.ctx.settings.sync_republish_after_seconds)
        with self.ctx.engine.begin() as conn:
            result = conn.execute(
                update(OUTBOX)
                .where(
                    OUTBOX.c.state == PENDING,
                    OUTBOX.c.published_at.is_not(None),
                    OUTBOX.c.published_at < cutoff,
                )
                .values(published_at=None)
            )
        return int(result.rowcount or 0)

    def run(
        self,
        stop: threading.Event,
        *,
        interval: float = 0.05,
        stale_every: float = 10.0,
        listen_poll: float = 1.0,
    ) -> None:
        """Relay until stopped; a full batch goes again at once, an empty one waits for more.

        On PostgreSQL the relay LISTENs to ``bb_sync_outbox`` (migration 0020: a commit that wrote
        outbox rows notifies it), so a new row is published as soon as it is committed, not at
        the next poll; it wakes when the soonest retry comes due (retries are not announced) and
        looks every ``listen_poll`` seconds anyway. Elsewhere, or while the listening connection
        is down, it polls every ``interval``."""
        wakeup = OutboxWakeup(self.ctx.engine)
        next_stale = time.monotonic() + stale_every
        try:
            while not stop.is_set():
                try:
                    sent = self.run_once()
                    if time.monotonic() >= next_stale:
                        next_stale = time.monotonic() + stale_every
                        self.republish_stale()
                except Exception as exc:  # the broker or the database is down: keep trying, log why
                    log.warning("relay pass failed (%s); retrying", type(exc).__name__)
                    stop.wait(min(5.0, interval * 20))
                    continue
                if sent < self.batch and not wakeup.wait(stop, self._quiet_for(listen_poll)):
                    stop.wait(interval)
        finally:
            wakeup.close()


class OutboxWakeup:
    """PostgreSQL's notifications of new outbox rows (``NOTIFY bb_sync_outbox``), on a connection
    of their own in autocommit; ``wait`` is False where there is none (SQLite, a lost server)."""

    CHANNEL = "bb_sync_outbox"

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.conn: Any = None

    def _connect(self) -> Any:
        if self.conn is None and self.engine.dialect.name == "postgresql":
            import psycopg

            url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            conn = psycopg.connect(url, autocommit=True)
            conn.execute(f"LISTEN {self.CHANNEL}")
            self.conn = conn
        return self.conn

    def wait(self, stop: threading.Event, timeout: float) -> bool:
        """Until a notification, ``stop`` or ``timeout`` (in slices, so a stop is seen within a
        quarter of a second); False when there is nothing to listen with (then the caller polls)."""
        try:
            conn = self._connect()
            if conn is None:
                return False
            deadline = time.monotonic() + timeout
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                for _ in conn.notifies(timeout=min(left, 0.25), stop_after=1):
                    return True
            return True
        except Exception as exc:  # the server went away: poll until it is back
            log.warning("relay's outbox notifications lost (%s); polling", type(exc).__name__)
            self.close()
            return False

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class CeleryPublisher:
    """Publishes task messages with confirms and ``mandatory``, collecting ``basic.return``s.

    One broker connection is kept and reused (opening one per batch would cost more than the
    batch); after any failure it is dropped and the next call opens a new one."""

    #: At most this many slots per "apply" task by default (``sync_slots_per_task``): a stored
    #: batch touching many slots becomes a few tasks (at most four of the 64 slots), so several
    #: workers share it, while each task drains its slots together, in batches as large as their work.
    SLOTS_PER_TASK = 16

    def __init__(self, app: Any, *, slots_per_task: int = SLOTS_PER_TASK) -> None:
        self.app = app
        self.slots_per_task = slots_per_task
        self._returned: set[int] = set()
        self._lock = threading.Lock()
        self._connection: Any = None
        self._producer: Any = None

    def _deliver_routing(self) -> dict[str, Any]:
        """The outbound queue, unless the deployment routes deliveries itself (``task_routes``)."""
        routes = self.app.conf.task_routes
        if isinstance(routes, dict) and DELIVER_TASK in routes:
            return {}
        return {"queue": outbound_queue(self.app)}

    def _on_return(self, exception: Exception, exchange: str, routing_key: str, message: Any) -> None:
        headers = getattr(message, "headers", None) or {}
        argsrepr = str(headers.get("argsrepr", ""))
        log.error("broker returned an unroutable sync message (routing key %s)", routing_key)
        if headers.get("task") != DELIVER_TASK:
            return  # a lost kick: the listener's sweep asks again
        with contextlib.suppress(ValueError):
            self._returned.add(int(argsrepr.strip("()[] ").split(",")[0]))

    def _current_producer(self) -> Any:
        if self._producer is None:
            self._connection = self.app.connection_for_write()
            self._producer = self.app.amqp.Producer(self._connection, on_return=self._on_return)
        return self._producer

    def _send(self, send: Callable[[Any], None]) -> None:
        with self._lock:
            try:
                send(self._current_producer())
            except Exception:
                self.close_connection()
                raise

    def close_connection(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.release()

    def __call__(self, rows: list[tuple[int, int]]) -> set[int]:
        """One task per slot, naming the slot's newest row: its worker drains the slot in order, so
        a task per row would only find its row already delivered."""
        by_slot: dict[int, list[int]] = {}
        for message_id, slot in rows:
            by_slot.setdefault(slot, []).append(message_id)
        confirmed: set[int] = set()

        def send(producer: Any) -> None:
            self._returned.clear()
            for slot, ids in by_slot.items():
                self.app.send_task(
                    DELIVER_TASK,
                    args=[max(ids), slot],
                    producer=producer,
                    mandatory=True,
                    **self._deliver_routing(),
                )
            for ids in by_slot.values():
                if max(ids) not in self._returned:
                    confirmed.update(ids)

        self._send(send)
        return confirmed

    def kick_inbound(self, slots: list[int]) -> None:
        size = self.slots_per_task
        chunks = [slots[i : i + size] for i in range(0, len(slots), size)]

        def send(producer: Any) -> None:
            for chunk in chunks:
                self.app.send_task(APPLY_TASK, args=[chunk], producer=producer, mandatory=True)

        self._send(send)
