"""1C's JSON: the ``odata.metadata`` envelope, Int64 as strings, empty references and dates, navigation
links, nested tabular sections; and a minimal Atom feed for clients that do not ask for JSON.

Real 1C answers Atom XML unless ``$format=json`` (or a JSON ``Accept``) is given. The emulator's Atom
output is minimal (entries with ``m:properties``, sections omitted) — enough for a client that forgot
``$format=json`` to see XML instead of JSON, as it would against real 1C.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.responses import Response

from ..schema import NAMESPACE
from .errors import JSON_TYPE
from .model import EntityType
from .values import to_wire

Doc = Mapping[str, Any]
#: Resolves ``(entity set, ref)`` to that object's serialized form, for ``$expand``.
Expander = Callable[[str, str], dict[str, Any] | None]


def key_literal(keys: Mapping[str, Any]) -> str:
    """``guid'…'`` for a single Ref_Key, ``Ref_Key=guid'…', LineNumber=1`` for compound keys."""
    if list(keys) == ["Ref_Key"]:
        return f"guid'{keys['Ref_Key']}'"
    parts = []
    for name, value in keys.items():
        if name in ("Ref_Key", "Recorder"):
            parts.append(f"{name}=guid'{value}'")
        elif isinstance(value, int):
            parts.append(f"{name}={value}")
        else:
            parts.append(f"{name}='{value}'")
    return ", ".join(parts)


def entity(
    etype: EntityType,
    doc: Doc,
    *,
    select: list[str] | None = None,
    expand: Iterable[str] = (),
    expander: Expander | None = None,
) -> dict[str, Any]:
    """One entity as 1C writes it. ``$expand`` only acts on navigation properties also in ``$select``
    (1C silently ignores it otherwise)."""
    chosen = set(select) if select else None
    expanded = set(expand) & chosen if chosen is not None else set()
    out: dict[str, Any] = {}
    for name, f in etype.fields.items():
        nav_selected = f.nav is not None and chosen is not None and f.nav in chosen
        if chosen is None or name in chosen:
            out[name] = to_wire(f, doc.get(name, f.empty()))
        if f.nav and etype.role == "object":
            if f.nav in expanded and expander is not None and f.ref:
                target = doc.get(name, f.empty())
                out[f.nav] = expander(f.ref, target) if target else None
            elif chosen is None or name in chosen or nav_selected:
                ref = doc.get("Ref_Key", "")
                out[f"{f.nav}@navigationLinkUrl"] = f"{etype.name}(guid'{ref}')/{f.nav}"
    for cname, row_fields in etype.collections.items():
        if chosen is not None and cname not in chosen:
            continue
        rows = []
        for row in doc.get(cname, []):
            full = {"Ref_Key": doc.get("Ref_Key"), **row} if etype.role == "object" else row
            rows.append({n: to_wire(f, full.get(n, f.empty())) for n, f in row_fields.items()})
        out[cname] = rows
    return out


def list_body(root: str, set_name: str, values: list[dict[str, Any]], count: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"odata.metadata": f"{root}$metadata#{set_name}"}
    if count is not None:
        body["odata.count"] = str(count)  # Int64, hence a string, like 1C
    body["value"] = values
    return body


def element_body(root: str, set_name: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"odata.metadata": f"{root}$metadata#{set_name}/@Element", **value}


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False)
    return Response(text, status_code=status, media_type=JSON_TYPE, headers=dict(headers or {}))


def atom_response(
    root: str, set_name: str, values: list[dict[str, Any]], *, single: bool = False
) -> Response:
    """A minimal Atom feed (or entry) for a request without ``$format=json``."""
    entries = "".join(_atom_entry(root, set_name, value) for value in values)
    if single and values:
        xml = '<?xml version="1.0" encoding="UTF-8"?>' + entries.replace("<entry>", _ATOM_ROOT_ENTRY, 1)
    else:
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><feed xml:base={quoteattr(root)} {_NS}>'
            f'<id>{escape(root + set_name)}</id><title type="text">{escape(set_name)}</title>{entries}</feed>'
        )
    return Response(xml, media_type="application/atom+xml;type=feed;charset=utf-8")


_NS = (
    'xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)
_ATOM_ROOT_ENTRY = f"<entry {_NS}>"


def _atom_entry(root: str, set_name: str, value: Mapping[str, Any]) -> str:
    props = []
    for name, item in value.items():
        if "@" in name or isinstance(item, list | dict) or item is None:
            continue
        text = str(item).lower() if isinstance(item, bool) else str(item)
        props.append(f"<d:{name}>{escape(text)}</d:{name}>")
    ref = value.get("Ref_Key")
    ident = f"{root}{set_name}(guid'{ref}')" if ref else root + set_name
    return (
        f"<entry><id>{escape(ident)}</id><category term={quoteattr(f'{NAMESPACE}.{set_name}')} "
        'scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"/>'
        f'<content type="application/xml"><m:properties>{"".join(props)}</m:properties></content></entry>'
    )
