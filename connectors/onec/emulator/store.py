"""The emulator's own storage: one JSON document per 1C object, register records, counters and
exchange-plan registrations, on SQLAlchemy Core (an in-memory SQLite database unless a URL is given).

It is deliberately not the hub's database: the emulator stands in for a foreign system. Objects are
kept as whole documents (header plus tabular sections) because 1C reads and writes them whole, and
queries run in Python over the decoded documents: an emulator's data set is small, and one evaluator
then serves ``$filter``, ``Balance(Condition=...)`` and the exchange plan alike.

Every write goes through a ``Tx`` and emits a ``Change``. Listeners registered with ``on_change`` run
inside the same transaction (the exchange plan registers objects there, atomically with the write,
as 1C does); ``after_commit`` listeners get the committed changes (the place for an AMQP publisher).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

Document = dict[str, Any]

metadata = MetaData()
objects = Table(
    "emu_objects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_set", String(200), nullable=False),
    Column("ref", String(36), nullable=False),
    Column("data", Text, nullable=False),
    UniqueConstraint("entity_set", "ref"),
)
records = Table(
    "emu_register_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("register", String(200), nullable=False, index=True),
    Column("recorder", String(36), nullable=False, index=True),
    Column("recorder_type", String(200), nullable=False),
    Column("line_number", Integer, nullable=False),
    Column("period", String(19), nullable=False),
    Column("record_type", String(10), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("data", Text, nullable=False),
)
counters = Table(
    "emu_counters",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("value", Integer, nullable=False),
)
registrations = Table(
    "emu_registrations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node", String(36), nullable=False),
    Column("entity_set", String(200), nullable=False),
    Column("key", String(36), nullable=False),
    Column("message_no", Integer, nullable=True),
    UniqueConstraint("node", "entity_set", "key"),
)

DATA_VERSION_ZERO = "AAAAAAAAAAA="


def data_version(counter: int) -> str:
    """1C's DataVersion: base64 of 8 bytes; observed values look like a 32-bit counter then zeros."""
    return base64.b64encode(struct.pack(">II", counter & 0xFFFFFFFF, 0)).decode("ascii")


@dataclass(frozen=True)
class Change:
    """One written object (``entity_set`` + ``key``: a Ref_Key, or a Recorder for register records).

    ``origin_node`` is the exchange-plan node whose credentials made the write (None for others)."""

    entity_set: str
    key: str
    kind: Literal["write", "delete"]
    origin_node: str | None


ChangeListener = Callable[["Tx", Change], None]
CommitListener = Callable[[list[Change]], None]


@dataclass
class Tx:
    """One write transaction. Documents are plain dicts of wire values (see ``odata.values``)."""

    conn: Connection
    origin_node: str | None
    listeners: list[ChangeListener]
    changes: list[Change] = field(default_factory=list)

    # --- objects ---------------------------------------------------------------------------------
    def get(self, entity_set: str, ref: str) -> Document | None:
        row = self.conn.execute(
            select(objects.c.data).where(objects.c.entity_set == entity_set, objects.c.ref == ref)
        ).first()
        return None if row is None else dict(json.loads(row[0]))

    def all(self, entity_set: str) -> list[Document]:
        """Every object of the set in creation order (1C's default order is not specified either)."""
        rows = self.conn.execute(
            select(objects.c.data).where(objects.c.entity_set == entity_set).order_by(objects.c.id)
        )
        return [dict(json.loads(r[0])) for r in rows]

    def insert(self, entity_set: str, doc: Document, *, notify: bool = True) -> Document:
        doc = {**doc, "DataVersion": DATA_VERSION_ZERO}
        self.conn.execute(insert(objects).values(entity_set=entity_set, ref=doc["Ref_Key"], data=_dump(doc)))
        if notify:
            self.notify(entity_set, doc["Ref_Key"], "write")
        return doc

    def replace(self, entity_set: str, doc: Document, *, notify: bool = True) -> Document:
        """Store the whole new state; DataVersion changes even when nothing else did, as in 1C."""
        doc = {**doc, "DataVersion": data_version(self.next_counter("DataVersion"))}
        self.conn.execute(
            update(objects)
            .where(objects.c.entity_set == entity_set, objects.c.ref == doc["Ref_Key"])
            .values(data=_dump(doc))
        )
        if notify:
            self.notify(entity_set, doc["Ref_Key"], "write")
        return doc

    def delete(self, entity_set: str, ref: str) -> bool:
        result = self.conn.execute(
            delete(objects).where(objects.c.entity_set == entity_set, objects.c.ref == ref)
        )
        if result.rowcount:
            self.notify(entity_set, ref, "delete")
        return bool(result.rowcount)

    def next_counter(self, name: str) -> int:
        current = self.conn.execute(select(counters.c.value).where(counters.c.name == name)).scalar()
        if current is None:
            self.conn.execute(insert(counters).values(name=name, value=1))
            return 1
        self.conn.execute(update(counters).where(counters.c.name == name).values(value=current + 1))
        return int(current) + 1

    # --- register records --------------------------------------------------------------------------
    def records(self, register: str, recorder: str | None = None) -> list[Document]:
        query = select(records).where(records.c.register == register)
        if recorder is not None:
            query = query.where(records.c.recorder == recorder)
        out: list[Document] = []
        for row in self.conn.execute(query.order_by(records.c.id)):
            out.append(
                {
                    "Recorder": row.recorder,
                    "Recorder_Type": row.recorder_type,
                    "Period": row.period,
                    "LineNumber": row.line_number,
                    "Active": row.active,
                    "RecordType": row.record_type,
                    **json.loads(row.data),
                }
            )
        return out

    def replace_records(self, register: str, recorder: str, recorder_type: str, rows: list[Document]) -> None:
        """Write a register's record set for one recorder (empty ``rows`` clears it), like 1C's
        ``RecordSet.Write()`` with replacement."""
        self.conn.execute(
            delete(records).where(records.c.register == register, records.c.recorder == recorder)
        )
        for number, row in enumerate(rows, start=1):
            values = {k: v for k, v in row.items() if k not in ("Period", "RecordType", "Active")}
            self.conn.execute(
                insert(records).values(
                    register=register,
                    recorder=recorder,
                    recorder_type=recorder_type,
                    line_number=number,
                    period=row["Period"],
                    record_type=row.get("RecordType", "Receipt"),
                    active=bool(row.get("Active", True)),
                    data=_dump(values),
                )
            )
        self.notify(register, recorder, "write")

    def recorders(self, register: str) -> list[tuple[str, str]]:
        """(Recorder, Recorder_Type) of every record set of the register, in first-write order."""
        query = (
            select(records.c.recorder, records.c.recorder_type, func.min(records.c.id).label("first"))
            .where(records.c.register == register)
            .group_by(records.c.recorder, records.c.recorder_type)
            .order_by("first")
        )
        return [(r.recorder, r.recorder_type) for r in self.conn.execute(query)]

    # --- change notification -----------------------------------------------------------------------
    def notify(self, entity_set: str, key: str, kind: Literal["write", "delete"]) -> None:
        change = Change(entity_set, key, kind, self.origin_node)
        self.changes.append(change)
        for listener in self.listeners:
            listener(self, change)


def _dump(doc: Document) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class Store:
    """The emulator's database. ``database_url=None`` is a private in-memory SQLite database."""

    def __init__(self, database_url: str | None = None) -> None:
        self.engine = _engine(database_url)
        metadata.create_all(self.engine)
        self._listeners: list[ChangeListener] = []
        self._after_commit: list[CommitListener] = []

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(tx, change)`` inside the writing transaction (e.g. exchange registration)."""
        self._listeners.append(listener)

    def after_commit(self, listener: CommitListener) -> None:
        """Call ``listener(changes)`` once a transaction committed (e.g. a message publisher)."""
        self._after_commit.append(listener)

    @contextmanager
    def begin(self, origin_node: str | None = None) -> Iterator[Tx]:
        with self.engine.begin() as conn:
            tx = Tx(conn, origin_node, self._listeners)
            yield tx
        if tx.changes:
            for listener in self._after_commit:
                listener(list(tx.changes))

    def reset(self) -> None:
        """Empty every table (objects, records, counters, registrations)."""
        with self.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())

    def dispose(self) -> None:
        self.engine.dispose()


def _engine(database_url: str | None) -> Engine:
    if database_url is None or database_url in ("sqlite://", "sqlite:///:memory:"):
        return create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool, future=True
        )
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(database_url, connect_args={"check_same_thread": False, "timeout": 30})
    return create_engine(database_url, pool_pre_ping=True)
