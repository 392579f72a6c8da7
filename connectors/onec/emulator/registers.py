"""Accumulation registers: what posting a document writes, and the ``Balance`` virtual table.

Posting follows the document's ``posting`` rules in the configuration: one record per tabular row,
``Recorder`` = the document, ``Period`` = its date. Re-posting replaces the document's records and
``Unpost`` deletes them, as 1C's record sets do. ``Balance(Period=…)`` sums the records strictly
before ``Period`` — 1C's ``Остатки(&Дата)`` with a date boundary excludes that moment — and, like 1C,
leaves out dimension combinations whose every resource is zero.

Record sets can also be written and deleted directly over OData (``POST``/``DELETE`` of
``AccumulationRegister_X``), as a 1C base allows: ``record_set_from_body`` turns such a body into rows.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .odata.errors import bad_body_literal, handler_failed
from .odata.values import from_body, parse_guid
from .schema import NAMESPACE, ROW_PREFIX, Config, EntitySet, Register
from .store import Document, Tx

RowFilter = Callable[[dict[str, Any]], bool]


def _source(doc: Document, row: Document, source: str) -> Any:
    if source.startswith(ROW_PREFIX):
        return row.get(source[len(ROW_PREFIX) :])
    return doc.get(source)


def _matches(when: dict[str, Any], values: Document) -> bool:
    return all(values.get(name) == value for name, value in when.items())


def records_of(config: Config, eset: EntitySet, doc: Document) -> dict[str, list[Document]]:
    """The records posting ``doc`` writes, per register (every register of the rules, maybe empty).

    A rule applies when its header ``when`` matches the document; its ``row.`` conditions then pick
    the rows. Dimensions and resources a rule leaves out get their empty value."""
    per_register: dict[str, list[Document]] = {rule.register: [] for rule in eset.posting}
    for rule in eset.posting:
        if not _matches(rule.header_when, doc):
            continue
        row_when = rule.row_when
        register = config.registers[rule.register]
        for row in doc.get(rule.rows, []):
            if row_when and not _matches(row_when, row):
                continue
            record: Document = {
                "Period": doc.get(rule.period),
                "RecordType": rule.record_type,
                "Active": True,
            }
            for dim, source in rule.dimensions.items():
                f = register.dimensions.get(f"{dim}_Key", None)
                name = f.name if f else dim
                record[name] = _source(doc, row, source) or (f.empty() if f else None)
            for name, f in register.dimensions.items():
                record.setdefault(name, f.empty())
            for res in register.resources:
                res_source = rule.resources.get(res)
                value = _source(doc, row, res_source) if res_source is not None else None
                record[res] = str(Decimal(str(value or "0")))
            per_register[rule.register].append(record)
    return per_register


def post(tx: Tx, config: Config, eset: EntitySet, doc: Document) -> Document:
    """Write the document's register records and mark it posted; returns the stored document."""
    per_register = records_of(config, eset, doc)
    stored = tx.replace(eset.name, {**doc, "Posted": True})  # the document first, then its records
    _write(tx, eset, doc["Ref_Key"], per_register)
    return stored


def post_new(tx: Tx, config: Config, eset: EntitySet, doc: Document) -> Document:
    """Write a new document in posting mode (1C's ``Записать(РежимЗаписиДокумента.Проведение)``):
    one write of the document, already ``Posted``, then its records; returns the stored document."""
    per_register = records_of(config, eset, doc)
    stored = tx.insert(eset.name, {**doc, "Posted": True})
    _write(tx, eset, doc["Ref_Key"], per_register, new=True)
    return stored


def unpost(tx: Tx, eset: EntitySet, doc: Document) -> Document:
    """Delete the document's register records and clear ``Posted``."""
    stored = tx.replace(eset.name, {**doc, "Posted": False})
    clear_records(tx, eset, doc["Ref_Key"])
    return stored


def clear_records(tx: Tx, eset: EntitySet, ref: str) -> None:
    """Delete a document's register records (unposting, deletion mark, physical deletion)."""
    _write(tx, eset, ref, {rule.register: [] for rule in eset.posting})


def _write(
    tx: Tx, eset: EntitySet, ref: str, per_register: dict[str, list[Document]], *, new: bool = False
) -> None:
    for register, rows in per_register.items():
        if rows:
            tx.replace_records(register, ref, f"{NAMESPACE}.{eset.name}", rows, new=new)
        elif not new and tx.has_records(register, ref):
            tx.replace_records(register, ref, f"{NAMESPACE}.{eset.name}", rows)


RECORD_TYPES = ("Receipt", "Expense")


def record_set_from_body(register: Register, body: dict[str, Any]) -> tuple[str, str, list[Document]]:
    """(Recorder, Recorder_Type, rows) of a record-set POST body; rows in ``LineNumber`` order.

    Like object writes, unknown fields are ignored and missing ones take their empty value; 1C numbers
    the records itself. A wrong literal is 400/1, a row that is not an object 500 (broken body)."""
    raw_recorder = body.get("Recorder")
    recorder = parse_guid(raw_recorder) if isinstance(raw_recorder, str) else None
    if recorder is None:
        raise bad_body_literal(f"Неверный литерал типа Edm.Guid в поле Recorder: {raw_recorder!r}")
    recorder_type = body.get("Recorder_Type")
    if not isinstance(recorder_type, str) or not recorder_type.startswith(f"{NAMESPACE}.Document_"):
        raise bad_body_literal(f"Неверный тип регистратора в поле Recorder_Type: {recorder_type!r}")
    raw_rows = body.get("RecordSet", [])
    if not isinstance(raw_rows, list) or not all(isinstance(r, dict) for r in raw_rows):
        raise handler_failed("Ошибка разбора JSON: RecordSet должен быть массивом объектов")
    fields = register.row_fields()
    skip = {"Recorder", "Recorder_Type", "LineNumber"}
    rows: list[tuple[int, Document]] = []
    for index, raw in enumerate(raw_rows, start=1):
        row: Document = {}
        for name, f in fields.items():
            if name not in skip:
                row[name] = from_body(f, raw[name]) if name in raw else f.empty()
        if row["RecordType"] not in RECORD_TYPES:
            raise bad_body_literal(f"Неверное значение поля RecordType: {row['RecordType']!r}")
        number = from_body(fields["LineNumber"], raw["LineNumber"]) if "LineNumber" in raw else index
        rows.append((int(number), row))
    rows.sort(key=lambda pair: pair[0])
    return recorder, recorder_type, [row for _, row in rows]


def balance(
    register: Register,
    records: list[Document],
    *,
    period: str | None = None,
    condition: RowFilter | None = None,
    dimensions: list[str] | None = None,
) -> list[Document]:
    """Rows of ``Balance``: dimension keys plus ``<Resource>Balance``, in first-seen order."""
    dims = [d for d in register.dimensions if dimensions is None or d in dimensions or d[:-4] in dimensions]
    totals: dict[tuple[Any, ...], dict[str, Decimal]] = {}
    for record in records:
        if not record.get("Active", True) or (period is not None and record["Period"] >= period):
            continue
        if condition is not None and not condition(record):
            continue
        key = tuple(record.get(d) for d in dims)
        sums = totals.setdefault(key, {r: Decimal(0) for r in register.resources})
        sign = 1 if record.get("RecordType") == "Receipt" else -1
        for res in register.resources:
            sums[res] += sign * Decimal(str(record.get(res) or "0"))
    out: list[Document] = []
    for key, sums in totals.items():
        if all(value == 0 for value in sums.values()):
            continue
        row: Document = dict(zip(dims, key, strict=True))
        row.update({f"{res}Balance": str(value) for res, value in sums.items()})
        out.append(row)
    return out


def _dims(register: Register, dimensions: list[str] | None) -> list[str]:
    return [d for d in register.dimensions if dimensions is None or d in dimensions or d[:-4] in dimensions]


def turnovers(
    register: Register,
    records: list[Document],
    *,
    start: str | None = None,
    end: str | None = None,
    condition: RowFilter | None = None,
    dimensions: list[str] | None = None,
    opening: bool = False,
) -> list[Document]:
    """Rows of ``Turnovers`` (``opening=False``) or ``BalanceAndTurnovers`` (``opening=True``).

    The period is inclusive at both ends (1C's ``НачалоПериода``/``КонецПериода`` given as dates);
    records before ``start`` make the opening balance. Rows whose every figure is zero are left out."""
    dims = _dims(register, dimensions)
    zero = {r: Decimal(0) for r in register.resources}
    figures: dict[tuple[Any, ...], dict[str, dict[str, Decimal]]] = {}
    for record in records:
        if not record.get("Active", True):
            continue
        period = record["Period"]
        if end is not None and period > end:
            continue
        before = start is not None and period < start
        if before and not opening:
            continue
        if condition is not None and not condition(record):
            continue
        key = tuple(record.get(d) for d in dims)
        sums = figures.setdefault(key, {"opening": dict(zero), "receipt": dict(zero), "expense": dict(zero)})
        receipt = record.get("RecordType") == "Receipt"
        for res in register.resources:
            amount = Decimal(str(record.get(res) or "0"))
            if before:
                sums["opening"][res] += amount if receipt else -amount
            else:
                sums["receipt" if receipt else "expense"][res] += amount
    out: list[Document] = []
    for key, f in figures.items():
        row: Document = dict(zip(dims, key, strict=True))
        values: list[Decimal] = []
        for res in register.resources:
            receipt, expense, start_balance = f["receipt"][res], f["expense"][res], f["opening"][res]
            turnover = receipt - expense
            if opening:
                parts = {
                    "OpeningBalance": start_balance,
                    "Receipt": receipt,
                    "Expense": expense,
                    "Turnover": turnover,
                    "ClosingBalance": start_balance + turnover,
                }
            elif register.kind == "balance":
                parts = {"Receipt": receipt, "Expense": expense, "Turnover": turnover}
            else:
                parts = {"Turnover": receipt + expense}  # a turnover register's records only add
            row.update({f"{res}{name}": str(value) for name, value in parts.items()})
            values.extend(parts.values())
        if any(v != 0 for v in values):
            out.append(row)
    return out
