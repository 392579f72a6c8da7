"""Field values in their three shapes: stored (JSON-safe), typed (for comparison) and on the wire.

Stored values are what the documents in the store hold: guids lower-case, dates as
``YYYY-MM-DDTHH:MM:SS`` (1-second precision, no zone, so they sort as strings), decimals as strings
(exact), Int64 as int. On the wire Int64 becomes a string and Decimal a JSON number, as 1C does.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..schema import EMPTY_DATE, EMPTY_REF, Field
from .errors import bad_body_literal

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")


def parse_guid(text: str) -> str | None:
    """The canonical lower-case form of a guid, or None if ``text`` is not one."""
    try:
        return str(uuid.UUID(text)) if len(text) == 36 else None
    except ValueError:
        return None


def parse_datetime(text: str) -> str | None:
    """1C's date form (``2024-03-20T10:00:00``) from a literal; None unless a real 4-digit-year date."""
    match = _DATE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    if (year, month, day) == (1, 1, 1) and (hour, minute, second) == (0, 0, 0):
        return EMPTY_DATE
    try:
        value = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value:%H:%M:%S}"


def now_1c() -> str:
    """The emulator's local time, as 1C stores it: no zone, whole seconds."""
    return datetime.now().strftime("%Y-%m-%dT%H:%M:%S")


def typed(field: Field, stored: Any) -> Any:
    """The value used by ``$filter``, ``$orderby`` and Balance: Decimal for numbers, str otherwise."""
    if field.edm == "Edm.Decimal":
        return Decimal(str(stored if stored not in (None, "") else 0))
    if field.edm == "Edm.Int64":
        return int(stored or 0)
    if field.edm == "Edm.Boolean":
        return bool(stored)
    if stored is None:
        return EMPTY_REF if field.edm == "Edm.Guid" else ""
    return stored


def to_wire(field: Field, stored: Any) -> Any:
    """The JSON value 1C sends: Int64 as a string, Decimal as a number."""
    if field.edm == "Edm.Int64":
        return str(int(stored or 0))
    if field.edm == "Edm.Decimal":
        number = Decimal(str(stored if stored not in (None, "") else 0))
        return int(number) if number == number.to_integral_value() else float(number)
    return stored


def from_body(field: Field, value: Any) -> Any:
    """A body value converted to its stored form; a wrong literal is 400/1 like in 1C.

    Over-long strings are truncated silently and references to missing objects accepted (1C does both).
    """
    name = field.name
    if field.edm == "Edm.Guid" or field.composite:
        guid = parse_guid(value) if isinstance(value, str) else None
        if guid is None:
            raise bad_body_literal(f"Неверный литерал типа Edm.Guid в поле {name}: {value!r}")
        return guid
    if field.edm == "Edm.DateTime":
        date = parse_datetime(value) if isinstance(value, str) else None
        if date is None:
            raise bad_body_literal(f"Неверный литерал типа Edm.DateTime в поле {name}: {value!r}")
        return date
    if field.edm == "Edm.Boolean":
        if not isinstance(value, bool):
            raise bad_body_literal(f"Неверный литерал типа Edm.Boolean в поле {name}: {value!r}")
        return value
    if field.edm == "Edm.Decimal":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad_body_literal(f"Неверный литерал типа Edm.Decimal в поле {name}: {value!r}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise bad_body_literal(f"Неверный литерал типа Edm.Decimal в поле {name}: {value!r}") from None
        if not number.is_finite():
            raise bad_body_literal(f"Неверный литерал типа Edm.Decimal в поле {name}: {value!r}")
        if field.scale is not None:
            number = number.quantize(Decimal(1).scaleb(-field.scale))
        return str(number)
    if field.edm == "Edm.Int64":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_body_literal(f"Неверный литерал типа Edm.Int64 в поле {name}: {value!r}") from None
    if not isinstance(value, str):
        raise bad_body_literal(f"Неверный литерал типа Edm.String в поле {name}: {value!r}")
    return value[: field.max_length] if field.max_length else value
