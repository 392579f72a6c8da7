"""The emulator's own storage: one JSON document per 1C object, register records, counters and
exchange-plan registrations, on SQLAlchemy Core (an in-memory SQLite database unless a URL is given).

It is deliberately not the hub's database: the emulator stands in for a foreign system. Objects are
kept as whole documents (header plus tabular sections) because 1C reads and writes them whole, and
queries run in Python over the decoded documents: one evaluator then serves ``$filter`` and
``Balance(Condition=...)`` alike. What must stay cheap however many objects there are goes through
keys instead: an object by ``Ref_Key``, a register's records by ``Recorder``, the exchange plan's
registrations by node and object, objects by an indexed field (``find``: 1C's "Индексировать") and
the current balance of one dimension value (``totals``: 1C's register totals, kept on every write).

Every write goes through a ``Tx`` and emits a ``Change`` carrying the state it wrote. Listeners
registered with ``on_change`` run inside the same transaction (the exchange plan registers objects
there, atomically with the write, as 1C does); ``after_commit`` listeners get the committed changes
(the place for an AMQP publisher).
"""

from __future__ import annotations

import base64
import contextlib
import json
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
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

# Values of indexed object fields (``find``): one row per object and field with a non-empty value.
object_index = Table(
    "emu_object_index",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entity_set", String(200), nullable=False),
    Column("field", String(200), nullable=False),
    Column("value", String(1024), nullable=False),
    Column("ref", String(36), nullable=False),
    Index("ix_emu_object_index_lookup", "entity_set", "field", "value"),
    Index("ix_emu_object_index_ref", "entity_set", "ref"),
)
# A balance register's current totals per single dimension value: ``data`` holds the resources' sums
# (decimal strings) over every active record, whatever its period (1C's "current totals").
register_totals = Table(
    "emu_register_totals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("register", String(200), nullable=False),
    Column("dimension", String(200), nullable=False),
    Column("value", String(1024), nullable=False),
    Column("data", Text, nullable=False),
    UniqueConstraint("register", "dimension", "value"),
)

DATA_VERSION_ZERO = "AAAAAAAAAAA="

#: Register → (its dimensions, its resources) for the registers whose totals the store keeps.
TotalsSpec = Mapping[str, tuple[Sequence[str], Sequence[str]]]


def data_version(counter: int) -> str:
    """1C's DataVersion: base64 of 8 bytes; observed values look like a 32-bit counter then zeros."""
    return base64.b64encode(struct.pack(">II", counter & 0xFFFFFFFF, 0)).decode("ascii")


@dataclass(frozen=True)
class Change:
    """One written object (``entity_set`` + ``key``: a Ref_Key, or a Recorder for register records).

    ``origin_node`` is the exchange-plan node whose credentials made the write (None for others).
    ``state`` is what the write stored: the object, or ``{"Recorder", "Recorder_Type", "RecordSet"}``
    for a record set (None for a deletion or a write that did not say)."""

    entity_set: str
    key: str
    kind: Literal["write", "delete"]
    origin_node: str | None
    state: Document | None = field(default=None, compare=False, repr=False)
    #: When the write happened (the server's clock, UTC): what 1C's event subscription stamps its
    #: AMQP message with (``changed_at``).
    at: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False, repr=False)


ChangeListener = Callable[["Tx", Change], None]
CommitListener = Callable[[list[Change]], None]


# Statements run on every write, built once: building a Core statement costs more than running it.
_GET = select(objects.c.data).where(
    objects.c.entity_set == bindparam("entity_set"), objects.c.ref == bindparam("ref")
)
_INSERT = insert(objects).values(
    entity_set=bindparam("entity_set"), ref=bindparam("ref"), data=bindparam("data")
)
_UPDATE = (
    update(objects)
    .where(objects.c.entity_set == bindparam("w_set"), objects.c.ref == bindparam("w_ref"))
    .values(data=bindparam("data"))
)
_COUNTER = select(counters.c.value).where(counters.c.name == bindparam("name"))
_COUNTER_NEW = insert(counters).values(name=bindparam("name"), value=bindparam("value"))
_COUNTER_SET = update(counters).where(counters.c.name == bindparam("w_name")).values(value=bindparam("value"))
# SQLite only (the direct path): one statement instead of a read and a write.
_COUNTER_NEXT = (
    update(counters)
    .where(counters.c.name == bindparam("w_name"))
    .values(value=counters.c.value + 1)
    .returning(counters.c.value)
)
_RECORD_COLUMNS = (
    records.c.recorder,
    records.c.recorder_type,
    records.c.period,
    records.c.line_number,
    records.c.active,
    records.c.record_type,
    records.c.data,
)
_RECORDS = (
    select(*_RECORD_COLUMNS)
    .where(records.c.register == bindparam("register"), records.c.recorder == bindparam("recorder"))
    .order_by(records.c.id)
)
_ALL_RECORDS = (
    select(*_RECORD_COLUMNS).where(records.c.register == bindparam("register")).order_by(records.c.id)
)
_HAS_RECORDS = (
    select(records.c.id)
    .where(records.c.register == bindparam("register"), records.c.recorder == bindparam("recorder"))
    .limit(1)
)
_DELETE_RECORDS = delete(records).where(
    records.c.register == bindparam("register"), records.c.recorder == bindparam("recorder")
)
_INSERT_RECORDS = insert(records).values(
    register=bindparam("register"),
    recorder=bindparam("recorder"),
    recorder_type=bindparam("recorder_type"),
    line_number=bindparam("line_number"),
    period=bindparam("period"),
    record_type=bindparam("record_type"),
    active=bindparam("active"),
    data=bindparam("data"),
)
_INDEX_INSERT = insert(object_index).values(
    entity_set=bindparam("entity_set"),
    field=bindparam("field"),
    value=bindparam("value"),
    ref=bindparam("ref"),
)
_INDEX_DELETE = delete(object_index).where(
    object_index.c.entity_set == bindparam("entity_set"), object_index.c.ref == bindparam("ref")
)
_FIND = (
    select(objects.c.data)
    .join(
        object_index,
        (object_index.c.entity_set == objects.c.entity_set) & (object_index.c.ref == objects.c.ref),
    )
    .where(
        object_index.c.entity_set == bindparam("entity_set"),
        object_index.c.field == bindparam("field"),
        object_index.c.value == bindparam("value"),
    )
    .order_by(objects.c.id)
)
_TOTAL = select(register_totals.c.data).where(
    register_totals.c.register == bindparam("register"),
    register_totals.c.dimension == bindparam("dimension"),
    register_totals.c.value == bindparam("value"),
)
_TOTAL_INSERT = insert(register_totals).values(
    register=bindparam("register"),
    dimension=bindparam("dimension"),
    value=bindparam("value"),
    data=bindparam("data"),
)
_TOTAL_UPDATE = (
    update(register_totals)
    .where(
        register_totals.c.register == bindparam("w_register"),
        register_totals.c.dimension == bindparam("w_dimension"),
        register_totals.c.value == bindparam("w_value"),
    )
    .values(data=bindparam("data"))
)

Row = Sequence[Any]
Params = Mapping[str, Any]


class Runner:
    """Runs the store's prebuilt statements. On SQLite (the default, in memory) a statement is
    compiled once to SQL text with positional parameters and run on the driver's own connection,
    in the same transaction: SQLAlchemy's per-execution bookkeeping costs several times the work
    SQLite does for a keyed read or write. Elsewhere, and with ``fast=False``, SQLAlchemy runs it."""

    def __init__(self, engine: Engine, *, fast: bool = True) -> None:
        self.dialect = engine.dialect
        self.fast = fast and engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite"
        self._compiled: dict[int, tuple[Any, str, tuple[str, ...], dict[str, Any]]] = {}

    def sql(self, stmt: Any) -> tuple[str, tuple[str, ...], dict[str, Any]]:
        """SQL text, its parameters' names in order and the values the statement itself binds
        (``limit(1)``, ``message_no=NULL``), compiled on first use."""
        found = self._compiled.get(id(stmt))
        if found is None:
            compiled = stmt.compile(dialect=self.dialect)
            names = tuple(compiled.positiontup or ())
            fixed = {
                compiled.bind_names[bind]: bind.value for bind in compiled.binds.values() if not bind.required
            }
            # the statement is kept with its text: a module constant, so its id is never reused
            found = (stmt, str(compiled), names, fixed)
            self._compiled[id(stmt)] = found
        return found[1], found[2], found[3]

    def args(self, stmt: Any, params: Params) -> tuple[str, list[Any]]:
        sql, names, fixed = self.sql(stmt)
        return sql, [params[n] if n in params else fixed[n] for n in names]


@dataclass
class Tx:
    """One write transaction. Documents are plain dicts of wire values (see ``odata.values``)."""

    conn: Connection
    origin_node: str | None
    listeners: list[ChangeListener]
    changes: list[Change] = field(default_factory=list)
    indexes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    totals_spec: TotalsSpec = field(default_factory=dict)
    runner: Runner | None = None
    _driver: Any = None

    # --- statements ----------------------------------------------------------------------------------
    def _fast(self) -> Any:
        """The driver's connection when statements go straight to it, else None."""
        if self.runner is None or not self.runner.fast:
            return None
        if self._driver is None:
            self._driver = self.conn.connection.dbapi_connection
        return self._driver

    def fetch(self, stmt: Any, params: Params) -> list[Row]:
        driver = self._fast()
        if driver is not None:
            sql, args = self.runner.args(stmt, params)  # type: ignore[union-attr]
            return list(driver.execute(sql, args).fetchall())
        return list(self.conn.execute(stmt, dict(params)))

    def run(self, stmt: Any, params: Params) -> int:
        """Run a write; the number of rows it touched."""
        driver = self._fast()
        if driver is not None:
            sql, args = self.runner.args(stmt, params)  # type: ignore[union-attr]
            return int(driver.execute(sql, args).rowcount)
        return int(self.conn.execute(stmt, dict(params)).rowcount)

    def run_many(self, stmt: Any, rows: Sequence[Params]) -> None:
        if not rows:
            return
        driver = self._fast()
        if driver is not None:
            sql, names, fixed = self.runner.sql(stmt)  # type: ignore[union-attr]
            driver.executemany(sql, [[row[n] if n in row else fixed[n] for n in names] for row in rows])
            return
        self.conn.execute(stmt, [dict(row) for row in rows])

    # --- objects ---------------------------------------------------------------------------------
    def get(self, entity_set: str, ref: str) -> Document | None:
        rows = self.fetch(_GET, {"entity_set": entity_set, "ref": ref})
        return dict(json.loads(rows[0][0])) if rows else None

    def all(self, entity_set: str) -> list[Document]:
        """Every object of the set in creation order (1C's default order is not specified either)."""
        rows = self.conn.execute(
            select(objects.c.data).where(objects.c.entity_set == entity_set).order_by(objects.c.id)
        )
        return [dict(json.loads(r[0])) for r in rows]

    def find(self, entity_set: str, field_name: str, value: Any) -> list[Document]:
        """Objects whose ``field_name`` equals ``value``, in creation order: through the index when the
        field is indexed (``index:`` in the configuration), otherwise by reading the whole set."""
        if field_name in self.indexes.get(entity_set, ()):
            if value in (None, ""):
                return [d for d in self.all(entity_set) if d.get(field_name) in (None, "")]
            params = {"entity_set": entity_set, "field": field_name, "value": str(value)}
            return [dict(json.loads(r[0])) for r in self.fetch(_FIND, params)]
        return [d for d in self.all(entity_set) if d.get(field_name) == value]

    def insert(self, entity_set: str, doc: Document, *, notify: bool = True) -> Document:
        doc = {**doc, "DataVersion": DATA_VERSION_ZERO}
        self.run(_INSERT, {"entity_set": entity_set, "ref": doc["Ref_Key"], "data": _dump(doc)})
        if entity_set in self.indexes:
            self._index(entity_set, doc)
        if notify:
            self.notify(entity_set, doc["Ref_Key"], "write", doc)
        return doc

    def replace(self, entity_set: str, doc: Document, *, notify: bool = True) -> Document:
        """Store the whole new state; DataVersion changes even when nothing else did, as in 1C."""
        doc = {**doc, "DataVersion": data_version(self.next_counter("DataVersion"))}
        self.run(_UPDATE, {"w_set": entity_set, "w_ref": doc["Ref_Key"], "data": _dump(doc)})
        if entity_set in self.indexes:
            self.run(_INDEX_DELETE, {"entity_set": entity_set, "ref": doc["Ref_Key"]})
            self._index(entity_set, doc)
        if notify:
            self.notify(entity_set, doc["Ref_Key"], "write", doc)
        return doc

    def delete(self, entity_set: str, ref: str) -> bool:
        result = self.conn.execute(
            delete(objects).where(objects.c.entity_set == entity_set, objects.c.ref == ref)
        )
        if result.rowcount and entity_set in self.indexes:
            self.run(_INDEX_DELETE, {"entity_set": entity_set, "ref": ref})
        if result.rowcount:
            self.notify(entity_set, ref, "delete")
        return bool(result.rowcount)

    def _index(self, entity_set: str, doc: Document) -> None:
        rows = [
            {"entity_set": entity_set, "field": name, "value": str(doc[name]), "ref": doc["Ref_Key"]}
            for name in self.indexes[entity_set]
            if doc.get(name) not in (None, "")
        ]
        self.run_many(_INDEX_INSERT, rows)

    @property
    def direct(self) -> bool:
        """Statements go straight to SQLite (so SQLite's own statement forms may be used)."""
        return self._fast() is not None

    def next_counter(self, name: str) -> int:
        if self.direct:
            rows = self.fetch(_COUNTER_NEXT, {"w_name": name})
            if rows:
                return int(rows[0][0])
            self.run(_COUNTER_NEW, {"name": name, "value": 1})
            return 1
        rows = self.fetch(_COUNTER, {"name": name})
        if not rows:
            self.run(_COUNTER_NEW, {"name": name, "value": 1})
            return 1
        value = int(rows[0][0]) + 1
        self.run(_COUNTER_SET, {"w_name": name, "value": value})
        return value

    # --- register records --------------------------------------------------------------------------
    def records(self, register: str, recorder: str | None = None) -> list[Document]:
        if recorder is not None:
            rows = self.fetch(_RECORDS, {"register": register, "recorder": recorder})
        else:
            rows = self.fetch(_ALL_RECORDS, {"register": register})
        return [_record(row) for row in rows]

    def has_records(self, register: str, recorder: str) -> bool:
        return bool(self.fetch(_HAS_RECORDS, {"register": register, "recorder": recorder}))

    def replace_records(
        self, register: str, recorder: str, recorder_type: str, rows: list[Document], *, new: bool = False
    ) -> None:
        """Write a register's record set for one recorder (empty ``rows`` clears it), like 1C's
        ``RecordSet.Write()`` with replacement. ``new``: the recorder is known to have no records yet
        (a document written for the first time), so there is nothing to read or delete."""
        spec = self.totals_spec.get(register)
        key = {"register": register, "recorder": recorder}
        old: list[Document] = []
        if not new:
            if spec is not None:
                old = self.records(register, recorder)
            self.run(_DELETE_RECORDS, key)
        values = [
            {
                "register": register,
                "recorder": recorder,
                "recorder_type": recorder_type,
                "line_number": number,
                "period": row["Period"],
                "record_type": row.get("RecordType", "Receipt"),
                "active": bool(row.get("Active", True)),
                "data": _dump({k: v for k, v in row.items() if k not in ("Period", "RecordType", "Active")}),
            }
            for number, row in enumerate(rows, start=1)
        ]
        self.run_many(_INSERT_RECORDS, values)
        if spec is not None:
            self._add_totals(register, spec, old, rows)
        state = {
            "Recorder": recorder,
            "Recorder_Type": recorder_type,
            "RecordSet": [
                {"Recorder": recorder, "Recorder_Type": recorder_type, "LineNumber": number, **row}
                for number, row in enumerate(rows, start=1)
            ],
        }
        self.notify(register, recorder, "write", state)

    def recorders(self, register: str) -> list[tuple[str, str]]:
        """(Recorder, Recorder_Type) of every record set of the register, in first-write order."""
        query = (
            select(records.c.recorder, records.c.recorder_type, func.min(records.c.id).label("first"))
            .where(records.c.register == register)
            .group_by(records.c.recorder, records.c.recorder_type)
            .order_by("first")
        )
        return [(r.recorder, r.recorder_type) for r in self.conn.execute(query)]

    # --- register totals ---------------------------------------------------------------------------
    def totals(self, register: str, dimension: str, value: str) -> dict[str, Decimal]:
        """The current balance (every active record, whatever its period) of the records whose
        ``dimension`` is ``value``, per resource: one lookup when the store keeps the register's
        totals, otherwise summed over all of the register's records."""
        spec = self.totals_spec.get(register)
        if spec is None:
            sums: dict[str, Decimal] = {}
            for record in self.records(register):
                if record.get("Active", True) and record.get(dimension) == value:
                    sign = 1 if record.get("RecordType") == "Receipt" else -1
                    for name, amount in record.items():
                        if name not in _RECORD_FIELDS and name != dimension and _is_number(amount):
                            sums[name] = sums.get(name, Decimal(0)) + sign * Decimal(str(amount))
            return sums
        rows = self.fetch(_TOTAL, {"register": register, "dimension": dimension, "value": str(value)})
        sums = {res: Decimal(0) for res in spec[1]}
        if rows:
            sums.update({res: Decimal(amount) for res, amount in json.loads(rows[0][0]).items()})
        return sums

    def _add_totals(
        self,
        register: str,
        spec: tuple[Sequence[str], Sequence[str]],
        old: list[Document],
        new: list[Document],
    ) -> None:
        dimensions, resources = spec
        deltas: dict[tuple[str, str], dict[str, Decimal]] = {}
        for sign, rows in ((-1, old), (1, new)):
            for row in rows:
                if not row.get("Active", True):
                    continue
                direction = sign if row.get("RecordType", "Receipt") == "Receipt" else -sign
                for dim in dimensions:
                    sums = deltas.setdefault((dim, str(row.get(dim) or "")), {})
                    for res in resources:
                        amount = Decimal(str(row.get(res) or "0"))
                        sums[res] = sums.get(res, Decimal(0)) + direction * amount
        updates: list[Params] = []
        inserts: list[Params] = []
        for (dim, value), delta in deltas.items():
            if not any(delta.values()):
                continue
            found = self.fetch(_TOTAL, {"register": register, "dimension": dim, "value": value})
            before = json.loads(found[0][0]) if found else {}
            data = _dump(
                {res: str(Decimal(before.get(res, "0")) + delta.get(res, Decimal(0))) for res in resources}
            )
            if found:
                updates.append({"w_register": register, "w_dimension": dim, "w_value": value, "data": data})
            else:
                inserts.append({"register": register, "dimension": dim, "value": value, "data": data})
        self.run_many(_TOTAL_UPDATE, updates)
        self.run_many(_TOTAL_INSERT, inserts)

    # --- change notification -----------------------------------------------------------------------
    def notify(
        self, entity_set: str, key: str, kind: Literal["write", "delete"], state: Document | None = None
    ) -> None:
        change = Change(entity_set, key, kind, self.origin_node, state)
        self.changes.append(change)
        for listener in self.listeners:
            listener(self, change)


_RECORD_FIELDS = frozenset({"Recorder", "Recorder_Type", "Period", "LineNumber", "Active", "RecordType"})


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    try:
        Decimal(str(value))
    except ArithmeticError:
        return False
    return True


def _record(row: Row) -> Document:
    """A record from a row of ``_RECORD_COLUMNS``."""
    return {
        "Recorder": row[0],
        "Recorder_Type": row[1],
        "Period": row[2],
        "LineNumber": row[3],
        "Active": bool(row[4]),
        "RecordType": row[5],
        **json.loads(row[6]),
    }


def _dump(doc: Document) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class Store:
    """The emulator's database. ``database_url=None`` is a private in-memory SQLite database.

    ``indexes``: entity set → the fields ``Tx.find`` looks up by value. ``totals``: register →
    (dimensions, resources) of the balance registers whose current totals ``Tx.totals`` reads.
    Both are rebuilt from the stored data when the store opens (a database file from before).
    ``fast=False`` runs every statement through SQLAlchemy, also on SQLite (see ``Runner``)."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        indexes: Mapping[str, Sequence[str]] | None = None,
        totals: TotalsSpec | None = None,
        fast: bool = True,
    ) -> None:
        self.engine = _engine(database_url)
        self.runner = Runner(self.engine, fast=fast)
        metadata.create_all(self.engine)
        self.indexes: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (indexes or {}).items() if v}
        self.totals: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
            k: (tuple(d), tuple(r)) for k, (d, r) in (totals or {}).items()
        }
        self._listeners: list[ChangeListener] = []
        self._after_commit: list[CommitListener] = []
        # One connection shared by every thread (in-memory SQLite): transactions take turns, as
        # 1C's own sessions wait for each other's locks. Commit listeners run inside the turn, so
        # changes are published in commit order.
        self._turn = (
            threading.RLock() if isinstance(self.engine.pool, StaticPool) else contextlib.nullcontext()
        )
        self.rebuild()

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(tx, change)`` inside the writing transaction (e.g. exchange registration)."""
        self._listeners.append(listener)

    def after_commit(self, listener: CommitListener) -> None:
        """Call ``listener(changes)`` once a transaction committed (e.g. a message publisher)."""
        self._after_commit.append(listener)

    @contextmanager
    def begin(self, origin_node: str | None = None) -> Iterator[Tx]:
        with self._turn:
            with self.engine.begin() as conn:
                tx = Tx(
                    conn,
                    origin_node,
                    self._listeners,
                    indexes=self.indexes,
                    totals_spec=self.totals,
                    runner=self.runner,
                )
                yield tx
            if tx.changes:
                for listener in self._after_commit:
                    listener(list(tx.changes))

    def rebuild(self) -> None:
        """Recompute the field indexes and register totals from the objects and records."""
        with self.engine.begin() as conn:
            conn.execute(object_index.delete())
            conn.execute(register_totals.delete())
            tx = Tx(conn, None, [], indexes=self.indexes, totals_spec=self.totals, runner=self.runner)
            for entity_set in self.indexes:
                for doc in tx.all(entity_set):
                    tx._index(entity_set, doc)
            for register, spec in self.totals.items():
                rows = tx.records(register)
                for chunk in _chunks(rows, 500):
                    tx._add_totals(register, spec, [], chunk)

    def reset(self) -> None:
        """Empty every table (objects, records, counters, registrations)."""
        with self._turn, self.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())

    def dispose(self) -> None:
        self.engine.dispose()


def _chunks(rows: list[Document], size: int) -> Iterable[list[Document]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


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
