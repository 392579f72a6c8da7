"""Turning request bodies into stored objects, with 1C's write rules; shared by OData and fixtures.

- POST: every field starts at its empty value; a new ``Ref_Key`` unless the body brings one (an
  existing one is 400/15); ``Code``/``Number`` generated unless the body sets one or
  ``1C_OData-DataLoadMode`` is on; a document's ``Date`` defaults to now; ``Posted`` is never written.
- PATCH: a partial body; a tabular section present in the body replaces the whole section.
- Sections: ``LineNumber`` must run 1..n (400 otherwise); a row without it is 500, as observed.
- Tolerated like in 1C: unknown fields (ignored), over-long strings (truncated), references to
  objects that do not exist (stored). Filling checks are not run.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from .odata.errors import ODataError, bad_body_literal, handler_failed, key_exists
from .odata.values import from_body, now_1c, parse_guid
from .schema import Config, EntitySet, Field
from .store import Document, Tx

READ_ONLY_FIELDS = {"Ref_Key", "DataVersion", "Posted", "Predefined", "PredefinedDataName"}


class ObjectWriter:
    def __init__(self, config: Config) -> None:
        self.config = config

    def value(self, f: Field, raw: Any) -> Any:
        stored = from_body(f, raw)
        if f.enum and stored != "" and stored not in self.config.enums[f.enum]:
            raise bad_body_literal(f"Неверное значение перечисления {f.enum} в поле {f.name}: {raw!r}")
        return stored

    def apply(self, eset: EntitySet, doc: Document, body: Mapping[str, Any]) -> Document:
        """``body`` over ``doc``: known fields converted, sections replaced whole, the rest ignored."""
        out = dict(doc)
        for name, raw in body.items():
            f = eset.fields.get(name)
            if f is not None and name not in READ_ONLY_FIELDS:
                out[name] = self.value(f, raw)
            elif name in eset.sections:
                out[name] = self.section_rows(eset, name, raw)
        for f in eset.fields.values():  # a composite value without its type: the only type it can be
            if f.composite and f"{f.name}_Type" in eset.fields and f.name in body:
                type_name = f"{f.name}_Type"
                if type_name not in body and len(f.composite) == 1:
                    out[type_name] = f"StandardODATA.{f.composite[0]}"
        return out

    def section_rows(self, eset: EntitySet, section: str, raw: Any) -> list[Document]:
        if not isinstance(raw, list) or not all(isinstance(row, dict) for row in raw):
            raise bad_body_literal(f"Табличная часть {section} должна быть массивом объектов")
        fields = eset.sections[section]
        rows: list[Document] = []
        for row in raw:
            if "LineNumber" not in row:
                raise handler_failed(f"Не задан номер строки табличной части {section}")
            try:
                number = int(row["LineNumber"])
            except (TypeError, ValueError):
                raise bad_body_literal(f"Неверный номер строки {row['LineNumber']!r}") from None
            stored: Document = {"LineNumber": number}
            for name, f in fields.items():
                stored[name] = self.value(f, row[name]) if name in row else f.empty()
            rows.append(stored)
        rows.sort(key=lambda r: int(r["LineNumber"]))
        if [r["LineNumber"] for r in rows] != list(range(1, len(rows) + 1)):
            raise ODataError(400, "1", f"Номера строк табличной части {section} должны идти с 1 подряд")
        return rows

    def new(self, tx: Tx, eset: EntitySet, body: Mapping[str, Any], *, data_load: bool = False) -> Document:
        """A complete new object from a POST body (not yet stored)."""
        doc: Document = {name: f.empty() for name, f in eset.fields.items()}
        doc.update({section: [] for section in eset.sections})
        raw_ref = body.get("Ref_Key")
        if raw_ref not in (None, "", "00000000-0000-0000-0000-000000000000"):
            ref = parse_guid(raw_ref) if isinstance(raw_ref, str) else None
            if ref is None:
                raise bad_body_literal(f"Неверный литерал типа Edm.Guid в поле Ref_Key: {raw_ref!r}")
            if tx.get(eset.name, ref) is not None:
                raise key_exists(f"Ref_Key={ref}")
        else:
            ref = str(uuid.uuid4())
        doc = self.apply(eset, doc, body)
        doc["Ref_Key"] = ref
        self._generated(tx, eset, doc, dated="Date" in body, data_load=data_load)
        return doc

    def _generated(self, tx: Tx, eset: EntitySet, doc: Document, *, dated: bool, data_load: bool) -> None:
        """What 1C fills in on the first write: ``Posted``, ``Date`` (now), ``Number`` or ``Code``."""
        if eset.kind == "document":
            doc["Posted"] = False
            if not dated:
                doc["Date"] = now_1c()
            if not doc.get("Number") and not data_load:
                counter = tx.next_counter(f"number:{eset.name}")
                width = max(eset.number_length - len(eset.number_prefix), 1)
                doc["Number"] = f"{eset.number_prefix}{counter:0{width}d}"
        elif eset.code_length and not doc.get("Code") and not data_load:
            doc["Code"] = f"{tx.next_counter(f'code:{eset.name}'):0{eset.code_length}d}"

    def new_from_values(self, tx: Tx, eset: EntitySet, values: Mapping[str, Any]) -> Document:
        """A complete new object from values already in their stored form — the base's own code
        setting attributes (a till writing its receipt), so no body conversion: fields and section
        rows not given take their empty values; a new ``Ref_Key``, ``Date`` and ``Number`` as in
        ``new``. Unknown names are ignored."""
        doc: Document = {name: f.empty() for name, f in eset.fields.items()}
        for name, value in values.items():
            if name in eset.fields and name not in READ_ONLY_FIELDS:
                doc[name] = value
        for section, fields in eset.sections.items():
            rows = values.get(section) or []
            doc[section] = [
                {"LineNumber": number, **{n: row.get(n, f.empty()) for n, f in fields.items()}}
                for number, row in enumerate(rows, start=1)
            ]
        doc["Ref_Key"] = str(uuid.uuid4())
        self._generated(tx, eset, doc, dated="Date" in values, data_load=False)
        return doc
