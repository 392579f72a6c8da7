"""The standard OData interface's request handling: URL → resource → 1C's answer.

Resources under ``/<base>/odata/standard.odata/``: the service document, ``$metadata``, object sets
(``Catalog_X``, ``Document_X``, ``ExchangePlan_X``: list, create, read, PATCH, DELETE, navigation,
``/Post`` and ``/Unpost``), tabular-section sets (read), register record sets (read, POST,
DELETE) and rows (read), the ``Balance(...)`` virtual table, and
``SelectChanges`` / ``NotifyChangesReceived`` of the exchange plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request
from starlette.responses import Response

from .. import registers
from ..exchange import ExchangeService, Registration
from ..objects import ObjectWriter
from ..schema import EMPTY_REF, NAMESPACE, Config, EntitySet, Field
from ..store import Document, Store, Tx
from .errors import (
    ODataError,
    access_denied,
    control_character,
    handler_failed,
    key_exists,
    not_found,
    precondition_failed,
    query_error,
    unknown_member,
)
from .metadata import build_metadata
from .model import EntityType, entity_types
from .query import QueryOptions, check_orderby, parse_filter, parse_parameters
from .serialize import atom_response, element_body, entity, json_response, key_literal, list_body
from .values import parse_datetime, to_wire, typed

_EXCHANGE_POINT = re.compile(r"(ExchangePlan_[^(/]+)\(guid'([0-9A-Fa-f-]{36})'\)")


@dataclass(frozen=True)
class Segment:
    name: str
    params: str | None


def split_path(rest: str) -> list[Segment]:
    """``Catalog_X(guid'…')/Post`` → segments; ``/`` inside quotes or parentheses does not split."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(rest):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == "/":
            parts.append(rest[start:i])
            start = i + 1
    parts.append(rest[start:])
    segments = []
    for part in parts:
        if not part:
            continue
        if "(" in part:
            if not part.endswith(")"):
                raise unknown_member(part)
            name, _, params = part.partition("(")
            segments.append(Segment(name, params[:-1]))
        else:
            segments.append(Segment(part, None))
    return segments


@dataclass
class Call:
    """One request as the handlers see it."""

    request: Request
    root: str
    options: QueryOptions
    origin_node: str | None
    read_only: bool

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def data_load(self) -> bool:
        return self.request.headers.get("1c_odata-dataloadmode", "").lower() == "true"

    def writing(self) -> None:
        if self.read_only:
            raise access_denied()

    async def body(self) -> dict[str, Any]:
        try:
            body = json.loads(await self.request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise handler_failed("Ошибка разбора JSON: неверный формат тела запроса") from None
        if not isinstance(body, dict):
            raise handler_failed("Ошибка разбора JSON: ожидался объект")
        return body


class ODataService:
    def __init__(
        self, config: Config, store: Store, exchange: ExchangeService, *, strict: bool = False
    ) -> None:
        self.config = config
        self.store = store
        self.exchange = exchange
        self.strict = strict
        self.types = entity_types(config)
        self.writer = ObjectWriter(config)
        self._metadata = build_metadata(config)

    # --- entry point -----------------------------------------------------------------------------------
    async def handle(self, call: Call, rest: str) -> Response:
        segments = split_path(rest)
        if not segments:
            return self._service_document(call)
        head = segments[0]
        if head.name == "$metadata" and len(segments) == 1 and head.params is None:
            return Response(self._metadata, media_type="application/xml;charset=utf-8")
        if head.name in ("SelectChanges", "NotifyChangesReceived") and len(segments) == 1:
            if call.method != "POST":
                raise unknown_member(f"{head.name} ({call.method})")
            return self._exchange(call, head.name)
        etype = self.types.get(head.name)
        if etype is None or etype.role == "balance":
            raise unknown_member(head.name)
        if len(segments) == 1 and head.params is None:
            return await self._collection(call, etype)
        if len(segments) == 1:
            return await self._single(call, etype, head.params or "")
        if len(segments) == 2 and head.params is None and etype.role == "recordset":
            return self._virtual_table(call, etype, segments[1])
        if len(segments) == 2 and head.params is not None and etype.role == "object":
            return await self._bound(call, etype, head.params, segments[1])
        raise unknown_member("/".join(s.name for s in segments[1:]))

    # --- collections -----------------------------------------------------------------------------------
    async def _collection(self, call: Call, etype: EntityType) -> Response:
        if call.method == "POST" and etype.role == "object":
            return await self._create(call, self.config.entity_sets[etype.name])
        if call.method == "POST" and etype.role == "recordset":
            return await self._create_record_set(call, etype)
        if call.method != "GET":
            raise unknown_member(f"{etype.name} ({call.method})")
        with self.store.begin() as tx:
            rows = self._rows(tx, etype)
            return self._list(call, etype, rows, tx)

    def _rows(self, tx: Tx, etype: EntityType) -> list[Document]:
        if etype.role == "object":
            return tx.all(etype.name)
        if etype.role == "section":
            assert etype.owner and etype.section
            return [
                {"Ref_Key": doc["Ref_Key"], **row}
                for doc in tx.all(etype.owner)
                for row in doc.get(etype.section, [])
            ]
        if etype.role == "recordset":
            return [
                {"Recorder": rec, "Recorder_Type": rtype, "RecordSet": tx.records(etype.name, rec)}
                for rec, rtype in tx.recorders(etype.name)
            ]
        register = etype.name.removesuffix("_RecordType")
        return tx.records(register)

    def _list(
        self, call: Call, etype: EntityType, rows: list[Document], tx: Tx, metadata_name: str | None = None
    ) -> Response:
        options = call.options
        if options.filter is not None:
            predicate = parse_filter(
                options.filter, etype.fields, typed, etype.collections, etype.owner or etype.name
            )
            rows = [r for r in rows if predicate(r)]
        check_orderby(options, etype.fields)
        for name, descending in reversed(options.orderby):
            rows.sort(key=_sorter(etype.fields[name]), reverse=descending)
        total = len(rows)
        rows = rows[options.skip :]
        if options.top is not None:
            rows = rows[: options.top]
        values = [self._entity(etype, row, options, tx) for row in rows]
        name = metadata_name or etype.name
        if not options.json:
            return atom_response(call.root, name, values)
        return json_response(list_body(call.root, name, values, total if options.inlinecount else None))

    def _entity(self, etype: EntityType, doc: Document, options: QueryOptions, tx: Tx) -> dict[str, Any]:
        select = options.select
        presentable = _presentable(etype)
        wanted: list[str] = []  # the ____Presentation fields asked for
        if select is not None:
            plain: list[str] = []
            for name in select:
                if name == "*":
                    continue
                if name == f"*{PRESENTATION}":
                    wanted.extend(presentable)
                elif name.endswith(PRESENTATION):
                    if name.removesuffix(PRESENTATION) not in presentable:
                        raise unknown_member(name)
                    wanted.append(name.removesuffix(PRESENTATION))
                elif name not in etype.selectable:
                    raise unknown_member(name)
                else:
                    plain.append(name)
            # "*": every field plus the presentations asked for; only presentations: no field
            # (entity() reads an empty list as "all", hence [""])
            select = None if "*" in select else plain or [""]
        for name in options.expand:
            if name not in etype.selectable:
                raise unknown_member(name)

        def expander(set_name: str, ref: str) -> dict[str, Any] | None:
            target = tx.get(set_name, ref)
            return None if target is None else entity(self.types[set_name], target)

        value = entity(etype, doc, select=select, expand=options.expand, expander=expander)
        for base in dict.fromkeys(wanted):
            value[f"{base}{PRESENTATION}"] = self._presentation(tx, presentable[base], doc)
        return value

    def _presentation(self, tx: Tx, f: Field, doc: Document) -> str:
        """What 1C shows for a reference (the object's Description, "" for an empty or dangling
        one) or an enum value (its name: the emulator's enums have no separate synonyms)."""
        value = doc.get(f.name, f.empty())
        if f.enum is not None or not f.is_reference:
            return "" if value is None else str(value)
        if not value or value == EMPTY_REF:
            return ""
        target_set = f.ref
        if f.composite:
            kind = str(doc.get(f"{f.name}_Type") or "")
            target_set = kind.rsplit(".", 1)[-1] if kind else (f.composite[0] if f.composite else None)
        target = tx.get(target_set, str(value)) if target_set in self.config.entity_sets else None
        if target is None:
            return ""
        return str(target.get("Description") or target.get("Number") or "")

    # --- one entity ------------------------------------------------------------------------------------
    def _key(self, etype: EntityType, params: str) -> dict[str, Any]:
        positional, named = parse_parameters(params)
        if positional and len(etype.keys) == 1 and len(positional) == 1 and not named:
            named = {etype.keys[0]: positional[0]}
        if set(named) != set(etype.keys):
            raise query_error(f"неверный ключ {params}")
        return named

    def _find(self, tx: Tx, etype: EntityType, key: dict[str, Any]) -> Document:
        if etype.role == "object":
            doc = tx.get(etype.name, str(key["Ref_Key"]))
        elif etype.role == "section":
            assert etype.owner and etype.section
            owner = tx.get(etype.owner, str(key["Ref_Key"]))
            rows = owner.get(etype.section, []) if owner else []
            row = next((r for r in rows if r["LineNumber"] == int(key["LineNumber"])), None)
            doc = None if owner is None or row is None else {"Ref_Key": owner["Ref_Key"], **row}
        else:
            register = etype.name.removesuffix("_RecordType")
            records = [
                r
                for r in tx.records(register, str(key["Recorder"]))
                if r["Recorder_Type"] == key["Recorder_Type"]
            ]
            if etype.role == "recordset":
                doc = None if not records else {**{k: key[k] for k in etype.keys}, "RecordSet": records}
            else:
                doc = next((r for r in records if r["LineNumber"] == int(key["LineNumber"])), None)
        if doc is None:
            raise not_found()
        return doc

    async def _single(self, call: Call, etype: EntityType, params: str) -> Response:
        key = self._key(etype, params)
        if call.method == "GET":
            with self.store.begin() as tx:
                doc = self._find(tx, etype, key)
                return self._element(call, etype.name, self._entity(etype, doc, call.options, tx))
        if etype.role == "recordset" and call.method == "DELETE":
            call.writing()
            with self.store.begin(call.origin_node) as tx:
                doc = self._find(tx, etype, key)
                tx.replace_records(etype.name, doc["Recorder"], doc["Recorder_Type"], [])
            return Response(status_code=204)
        if etype.role != "object" or call.method not in ("PATCH", "PUT", "MERGE", "DELETE"):
            raise unknown_member(f"{etype.name} ({call.method})")
        call.writing()
        eset = self.config.entity_sets[etype.name]
        if call.method == "DELETE":
            with self.store.begin(call.origin_node) as tx:
                doc = self._find(tx, etype, key)
                tx.delete(eset.name, doc["Ref_Key"])
                if doc.get("Posted"):
                    registers.clear_records(tx, eset, doc["Ref_Key"])
            return Response(status_code=204)
        body = await call.body()
        with self.store.begin(call.origin_node) as tx:
            doc = self._find(tx, etype, key)
            self._check_version(call, doc, body)
            if call.method == "PUT":  # a whole object: what the body leaves out is cleared
                body = {**_cleared(eset, body), **body}
            updated = self.writer.apply(eset, doc, body)
            unposting = eset.kind == "document" and updated.get("DeletionMark") and doc.get("Posted")
            if unposting:  # marking a posted document for deletion unposts it, as in 1C
                updated = {**updated, "Posted": False}
            stored = tx.replace(eset.name, updated)
            if unposting:
                registers.clear_records(tx, eset, doc["Ref_Key"])
            return self._element(call, etype.name, self._entity(etype, stored, call.options, tx))

    def _check_version(self, call: Call, doc: Document, body: dict[str, Any]) -> None:
        """Real 1C ignores a stale DataVersion (in the body or If-Match); strict mode answers 412."""
        if not self.strict:
            return
        claimed = [body.get("DataVersion"), call.request.headers.get("if-match")]
        for value in claimed:
            if value is None:
                continue
            value = str(value).removeprefix("W/").strip('"')
            if value != "*" and value != doc.get("DataVersion"):
                raise precondition_failed()

    def _element(self, call: Call, set_name: str, value: dict[str, Any], status: int = 200) -> Response:
        if not call.options.json:
            return atom_response(call.root, set_name, [value], single=True)
        return json_response(element_body(call.root, set_name, value), status=status)

    async def _create(self, call: Call, eset: EntitySet) -> Response:
        call.writing()
        body = await call.body()
        with self.store.begin(call.origin_node) as tx:
            doc = self.writer.new(tx, eset, body, data_load=call.data_load)
            stored = tx.insert(eset.name, doc)
            value = self._entity(self.types[eset.name], stored, call.options, tx)
        response = self._element(call, eset.name, value, status=201)
        # 1C puts the raw (UTF-8, not percent-encoded) Cyrillic URL into Location.
        location = f"{call.root}{eset.name}({key_literal({'Ref_Key': stored['Ref_Key']})})"
        response.raw_headers.append((b"location", location.encode("utf-8")))
        return response

    async def _create_record_set(self, call: Call, etype: EntityType) -> Response:
        """A register record set written directly (not by posting); its Recorder must have none yet."""
        call.writing()
        register = self.config.registers[etype.name]
        body = await call.body()
        recorder, recorder_type, rows = registers.record_set_from_body(register, body)
        key = {"Recorder": recorder, "Recorder_Type": recorder_type}
        with self.store.begin(call.origin_node) as tx:
            if tx.records(register.name, recorder):
                raise key_exists(f"Recorder={recorder}")
            tx.replace_records(register.name, recorder, recorder_type, rows)
            value = self._entity(etype, self._find(tx, etype, key), call.options, tx) if rows else None
        if value is None:  # an empty record set writes nothing; 1C answers with the empty set
            value = entity(etype, {**key, "RecordSet": []})
        response = self._element(call, etype.name, value, status=201)
        location = f"{call.root}{etype.name}({key_literal(key)})"
        response.raw_headers.append((b"location", location.encode("utf-8")))
        return response

    # --- bound actions and navigation --------------------------------------------------------------
    async def _bound(self, call: Call, etype: EntityType, params: str, action: Segment) -> Response:
        eset = self.config.entity_sets[etype.name]
        key = self._key(etype, params)
        if action.name in ("Post", "Unpost") and eset.kind == "document" and action.params in (None, ""):
            if call.method != "POST":
                raise unknown_member(f"{action.name} ({call.method})")
            call.writing()
            with self.store.begin(call.origin_node) as tx:
                doc = self._find(tx, etype, key)
                if action.name == "Post":
                    if doc.get("DeletionMark"):
                        raise handler_failed("Помеченный на удаление документ не может быть проведен!")
                    registers.post(tx, self.config, eset, doc)
                else:
                    registers.unpost(tx, eset, doc)
            return Response(status_code=200)
        nav = next((f for f in etype.fields.values() if f.nav == action.name), None)
        if nav is None or nav.ref is None or call.method != "GET" or action.params is not None:
            raise unknown_member(action.name)
        with self.store.begin() as tx:
            doc = self._find(tx, etype, key)
            target = tx.get(nav.ref, str(doc.get(nav.name)))
            if target is None:
                raise not_found()
            target_type = self.types[nav.ref]
            return self._element(call, nav.ref, self._entity(target_type, target, call.options, tx))

    def _virtual_table(self, call: Call, etype: EntityType, table: Segment) -> Response:
        """``Balance(Period, Condition, Dimensions)``, ``Turnovers(StartPeriod, EndPeriod, Condition,
        Dimensions)`` and ``BalanceAndTurnovers(...)`` of an accumulation register."""
        register = self.config.registers[etype.name]
        allowed = {
            "Balance": {"Period", "Condition", "Dimensions"},
            "Turnovers": {"StartPeriod", "EndPeriod", "Condition", "Dimensions"},
            "BalanceAndTurnovers": {"StartPeriod", "EndPeriod", "Condition", "Dimensions"},
        }
        if table.name not in allowed or call.method != "GET":
            raise unknown_member(table.name)
        if table.name != "Turnovers" and register.kind != "balance":
            raise unknown_member(table.name)  # Balance on a turnover register: 400, as in 1C
        named = virtual_table_parameters(table.params or "")
        if set(named) - allowed[table.name]:
            raise query_error(f"неверные параметры {table.name}: {table.params}")
        periods: dict[str, str | None] = {}
        for name in ("Period", "StartPeriod", "EndPeriod"):
            value = named.get(name)
            if value is not None and (not value.startswith("datetime'") or not value.endswith("'")):
                raise query_error(f"{name} должен быть литералом datetime")
            periods[name] = None if value is None else parse_datetime(value[len("datetime'") : -1])
            if value is not None and periods[name] is None:
                raise query_error(f"неверный литерал {value}")
        condition: Callable[[dict[str, Any]], bool] | None = None
        if named.get("Condition"):
            condition = _condition(named["Condition"], register.dimensions)
        dimensions = None
        if named.get("Dimensions"):
            raw = _unquote(named["Dimensions"])[0]
            dimensions = [d.strip() for d in raw.split(",") if d.strip()]
        suffix = {"Balance": "Balance", "Turnovers": "Turnover", "BalanceAndTurnovers": "BalanceAndTurnover"}
        row_name = f"{register.name}_{suffix[table.name]}"
        row_type = self.types[row_name]
        if dimensions is not None:  # the result has only the asked-for dimensions, like 1C's
            kept = {
                name: f
                for name, f in row_type.fields.items()
                if name not in register.dimensions
                or name in dimensions
                or name.removesuffix("_Key") in dimensions
            }
            row_type = replace(row_type, fields=kept)
        with self.store.begin() as tx:
            records = tx.records(register.name)
            if table.name == "Balance":
                rows = registers.balance(
                    register, records, period=periods["Period"], condition=condition, dimensions=dimensions
                )
            else:
                rows = registers.turnovers(
                    register,
                    records,
                    start=periods["StartPeriod"],
                    end=periods["EndPeriod"],
                    condition=condition,
                    dimensions=dimensions,
                    opening=table.name == "BalanceAndTurnovers",
                )
            return self._list(call, row_type, rows, tx, metadata_name=row_name)

    # --- service document ----------------------------------------------------------------------------
    def _service_document(self, call: Call) -> Response:
        """JSON with ``$format=json``; otherwise the AtomPub service document, as 1C answers."""
        names = [t.name for t in self.types.values() if t.role != "balance"]
        if not call.options.json:
            collections = "".join(
                f'<collection href="{escape(n)}"><atom:title type="text">{escape(n)}</atom:title>'
                "</collection>"
                for n in names
            )
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                f'<service xmlns="http://www.w3.org/2007/app" xmlns:atom="http://www.w3.org/2005/Atom" '
                f"xml:base={quoteattr(call.root)}><workspace>"
                f'<atom:title type="text">Default</atom:title>{collections}</workspace></service>'
            )
            return Response(xml, media_type="application/xml;charset=utf-8")
        body = {"odata.metadata": f"{call.root}$metadata", "value": [{"name": n, "url": n} for n in names]}
        return json_response(body)

    # --- exchange plan -------------------------------------------------------------------------------
    def _exchange(self, call: Call, action: str) -> Response:
        plan = self.exchange.plan
        point = call.options.params.get("DataExchangePoint", "")
        match = _EXCHANGE_POINT.search(point)
        if plan is None or match is None:
            raise query_error(f"неверный параметр DataExchangePoint: {point}")
        if match.group(1) != plan.name or self.exchange.node(match.group(2).lower()) is None:
            raise not_found()
        node = match.group(2).lower()
        raw_no = call.options.params.get("MessageNo", "")
        if not raw_no.isdigit():
            raise query_error(f"неверный параметр MessageNo: {raw_no}")
        message_no = int(raw_no)
        call.writing()
        with self.store.begin(call.origin_node) as tx:
            if action == "NotifyChangesReceived":
                self.exchange.notify_received(tx, node, message_no)
                return Response(status_code=200)
            changes = self.exchange.select_changes(tx, node, message_no)
            values = [self._changed(tx, reg) for reg in changes]
            bad = next((v for v in values if _has_control_character(v)), None)
            if bad is not None:  # raising rolls the stamping back: the whole batch fails, as in 1C
                raise control_character(str(bad.get("Ref_Key") or bad.get("Recorder")))
        if not call.options.json:
            return atom_response(call.root, "SelectChanges", values)
        body = {"odata.metadata": f"{call.root}$metadata#SelectChanges", "MessageNo": str(message_no)}
        return json_response({**body, "value": values})

    def _recorder_type(self, tx: Tx, registration: Registration) -> str:
        """The type of a recorder whose record set is now empty (an unposted document)."""
        for eset in self.config.entity_sets.values():
            posts_here = any(rule.register == registration.entity_set for rule in eset.posting)
            if posts_here and tx.get(eset.name, registration.key) is not None:
                return f"{NAMESPACE}.{eset.name}"
        return f"{NAMESPACE}.Undefined"

    def _changed(self, tx: Tx, registration: Registration) -> dict[str, Any]:
        """The current state of a registered object, or a deletion marker if it no longer exists."""
        etype = self.types[registration.entity_set]
        kind = {"odata.type": f"{NAMESPACE}.{registration.entity_set}"}
        if etype.role == "recordset":
            records = tx.records(etype.name, registration.key)
            rtype = records[0]["Recorder_Type"] if records else self._recorder_type(tx, registration)
            doc = {"Recorder": registration.key, "Recorder_Type": rtype, "RecordSet": records}
            return {**kind, **entity(etype, doc)}
        stored = tx.get(registration.entity_set, registration.key)
        if stored is None:
            return {**kind, "Ref_Key": registration.key, "odata.deleted": True}
        return {**kind, **entity(etype, stored)}


PRESENTATION = "____Presentation"
#: What a PUT keeps although its body leaves it out: the identity, the code or number 1C assigned,
#: and what only 1C writes.
_KEPT_BY_PUT = {"Ref_Key", "DataVersion", "Code", "Number", "Posted", "Predefined", "PredefinedDataName"}


def _cleared(eset: EntitySet, body: dict[str, Any]) -> dict[str, Any]:
    """PUT replaces the object (OData's semantics, and 1C's: "PUT — замена объекта целиком"):
    every field and tabular section the body leaves out takes its empty value. PATCH (and MERGE)
    change only what the body names."""
    cleared: dict[str, Any] = {}
    for name, f in eset.fields.items():
        if name not in body and name not in _KEPT_BY_PUT:
            cleared[name] = to_wire(f, f.empty())
    for section in eset.sections:
        if section not in body:
            cleared[section] = []
    return cleared


def _presentable(etype: EntityType) -> dict[str, Field]:
    """The fields 1C adds a ``<Name>____Presentation`` for: references (``X_Key`` → ``X``),
    composite-type fields and enums; by presentation base name."""
    out: dict[str, Field] = {}
    for name, f in etype.fields.items():
        if name in ("Ref_Key", "Recorder_Type") or name.endswith("_Type"):
            continue
        if f.enum is not None or f.is_reference:
            out[name.removesuffix("_Key")] = f
    return out


_VIRTUAL_PARAMETER = re.compile(
    r"(?:^|,)\s*(Period|StartPeriod|EndPeriod|Condition|Dimensions|Periodicity)\s*="
)


def virtual_table_parameters(text: str) -> dict[str, str]:
    """``Period=datetime'…', Condition='…'`` → raw values by name, split only where a known
    parameter name follows a comma — so the quotes inside a condition need not be doubled (real
    clients send ``Condition='X_Key eq guid'…''`` as well as ``guid''…''``; 1C takes both)."""
    matches = list(_VIRTUAL_PARAMETER.finditer(text))
    if text.strip() and (not matches or matches[0].start() != 0):
        raise query_error(f"неверные параметры виртуальной таблицы: {text}")
    out: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        out[match.group(1)] = text[match.end() : end].strip()
    return out


def _unquote(value: str) -> list[str]:
    """The readings of a quoted parameter value: with doubled quotes undone first, then as is."""
    if len(value) < 2 or value[0] != "'" or value[-1] != "'":
        raise query_error(f"ожидалась строка в кавычках: {value}")
    inner = value[1:-1]
    return [inner.replace("''", "'"), inner] if "''" in inner else [inner]


def _condition(value: str, dimensions: dict[str, Field]) -> Callable[[dict[str, Any]], bool]:
    error: ODataError | None = None
    for text in _unquote(value):
        try:
            return parse_filter(text, dimensions, typed)
        except ODataError as exc:
            error = exc
    assert error is not None
    raise error


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _has_control_character(value: Any) -> bool:
    """A C0 control character other than tab, LF and CR anywhere in a string of ``value``: XML 1.0
    cannot carry it, so 1C fails the whole SelectChanges message."""
    if isinstance(value, str):
        return _CONTROL.search(value) is not None
    if isinstance(value, dict):
        return any(_has_control_character(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_control_character(v) for v in value)
    return False


def _sorter(f: Field) -> Callable[[Document], Any]:
    """Sort key of one field: typed values, strings without case (1C's collation)."""

    def key(row: Document) -> Any:
        value = typed(f, row.get(f.name, f.empty()))
        return value.casefold() if isinstance(value, str) else value

    return key
