"""Consumers of 1C's change feed: the exchange plan polled over OData, or RabbitMQ messages.

Both follow the one rule that makes them safe: **acknowledge only after the changes are stored.**
If storing fails, nothing is acknowledged and the same changes come again, so ``store_callback``
must be an idempotent upsert (1C sends an object's current state, so replaying it is harmless).

Both hand ``store_callback`` the same shape: a list of objects as SelectChanges returns them —
the object's OData fields plus ``odata.type`` (``StandardODATA.<EntitySet>``), or for a deleted
object ``{"Ref_Key": …, "odata.deleted": true}``.

- ``SelectChangesPoller``: ``SelectChanges(MessageNo=N)`` with N = last acknowledged + 1, then
  ``store_callback``, then ``NotifyChangesReceived(N)``, then N is persisted (``PollState``). A failed
  store leaves N unacknowledged; the next poll asks for N again and gets those changes plus newer
  ones (1C's documented semantics). Only one poller per node is safe, as in 1C.
- ``AmqpChangeConsumer``: a durable queue bound to 1C's topic exchange; messages are stored in
  batches and acknowledged after ``store_callback`` succeeded; on failure they are redelivered in
  order, an undecodable one goes to the dead-letter queue.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from .errors import OneCError, OneCNotFound
from .odata import Entity, ODataClient

log = logging.getLogger(__name__)


def _kombu() -> Any:
    """kombu, imported lazily (only the AMQP variant needs a broker) and typed as Any: it ships
    partial annotations that strict mypy cannot check against."""
    return importlib.import_module("kombu")


StoreCallback = Callable[[list[Entity]], None]


# --- the poller's persisted position -------------------------------------------------------------


class PollState(Protocol):
    """Where the poller is: the last message number 1C confirmed as received."""

    def last_acknowledged(self) -> int: ...

    def acknowledged(self, message_no: int) -> None: ...


class MemoryPollState:
    """For tests and one-shot runs: forgotten at exit (the next run re-reads what 1C still holds)."""

    def __init__(self, last: int = 0) -> None:
        self._last = last

    def last_acknowledged(self) -> int:
        return self._last

    def acknowledged(self, message_no: int) -> None:
        self._last = message_no


class FilePollState:
    """A small JSON file, replaced atomically (write a temporary file, then rename) so a crash never
    leaves a half-written position. The hub's inbox table replaces this in the sync service."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def last_acknowledged(self) -> int:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0
        return int(data["last_acknowledged"])

    def acknowledged(self, message_no: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"last_acknowledged": message_no}, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


# --- SelectChanges polling -----------------------------------------------------------------------


@dataclass(frozen=True)
class PollResult:
    message_no: int
    received: int
    acknowledged: bool


class SelectChangesPoller:
    """Reads the node's changes from 1C's exchange plan and acknowledges them once stored."""

    def __init__(
        self,
        client: ODataClient,
        plan: str,
        node_code: str,
        store_callback: StoreCallback,
        state: PollState,
    ) -> None:
        self.client = client
        self.plan = plan
        self.node_code = node_code
        self.store_callback = store_callback
        self.state = state
        self._node_ref: str | None = None

    def node_ref(self) -> str:
        """The node's Ref_Key, looked up once by its code (the code is what administrators configure)."""
        if self._node_ref is None:
            node = self.client.exchange_node(self.plan, self.node_code)
            if node is None:
                raise OneCNotFound(f"exchange plan {self.plan} has no node with code {self.node_code!r}")
            self._node_ref = node.ref
        return self._node_ref

    def poll_once(self) -> PollResult:
        """One read-store-acknowledge cycle. Raises (without acknowledging) when reading or storing
        fails; an empty read acknowledges nothing and keeps N for the next poll."""
        message_no = self.state.last_acknowledged() + 1
        changes = self.client.select_changes(self.plan, self.node_ref(), message_no)
        if not changes.values:
            return PollResult(message_no, 0, False)
        try:
            self.store_callback(changes.values)
        except Exception:
            log.warning(
                "storing %d change(s) of message %d failed; not acknowledged, will be re-read",
                len(changes.values),
                message_no,
            )
            raise
        self.client.notify_changes_received(self.plan, self.node_ref(), message_no)
        self.state.acknowledged(message_no)
        log.info("stored and acknowledged %d change(s) of message %d", len(changes.values), message_no)
        return PollResult(message_no, len(changes.values), True)

    def unread(self) -> list[Entity]:
        """The changes 1C holds for the node beyond the acknowledged position, read without storing
        or acknowledging them (``SelectChanges`` with the next N: 1C numbers them N again when the
        poller asks). What a reconciliation must not count as drift: the hub has not read it yet."""
        message_no = self.state.last_acknowledged() + 1
        return list(self.client.select_changes(self.plan, self.node_ref(), message_no).values)

    def run(
        self,
        stop: threading.Event,
        *,
        interval: float = 5.0,
        max_backoff: float = 300.0,
        tick: Callable[[], None] | None = None,
    ) -> None:
        """Poll until ``stop`` is set; on failure back off exponentially (retry storms cause lock
        conflicts in 1C). A full batch polls again at once: more changes are probably waiting.
        ``tick`` runs between polls (the listener's sweep)."""
        delay = interval
        while not stop.is_set():
            if tick is not None:
                tick()
            try:
                result = self.poll_once()
            except OneCError as exc:
                log.warning("change feed poll failed (%s); retrying in %.0f s", exc.code, delay)
                stop.wait(delay)
                delay = min(delay * 2, max_backoff)
                continue
            except Exception as exc:
                log.warning("change feed store failed (%s); retrying in %.0f s", type(exc).__name__, delay)
                stop.wait(delay)
                delay = min(delay * 2, max_backoff)
                continue
            delay = interval
            if not result.received:
                stop.wait(interval)


# --- RabbitMQ ------------------------------------------------------------------------------------


#: The key under which a change carries 1C's own time of it, when the feed gives one: an AMQP
#: message's ``changed_at`` (1C's ``ТекущаяДатаСеанса()`` in the event subscription; ISO 8601, in
#: ``BONUSBRIDGE_ONEC_TIMEZONE`` when it has no offset) or else its AMQP ``timestamp`` property.
#: The sync's "newer" conflict policy compares it with the hub's edit time.
ONEC_CHANGED_AT = "bonusbridge.changed_at"


def message_to_change(payload: dict[str, Any], *, timestamp: Any = None) -> Entity:
    """A published change message (see ``emulator.amqp``) in the shape SelectChanges returns.
    ``timestamp``: the message's AMQP ``timestamp`` property (used when the body has no time)."""
    entity_set = str(payload["entity_set"])
    state = payload.get("object")
    # The sender's exchange-plan node, when 1C names it: a consumer drops the echo of its own writes.
    sender: dict[str, Any] = (
        {"bonusbridge.origin_node": payload["origin_node"]} if payload.get("origin_node") else {}
    )
    changed_at = payload.get("changed_at") or _amqp_time(timestamp)
    if changed_at:
        sender[ONEC_CHANGED_AT] = str(changed_at)
    if payload.get("kind") == "delete" or state is None:
        return {
            "odata.type": f"StandardODATA.{entity_set}",
            "Ref_Key": payload["key"],
            "odata.deleted": True,
            **sender,
        }
    return {"odata.type": f"StandardODATA.{entity_set}", **state, **sender}


def _amqp_time(timestamp: Any) -> str | None:
    """An AMQP ``timestamp`` property (seconds since the epoch, or a datetime) as ISO 8601 UTC."""
    from datetime import UTC, datetime

    if isinstance(timestamp, datetime):
        return (timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)).isoformat()
    if isinstance(timestamp, int | float) and timestamp > 0:
        return datetime.fromtimestamp(timestamp, UTC).isoformat()
    return None


class AmqpChangeConsumer:
    """A kombu consumer of 1C's change messages on a topic exchange, storing them in batches.

    ``queue`` is durable and bound with ``routing_key`` (``#``: everything). Up to ``batch``
    messages are in flight (the prefetch); what arrived within ``linger`` seconds of the first is
    handed to ``store_callback`` in one call (one transaction in the hub) and only then acknowledged,
    with one multiple ack. If storing fails the channel is closed: the broker puts every unacknowledged
    message back, in its order, and they come again. A message that is not a change (not JSON, no
    object) is rejected without requeue and lands in the dead-letter queue ``<queue>.dead``, where
    it waits for a person: never acknowledged and forgotten.

    ``drain(timeout)`` processes what arrives until the queue has been quiet for ``timeout`` seconds;
    ``run(stop)`` consumes until stopped, reconnecting after the broker went away.
    """

    def __init__(
        self,
        url: str,
        exchange: str,
        queue: str,
        store_callback: StoreCallback,
        *,
        routing_key: str = "#",
        batch: int = 200,
        linger: float = 0.02,
    ) -> None:
        kombu = _kombu()

        self.store_callback = store_callback
        self.batch = batch
        self.linger = linger
        self.url = url
        self.exchange = kombu.Exchange(exchange, type="topic", durable=True)
        dead = f"{queue}.dead"
        self.dead_exchange = kombu.Exchange(dead, type="fanout", durable=True)
        self.dead_queue = kombu.Queue(dead, exchange=self.dead_exchange, routing_key="", durable=True)
        self.queue = kombu.Queue(
            queue,
            exchange=self.exchange,
            routing_key=routing_key,
            durable=True,
            queue_arguments={"x-dead-letter-exchange": dead},
        )
        self.connection = kombu.Connection(url)
        self.stored = 0
        self.failed = 0
        self.dead_lettered = 0
        self._consumer: Any = None
        self._channel: Any = None
        self._pending: list[tuple[Entity, Any]] = []

    def __enter__(self) -> AmqpChangeConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def declare(self) -> None:
        """Declare the queue, its binding and its dead-letter queue (before 1C publishes anything,
        or the first messages have nowhere to go)."""
        channel = self.connection.channel()
        try:
            self.dead_queue(channel).declare()
            self.queue(channel).declare()
        finally:
            channel.close()

    def waiting(self) -> int:
        """How many change messages wait in the queue, not yet delivered to a consumer (a passive
        declare: the queue must exist; a missing one raises the broker's not-found error)."""
        channel = self.connection.channel()
        try:
            declared = self.queue(channel).queue_declare(passive=True)
        finally:
            try:
                channel.close()
            except Exception:  # a passive declare of a missing queue closes the channel itself
                log.debug("closing the declare channel failed", exc_info=True)
        return int(declared.message_count)

    def _consume(self) -> None:
        if self._consumer is None:
            self.declare()
            self._channel = self.connection.channel()
            self._channel.basic_qos(prefetch_size=0, prefetch_count=self.batch, a_global=False)
            kombu = _kombu()

            self._consumer = kombu.Consumer(
                self._channel,
                queues=[self.queue],
                # on_message, not callbacks: kombu then leaves the body alone (decoding it was a
                # sixth of the listener's CPU, only to be thrown away; see ``_on_message``).
                on_message=self._on_message,
                accept=["json"],
                no_ack=False,
            )
            self._consumer.consume()

    def _on_message(self, message: Any) -> None:
        try:
            # The raw body, not kombu's decoded one: its json turns 3.50 points into a float, which
            # the mapping refuses (SelectChanges goes through the OData client's parse_float=Decimal).
            payload = json.loads(message.body, parse_float=Decimal)
            properties = getattr(message, "properties", None) or {}
            change = message_to_change(payload, timestamp=properties.get("timestamp"))
        except (ValueError, KeyError, TypeError):
            log.warning(
                "dead-lettering an undecodable change message (routing key %s)",
                message.delivery_info.get("routing_key"),
            )
            message.reject(requeue=False)
            self.dead_lettered += 1
            return
        self._pending.append((change, message))

    def _flush(self) -> int:
        """Store what is pending in one call, then acknowledge it; the number stored."""
        if not self._pending:
            return 0
        batch, self._pending = self._pending, []
        try:
            self.store_callback([change for change, _ in batch])
        except Exception as exc:
            log.warning(
                "storing %d change message(s) failed (%s); redelivered", len(batch), type(exc).__name__
            )
            self.failed += len(batch)
            self._reset_channel()
            return 0
        batch[-1][1].ack(multiple=True)
        self.stored += len(batch)
        return len(batch)

    def _reset_channel(self) -> None:
        """Close the channel: the broker requeues its unacknowledged messages, oldest first."""
        self._pending = []
        channel, self._channel, self._consumer = self._channel, None, None
        if channel is not None:
            try:
                channel.close()
            except Exception:  # already gone with its connection
                log.debug("closing the consumer channel failed", exc_info=True)

    def pump(self, timeout: float) -> int:
        """Wait up to ``timeout`` for a message, gather more for ``linger`` seconds (or up to
        ``batch``), store them; the number stored."""
        self._consume()
        try:
            self.connection.drain_events(timeout=timeout)
        except TimeoutError:
            return self._flush()
        deadline = time.monotonic() + self.linger
        while len(self._pending) < self.batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self.connection.drain_events(timeout=remaining)
            except TimeoutError:
                break
        return self._flush()

    def drain(self, timeout: float = 1.0, *, max_seconds: float = 30.0) -> int:
        """Process messages until none arrives for ``timeout`` seconds; the number stored."""
        before = self.stored
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            seen = self.stored + self.failed + self.dead_lettered
            self.pump(timeout)
            if self.stored + self.failed + self.dead_lettered == seen:
                break
        return self.stored - before

    def run(
        self, stop: threading.Event, *, poll: float = 1.0, tick: Callable[[], None] | None = None
    ) -> None:
        """Consume until ``stop``; a lost broker connection is re-established with backoff (the
        unacknowledged messages of the old one are redelivered by the broker). ``tick`` runs
        between batches (the listener's sweep)."""
        delay = 0.5
        while not stop.is_set():
            try:
                self.pump(poll)
                if tick is not None:
                    tick()
                delay = 0.5
            except (*self.connection.connection_errors, *self.connection.channel_errors, OSError) as exc:
                log.warning(
                    "change feed connection lost (%s); reconnecting in %.1fs", type(exc).__name__, delay
                )
                self._reset_channel()
                self._reconnect()
                stop.wait(delay)
                delay = min(delay * 2, 15.0)

    def _reconnect(self) -> None:
        kombu = _kombu()
        try:
            self.connection.release()
        except Exception:  # the socket is already dead
            log.debug("releasing the dead connection failed", exc_info=True)
        self.connection = kombu.Connection(self.url)

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.cancel()
            except Exception:  # the channel may already be gone; closing must not fail
                log.debug("cancelling the consumer failed", exc_info=True)
            self._consumer = None
        self.connection.release()
