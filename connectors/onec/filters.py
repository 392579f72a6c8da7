"""A ``$filter`` builder for 1C's OData v3 dialect that cannot be broken or injected through values.

Why not string formatting: a customer's surname is data, and ``O'Brien`` or ``' or 1 eq 1`` must
reach 1C as one string literal, never as syntax. Every value goes through ``literal()`` (quotes
doubled, type-checked) and every field name through an allow-pattern, so the only syntax in a
filter is the syntax this module writes.

1C's dialect: literals ``guid'…'``, ``datetime'YYYY-MM-DDTHH:MM:SS'`` (naive 1C server time, 4-digit
year — anything else is a 400), strings in single quotes with ``''`` for a quote; ``eq ne gt ge lt
le and or not`` and ``substringof``. There is no ``in`` operator: ``any_of`` chains ``or``. Long
chains hit IIS's 2048-byte query-string limit (an HTML 404): ``any_of_batches`` splits them.

    F.eq("Description", "O'Brien") & ~F.eq("DeletionMark", True)
    F.any_of("Ref_Key", [Guid(a), Guid(b)])
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import quote

#: A field name, or a navigation path like ``Owner/Description``: letters, digits, underscores.
_FIELD = re.compile(r"[^\W\d]\w*(?:/[^\W\d]\w*)*")
#: Control characters 1C refuses in exchanged data (tab, line feed and carriage return are text).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class FilterError(ValueError):
    """A value or field name that cannot be written safely into a ``$filter``."""


@dataclass(frozen=True)
class Guid:
    """Marks a string as a reference (``guid'…'``); plain strings are always string literals."""

    value: str

    def __post_init__(self) -> None:
        try:
            canonical = str(uuid.UUID(self.value)) if len(self.value) == 36 else None
        except (ValueError, TypeError):
            canonical = None
        if canonical is None:
            raise FilterError(f"not a guid: {self.value!r}")
        object.__setattr__(self, "value", canonical)


Value = str | int | Decimal | bool | None | datetime | date | Guid | uuid.UUID


def field_name(name: str) -> str:
    """``name`` if it is a plain field name or navigation path; FilterError otherwise."""
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise FilterError(f"not a field name: {name!r}")
    if name in ("and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "true", "false", "null"):
        raise FilterError(f"a keyword is not a field name: {name!r}")
    return name


def string_literal(text: str) -> str:
    """``'…'`` with every quote doubled; control characters are refused (1C answers 400 to them)."""
    if _CONTROL.search(text):
        raise FilterError("a string literal contains a control character")
    return "'" + text.replace("'", "''") + "'"


def datetime_literal(value: datetime | date) -> str:
    """``datetime'YYYY-MM-DDTHH:MM:SS'`` in 1C's own (naive, server-local) time, whole seconds.

    An aware datetime is refused instead of silently converted: only the caller knows the 1C
    server's time zone (``settings.onec_zone``)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise FilterError("1C dates are naive server-local time: convert with settings.onec_zone first")
        moment = value.replace(microsecond=0)
    else:
        moment = datetime(value.year, value.month, value.day)
    return (
        f"datetime'{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}'"
    )


def literal(value: Value) -> str:
    """The OData literal of a Python value. Floats are refused: 1C's numbers are exact decimals."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Guid):
        return f"guid'{value.value}'"
    if isinstance(value, uuid.UUID):
        return f"guid'{value}'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FilterError(f"not a finite number: {value}")
        return format(value, "f")
    if isinstance(value, datetime | date):
        return datetime_literal(value)
    if isinstance(value, str):
        return string_literal(value)
    raise FilterError(f"no OData literal for {type(value).__name__} (use Decimal, not float)")


@dataclass(frozen=True)
class Filter:
    """A finished boolean expression; combine with ``&``, ``|`` and ``~``; ``str()`` is the text."""

    text: str

    def __and__(self, other: Filter) -> Filter:
        return F.and_(self, other)

    def __or__(self, other: Filter) -> Filter:
        return F.or_(self, other)

    def __invert__(self) -> Filter:
        return F.not_(self)

    def __str__(self) -> str:
        return self.text


def _compare(op: str, name: str, value: Value) -> Filter:
    return Filter(f"{field_name(name)} {op} {literal(value)}")


class F:
    """Constructors of ``Filter`` expressions (a namespace, never instantiated)."""

    @staticmethod
    def eq(name: str, value: Value) -> Filter:
        return _compare("eq", name, value)

    @staticmethod
    def ne(name: str, value: Value) -> Filter:
        return _compare("ne", name, value)

    @staticmethod
    def gt(name: str, value: Value) -> Filter:
        return _compare("gt", name, value)

    @staticmethod
    def ge(name: str, value: Value) -> Filter:
        return _compare("ge", name, value)

    @staticmethod
    def lt(name: str, value: Value) -> Filter:
        return _compare("lt", name, value)

    @staticmethod
    def le(name: str, value: Value) -> Filter:
        return _compare("le", name, value)

    @staticmethod
    def substringof(needle: str, name: str) -> Filter:
        """``substringof('needle', Field)``: the field contains ``needle`` (case-insensitive in 1C)."""
        return Filter(f"substringof({string_literal(needle)}, {field_name(name)})")

    @staticmethod
    def and_(*parts: Filter) -> Filter:
        return _join("and", parts)

    @staticmethod
    def or_(*parts: Filter) -> Filter:
        return _join("or", parts)

    @staticmethod
    def not_(part: Filter) -> Filter:
        return Filter(f"not ({part.text})")

    @staticmethod
    def any_of(name: str, values: Iterable[Value]) -> Filter:
        """``name eq v1 or name eq v2 …`` — 1C has no ``in``. At least one value is required: an
        empty list has no meaningful filter, and the caller should not query at all."""
        parts = [F.eq(name, value) for value in values]
        if not parts:
            raise FilterError("any_of needs at least one value")
        return F.or_(*parts)


def _join(op: str, parts: Sequence[Filter]) -> Filter:
    if not parts:
        raise FilterError(f"{op} needs at least one expression")
    if len(parts) == 1:
        return parts[0]
    return Filter(f" {op} ".join(f"({p.text})" for p in parts))


def encode(text: str) -> str:
    """Percent-encode a query option value for 1C: spaces as ``%20`` (a ``+`` is not a space to 1C),
    ``&``, ``#``, ``+``, ``%`` and non-ASCII escaped; quotes and parentheses kept readable."""
    return quote(text, safe="'(),")


def any_of_batches(
    name: str, values: Sequence[Value], *, max_encoded: int = 1500, prefix: Filter | None = None
) -> Iterator[Filter]:
    """``any_of`` split so that each encoded ``$filter`` stays under ``max_encoded`` bytes (IIS's
    default limit for the whole query string is 2048). ``prefix`` is AND-ed into every batch."""
    batch: list[Value] = []
    for value in values:
        candidate = [*batch, value]
        expression = F.any_of(name, candidate)
        if prefix is not None:
            expression = prefix & expression
        if batch and len(encode(expression.text)) > max_encoded:
            yield F.any_of(name, batch) if prefix is None else prefix & F.any_of(name, batch)
            batch = [value]
        else:
            batch = candidate
    if batch:
        yield F.any_of(name, batch) if prefix is None else prefix & F.any_of(name, batch)
