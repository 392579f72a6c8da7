"""Optional AMQP publishing: every committed change also goes to a RabbitMQ topic exchange as JSON,
the way 1C integrations do it through a RabbitMQ add-in (e.g. PinkRabbitMQ) from an event subscription.

Attached through the store's ``after_commit`` hook, so a message is only published for data that
was really committed. The message carries the object's state as that commit left it, in the same
wire form as ``SelectChanges`` (Int64 as strings, guids lower-case) so a consumer can treat both
feeds alike; an object written several times in one transaction is one message (its last state):

    routing key  <EntitySet>.changed | <EntitySet>.deleted
    body         {"entity_set", "key", "kind", "data_version", "origin_node", "changed_at", "object"}

Publishing uses publisher confirms and never breaks the emulator's write: a broker that is down or
refuses a message costs a logged warning and a count in ``failures`` (the exchange plan still has
the change), not a failed write. Two ways to publish:

- synchronous (the default): each change is published and confirmed inside ``after_commit``, so
  when a write returns its messages are in the broker (``published`` counts them already). One
  broker round trip per change on the writer's thread.
- ``background=True``: ``after_commit`` only serializes the changes and queues them; one publisher
  thread sends them in commit order, many per batch, and waits for the broker's confirms of the
  whole batch (pipelined, not one round trip per message). Order is kept; a batch the broker did
  not confirm is sent once more on a fresh connection, then counted in ``failures`` and logged.
  ``flush()`` waits until everything queued is confirmed or failed; ``close()`` flushes and stops.
  A full queue (the broker far behind) counts the change as a failure instead of growing without
  bound.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import queue
import struct
import threading
import time
from typing import TYPE_CHECKING, Any

from .odata.model import entity_types
from .odata.serialize import entity
from .store import Change

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from .app import Emulator

log = logging.getLogger(__name__)

Message = tuple[str, bytes]  # routing key, JSON body
_STOP = object()
MESSAGE_PROPERTIES: dict[str, Any] = {
    "content_type": "application/json",
    "content_encoding": "utf-8",
    "delivery_mode": 2,
}
_FRAME_END = b"\xce"


def _publish_frames(channel: Any, exchange: str, batch: list[Message]) -> bytes | None:
    """``basic.publish`` of every message as AMQP 0-9-1 frames (method, content header, body),
    written by the caller in one go: py-amqp writes each message separately, and those writes
    (each one releasing and retaking the GIL) cost more than the messages. None when the channel
    is not py-amqp's (then each message goes through ``basic_publish``)."""
    try:
        amqp = _amqp()
        serialization = importlib.import_module("amqp.serialization")
        spec = importlib.import_module("amqp.spec")
        channel_id = int(channel.channel_id)
        frame_max = int(channel.connection.frame_max)
        if not hasattr(channel.connection.transport, "write"):
            return None
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    properties = amqp.Message(b"", **MESSAGE_PROPERTIES)._serialize_properties()
    method = struct.pack(">HH", *spec.Basic.Publish)
    chunk = frame_max - 8
    parts: list[bytes] = []
    for routing_key, body in batch:
        args = serialization.dumps("Bssbb", (0, exchange, routing_key, False, False))
        payload = method + args
        parts += [struct.pack(">BHI", 1, channel_id, len(payload)), payload, _FRAME_END]
        header = struct.pack(">HHQ", spec.Basic.Publish[0], 0, len(body)) + properties
        parts += [struct.pack(">BHI", 2, channel_id, len(header)), header, _FRAME_END]
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            parts += [struct.pack(">BHI", 3, channel_id, len(piece)), piece, _FRAME_END]
    return b"".join(parts)


def _kombu() -> Any:
    """kombu, imported lazily (only the AMQP variant needs a broker) and typed as Any: it ships
    partial annotations that strict mypy cannot check against."""
    return importlib.import_module("kombu")


def _amqp() -> Any:
    return importlib.import_module("amqp")


class ChangePublisher:
    """Publishes committed changes of one emulated base. Thread-safe; reconnects on demand."""

    #: Seconds a background publisher leaves an unreachable broker alone before connecting again.
    RETRY_AFTER = 1.0

    def __init__(
        self,
        emulator: Emulator,
        url: str,
        exchange: str,
        *,
        background: bool = False,
        max_queue: int = 200_000,
        batch_size: int = 500,
        linger: float = 0.02,
    ) -> None:
        kombu = _kombu()

        self.emulator = emulator
        self.types = entity_types(emulator.config)
        self.exchange = kombu.Exchange(exchange, type="topic", durable=True)
        self.background = background
        options = {} if background else {"confirm_publish": True}
        self.connection = kombu.Connection(url, transport_options=options)
        self.published = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._counts = threading.Lock()
        self._producer: Any = None
        self._channel: Any = None
        self._acked = 0
        self._nacked: set[int] = set()
        self._sent = 0
        self._first = 1
        self._down_until = 0.0
        self._batch_size = batch_size
        self._linger = linger
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="onec-emulator-amqp", daemon=True)
            self._thread.start()

    # --- messages ------------------------------------------------------------------------------------
    def message(self, change: Change) -> tuple[str, dict[str, Any]]:
        """The routing key and body of one change, with the state the change wrote (read from the
        store when the change did not carry it)."""
        etype = self.types.get(change.entity_set)
        state: dict[str, Any] | None = None
        if etype is not None and change.kind == "write" and change.state is not None:
            state = entity(etype, change.state)
        elif etype is not None and change.kind == "write":
            with self.emulator.store.begin() as tx:
                if etype.role == "recordset":
                    records = tx.records(change.entity_set, change.key)
                    rtype = records[0]["Recorder_Type"] if records else "StandardODATA.Undefined"
                    doc = {"Recorder": change.key, "Recorder_Type": rtype, "RecordSet": records}
                    state = entity(etype, doc)
                else:
                    stored = tx.get(change.entity_set, change.key)
                    state = None if stored is None else entity(etype, stored)
        kind = "delete" if change.kind == "delete" or state is None else "write"
        body = {
            "entity_set": change.entity_set,
            "key": change.key,
            "kind": kind,
            "data_version": None if state is None else state.get("DataVersion"),
            "origin_node": change.origin_node,
            "changed_at": change.at.isoformat(),
            "object": state,
        }
        return f"{change.entity_set}.{'deleted' if kind == 'delete' else 'changed'}", body

    def encode(self, change: Change) -> Message:
        routing_key, body = self.message(change)
        return routing_key, json.dumps(body, ensure_ascii=False).encode("utf-8")

    @staticmethod
    def _latest(changes: list[Change]) -> list[Change]:
        """One change per object, in the order objects were first written, with the last state."""
        latest: dict[tuple[str, str], Change] = {}
        for change in changes:
            latest[(change.entity_set, change.key)] = change  # keeps the first position
        return list(latest.values())

    # --- the after_commit listener -------------------------------------------------------------------
    def publish(self, changes: list[Change]) -> None:
        """The ``after_commit`` listener: publish (or queue) each change; log, never raise."""
        for change in self._latest(changes):
            try:
                message = self.encode(change)
            except Exception as exc:
                self._failed(1, f"the change of {change.entity_set} {change.key}", exc)
                continue
            if self.background:
                try:
                    self._queue.put_nowait(message)
                except queue.Full:
                    self._failed(1, f"the change of {change.entity_set} {change.key} (queue full)", None)
                continue
            try:
                with self._lock:
                    self._publish(*message)
                self._count(published=1)
            except Exception as exc:
                self._failed(1, f"the change of {change.entity_set} {change.key}", exc)

    def _count(self, *, published: int = 0, failures: int = 0) -> None:
        with self._counts:
            self.published += published
            self.failures += failures

    def _failed(self, count: int, what: str, exc: BaseException | None) -> None:
        self._count(failures=count)
        reason = type(exc).__name__ if exc is not None else "dropped"
        log.warning("publishing %s failed: %s", what, reason)

    # --- synchronous publishing ----------------------------------------------------------------------
    def _publish(self, routing_key: str, body: bytes) -> None:
        if self._producer is None:
            self._producer = self.connection.Producer()
        try:
            self._producer.publish(
                body,
                exchange=self.exchange,
                routing_key=routing_key,
                declare=[self.exchange],
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2},
            )
        except Exception:
            self._producer = None  # a broken channel is rebuilt on the next change
            raise

    # --- background publishing -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[Message] = []
            stop = item is _STOP
            if not stop:
                batch.append(item)
            if not stop and self._linger:
                # Sleep a moment so that a stream of commits goes out in batches of many messages
                # (one confirm wait each) and the writer, sharing the GIL, is not woken per message.
                time.sleep(self._linger)
            while not stop and len(batch) < self._batch_size:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                else:
                    batch.append(more)
            try:
                if batch:
                    self._send_batch(batch)
            finally:
                for _ in range(len(batch) + (1 if stop else 0)):
                    self._queue.task_done()
            if stop:
                return

    def _send_batch(self, batch: list[Message]) -> None:
        """Publish the batch and wait for its confirms; on a failure send the unconfirmed rest once
        more on a fresh channel, then count what is still unconfirmed as failed. A broker that could
        not be reached is not tried again for ``RETRY_AFTER`` seconds: batches meanwhile fail at
        once (counted and logged), so the queue does not back up behind connection attempts."""
        if time.monotonic() < self._down_until:
            self._failed(len(batch), f"{len(batch)} changes (broker unreachable)", None)
            return
        pending = batch
        for attempt in (1, 2):
            self._first = self._sent + 1
            try:
                confirmed = self._send_confirmed(pending)
            except Exception as exc:
                connected = self._channel is not None
                done = min(max(self._acked - self._first + 1, 0), len(pending)) if connected else 0
                self._count(published=done)
                pending = pending[done:]
                self._reset_channel()
                if attempt == 2 or not connected:
                    if not connected:
                        self._down_until = time.monotonic() + self.RETRY_AFTER
                    self._failed(len(pending), f"{len(pending)} changes", exc)
                    return
                continue
            self._count(published=confirmed)
            if confirmed < len(pending):  # nacked by the broker: not retried (it said no)
                self._failed(len(pending) - confirmed, f"{len(pending) - confirmed} changes (nack)", None)
            return

    def _confirm_channel(self) -> Any:
        if self._channel is None:
            channel = self.connection.channel()
            self.exchange(channel).declare()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            self._channel, self._sent, self._acked = channel, 0, 0
            self._nacked.clear()
        return self._channel

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._acked = max(self._acked, delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._nacked.update(range(self._acked + 1, delivery_tag + 1))
        else:
            self._nacked.add(delivery_tag)
        self._acked = max(self._acked, delivery_tag)

    def _send_confirmed(self, batch: list[Message], timeout: float = 10.0) -> int:
        """Publish every message, then wait until the broker confirmed up to the last one; the
        number of messages it acknowledged (not nacked)."""
        channel = self._confirm_channel()
        first = self._first = self._sent + 1
        frames = _publish_frames(channel, self.exchange.name, batch)
        if frames is not None:  # the whole batch in one write: cheap for the writer sharing the GIL
            channel.connection.transport.write(frames)
            self._sent += len(batch)
        else:
            amqp = _amqp()
            for routing_key, body in batch:
                message = amqp.Message(body, **MESSAGE_PROPERTIES)
                channel.basic_publish(message, exchange=self.exchange.name, routing_key=routing_key)
                self._sent += 1
        deadline = time.monotonic() + timeout
        while self._acked < self._sent:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no publisher confirm from the broker")
            self.connection.drain_events(timeout=left)
        nacked = sum(1 for tag in range(first, self._sent + 1) if tag in self._nacked)
        self._nacked.difference_update(range(first, self._sent + 1))
        return len(batch) - nacked

    def _reset_channel(self) -> None:
        self._channel = None
        with contextlib.suppress(Exception):
            self.connection.collect()  # drop the broken connection; the next batch reconnects

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued change was confirmed or counted as failed; False on timeout.
        Synchronous publishing has nothing queued."""
        if not self.background:
            return True
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    @property
    def queued(self) -> int:
        """Changes waiting for the publisher thread (background publishing)."""
        return self._queue.qsize()

    # --- lifecycle -----------------------------------------------------------------------------------
    def declare(self) -> None:
        """Declare the exchange up front, as the 1C add-in does when it connects: consumers may bind
        to it before the first change. A broker that is down is logged; publishing retries later."""
        try:
            with self._lock:
                self.exchange(self.connection.default_channel).declare()
        except Exception as exc:
            log.warning("declaring exchange %s failed: %s", self.exchange.name, type(exc).__name__)

    def close(self, timeout: float = 30.0) -> None:
        """Stop publishing: the background thread first sends what is queued (up to ``timeout``)."""
        if self._thread is not None:
            self.flush(timeout)
            self._queue.put(_STOP)
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            self._producer = None
            self._channel = None
            self.connection.release()


def attach_publisher(
    target: Emulator | Starlette, url: str, exchange: str, *, background: bool = False
) -> ChangePublisher:
    """Publish every committed change of the emulator (or the app ``create_app`` made) to ``exchange``.

    ``background=True`` publishes from a thread with pipelined confirms (for sustained write rates;
    call ``flush()`` to wait for the broker); the default publishes synchronously in the commit."""
    emulator: Emulator = target.state.emulator if hasattr(target, "state") else target
    publisher = ChangePublisher(emulator, url, exchange, background=background)
    publisher.declare()
    emulator.store.after_commit(publisher.publish)
    return publisher
