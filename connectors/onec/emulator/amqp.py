"""Optional AMQP publishing: every committed change also goes to a RabbitMQ topic exchange as JSON,
the way 1C integrations do it through a RabbitMQ add-in (e.g. PinkRabbitMQ) from an event subscription.

Attached through the store's ``after_commit`` hook, so a message is only published for data that
was really committed. The message carries the object's current state in the same wire form as
``SelectChanges`` (Int64 as strings, guids lower-case) so a consumer can treat both feeds alike:

    routing key  <EntitySet>.changed | <EntitySet>.deleted
    body         {"entity_set", "key", "kind", "data_version", "origin_node", "object"}

Publishing uses publisher confirms and never breaks the emulator's request: a broker that is down
costs a logged warning (the exchange plan still has the change), not a failed write.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from .odata.model import entity_types
from .odata.serialize import entity
from .store import Change

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from .app import Emulator

log = logging.getLogger(__name__)


def _kombu() -> Any:
    """kombu, imported lazily (only the AMQP variant needs a broker) and typed as Any: it ships
    partial annotations that strict mypy cannot check against."""
    return importlib.import_module("kombu")


class ChangePublisher:
    """Publishes committed changes of one emulated base. Thread-safe; reconnects on demand."""

    def __init__(self, emulator: Emulator, url: str, exchange: str) -> None:
        kombu = _kombu()

        self.emulator = emulator
        self.types = entity_types(emulator.config)
        self.exchange = kombu.Exchange(exchange, type="topic", durable=True)
        self.connection = kombu.Connection(url, transport_options={"confirm_publish": True})
        self.published = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._producer: Any = None

    def message(self, change: Change) -> tuple[str, dict[str, Any]]:
        """The routing key and body of one change, with the object's state as it is now."""
        etype = self.types.get(change.entity_set)
        state: dict[str, Any] | None = None
        with self.emulator.store.begin() as tx:
            if etype is not None and etype.role == "recordset":
                records = tx.records(change.entity_set, change.key)
                rtype = records[0]["Recorder_Type"] if records else "StandardODATA.Undefined"
                state = entity(etype, {"Recorder": change.key, "Recorder_Type": rtype, "RecordSet": records})
            elif etype is not None:
                stored = tx.get(change.entity_set, change.key)
                state = None if stored is None else entity(etype, stored)
        kind = "delete" if change.kind == "delete" or state is None else "write"
        body = {
            "entity_set": change.entity_set,
            "key": change.key,
            "kind": kind,
            "data_version": None if state is None else state.get("DataVersion"),
            "origin_node": change.origin_node,
            "object": state,
        }
        return f"{change.entity_set}.{'deleted' if kind == 'delete' else 'changed'}", body

    def publish(self, changes: list[Change]) -> None:
        """The ``after_commit`` listener: publish each change; log, never raise."""
        for change in changes:
            try:
                routing_key, body = self.message(change)
                with self._lock:
                    self._publish(routing_key, body)
                self.published += 1
            except Exception as exc:
                self.failures += 1
                log.warning(
                    "publishing the change of %s %s failed: %s",
                    change.entity_set,
                    change.key,
                    type(exc).__name__,
                )

    def _publish(self, routing_key: str, body: dict[str, Any]) -> None:
        if self._producer is None:
            self._producer = self.connection.Producer()
        try:
            self._producer.publish(
                json.dumps(body, ensure_ascii=False).encode("utf-8"),
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

    def declare(self) -> None:
        """Declare the exchange up front, as the 1C add-in does when it connects: consumers may bind
        to it before the first change. A broker that is down is logged; publishing retries later."""
        try:
            with self._lock:
                self.exchange(self.connection.default_channel).declare()
        except Exception as exc:
            log.warning("declaring exchange %s failed: %s", self.exchange.name, type(exc).__name__)

    def close(self) -> None:
        with self._lock:
            self._producer = None
            self.connection.release()


def attach_publisher(target: Emulator | Starlette, url: str, exchange: str) -> ChangePublisher:
    """Publish every committed change of the emulator (or the app ``create_app`` made) to ``exchange``."""
    emulator: Emulator = target.state.emulator if hasattr(target, "state") else target
    publisher = ChangePublisher(emulator, url, exchange)
    publisher.declare()
    emulator.store.after_commit(publisher.publish)
    return publisher
