"""The converters a profile may name, one per kind of 1C value.

A profile rule says ``converter: phone``; this module says what ``phone`` means in each direction.
A converter takes the 1C value (already checked for control characters) and returns the hub
value(s), and back. ``arity`` is how many hub fields it fills (``name_full`` fills three), and
``directions`` where it may be used (``phone_display`` only writes: nobody parses a presentation
back when the number itself is there).

1C's "empty" values (``""``, the empty GUID, the empty date) become None in the hub and None goes
back as 1C's empty value, so a round trip never turns "unknown" into a made-up value.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from bonusbridge.models import CardStatus, Gender
from mapping import amounts, dates, emails, names, phones, refs
from mapping.errors import InvalidEnumValue, InvalidValueType, MissingField
from mapping.text import clean_text


class Direction(enum.StrEnum):
    BOTH = "both"
    FROM_ONEC = "from_onec"
    TO_ONEC = "to_onec"


#: Hub enums a profile's enum map may target, by the name the YAML uses.
HUB_ENUMS: Mapping[str, type[enum.StrEnum]] = {"CardStatus": CardStatus, "Gender": Gender}


@dataclass(frozen=True)
class EnumMap:
    """A 1C enum ↔ a hub enum. ``to_hub`` also holds the read-only aliases, ``to_onec`` does not."""

    name: str
    hub_enum: type[enum.StrEnum]
    to_hub: Mapping[str, enum.StrEnum]
    to_onec: Mapping[enum.StrEnum, str]


Reader = Callable[[Any, tzinfo | None], tuple[Any, ...]]
Writer = Callable[[tuple[Any, ...], tzinfo | None], Any]


@dataclass(frozen=True)
class Converter:
    """A converter as a rule uses it: how many hub fields it fills, and its two directions.

    ``read`` turns a 1C value into ``arity`` hub values; ``write`` the hub values into one 1C value.
    Either may be None when the converter works one way only.
    """

    name: str
    read: Reader | None
    write: Writer | None
    arity: int = 1

    @property
    def directions(self) -> frozenset[Direction]:
        """The ``direction`` values a rule using this converter may declare."""
        allowed = set()
        if self.read:
            allowed.add(Direction.FROM_ONEC)
        if self.write:
            allowed.add(Direction.TO_ONEC)
        if self.read and self.write:
            allowed.add(Direction.BOTH)
        return frozenset(allowed)


def _expect(value: Any, kinds: type | tuple[type, ...], what: str) -> None:
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise InvalidValueType(f"expected {what}, got a boolean")
    if not isinstance(value, kinds):
        raise InvalidValueType(f"expected {what}, got {type(value).__name__}")


def _empty_str(value: Any) -> bool:
    return value is None or value == ""


# --- one hub field ---------------------------------------------------------------------------


def _text_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    if _empty_str(value):
        return (None,)
    _expect(value, str, "a string")
    return (clean_text(value),)


def _text_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    (value,) = values
    if value is None:
        return ""
    _expect(value, str, "a string")
    return clean_text(value)


def _code_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    """Identifiers (card numbers, barcodes): 1C pads fixed-length strings with spaces, so trim."""
    if _empty_str(value):
        return (None,)
    _expect(value, str, "a string")
    return (clean_text(value).strip() or None,)


def _code_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    (value,) = values
    if value is None:
        return ""
    _expect(value, str, "a string")
    return clean_text(value).strip()


#: Track 2 of a magnetic stripe as a reader types it: ";<number>[=<extra data>]?".
_TRACK2 = re.compile(r";(?P<number>[^=?]+)(?:=[^?]*)?\?")


def _card_number_read(value: Any, tz: tzinfo | None) -> tuple[Any, ...]:
    """A card number; a raw magnetic-stripe read (``;2000000000059?``) gives the number inside."""
    (number,) = _code_read(value, tz)
    if number is not None and (track := _TRACK2.fullmatch(number)):
        return (track.group("number").strip() or None,)
    return (number,)


def _ref_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    return (refs.from_onec_ref(value),)


def _ref_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    return refs.to_onec_ref(values[0])


def _phone_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    if _empty_str(value):
        return (None,)
    _expect(value, str, "a string")
    return (phones.require_phone(value).e164,)


def _phone_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    (value,) = values
    if value is None:
        return ""
    _expect(value, str, "an E.164 phone string")
    result = phones.require_phone(value)
    assert result.e164 is not None
    return result.e164


def _phone_display_write(values: tuple[Any, ...], tz: tzinfo | None) -> Any:
    e164 = _phone_write(values, tz)
    return phones.display_phone(e164) if e164 else ""


def _phone_local_write(values: tuple[Any, ...], tz: tzinfo | None) -> Any:
    e164 = _phone_write(values, tz)
    return phones.subscriber_number(e164) if e164 else ""


def _email_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    if _empty_str(value):
        return (None,)
    _expect(value, str, "a string")
    return (emails.normalize_email(value),)


def _email_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    (value,) = values
    if value is None:
        return ""
    _expect(value, str, "a string")
    return emails.normalize_email(value) or ""


def _date_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    return (dates.from_onec_date(value),)


def _date_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    (value,) = values
    if value is not None:
        _expect(value, date, "a date")
    return dates.to_onec_date(value)


def _datetime_read(value: Any, tz: tzinfo | None) -> tuple[Any, ...]:
    return (dates.from_onec_datetime(value, tz),)


def _datetime_write(values: tuple[Any, ...], tz: tzinfo | None) -> Any:
    (value,) = values
    if value is not None:
        _expect(value, datetime, "a datetime")
    return dates.to_onec_datetime(value, tz)


def _decimal_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    return (None if value is None else amounts.from_onec_amount(value),)


def _decimal_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    (value,) = values
    if value is None:
        raise MissingField("an amount is required (1C has no empty number)")
    return amounts.to_onec_amount(value)


def _int64_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    return (None if value is None else amounts.from_onec_int(value),)


def _int64_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    (value,) = values
    if value is None:
        raise MissingField("an integer is required (1C has no empty number)")
    return amounts.to_onec_int(value)


def _boolean_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    if value is not None:
        _expect(value, bool, "a boolean")
    return (value,)


def _boolean_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    (value,) = values
    _expect(value, bool, "a boolean")
    return value


# --- three hub fields ------------------------------------------------------------------------


def _name_full_read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
    if not _empty_str(value):
        _expect(value, str, "a string")
    parts = names.split_full_name(value)
    return (parts.last, parts.first, parts.middle)


def _name_full_write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
    for value in values:
        if value is not None:
            _expect(value, str, "a string")
    last, first, middle = values
    return names.join_full_name(names.NameParts(last, first, middle))


# --- enums -----------------------------------------------------------------------------------


def enum_converter(enum_map: EnumMap) -> Converter:
    """The ``enum`` converter bound to one of the profile's enum maps."""

    def read(value: Any, _tz: tzinfo | None) -> tuple[Any, ...]:
        if _empty_str(value):
            return (None,)
        _expect(value, str, "an enum value (string)")
        try:
            return (enum_map.to_hub[value],)
        except KeyError:
            known = ", ".join(sorted(enum_map.to_hub))
            raise InvalidEnumValue(
                f"1C value {value!r} is not in enum map {enum_map.name!r} ({known})"
            ) from None

    def write(values: tuple[Any, ...], _tz: tzinfo | None) -> Any:
        (value,) = values
        if value is None:
            return ""
        try:
            return enum_map.to_onec[enum_map.hub_enum(value)]
        except (KeyError, ValueError):
            raise InvalidEnumValue(
                f"hub value {value!r} has no 1C value in enum map {enum_map.name!r}"
            ) from None

    return Converter("enum", read, write)


#: Converters a rule may name, except ``enum``, which is built per enum map (``enum_converter``).
CONVERTERS: Mapping[str, Converter] = {
    converter.name: converter
    for converter in (
        Converter("text", _text_read, _text_write),
        Converter("code", _code_read, _code_write),
        Converter("card_number", _card_number_read, _code_write),
        Converter("ref", _ref_read, _ref_write),
        # A composite-type reference ``X`` (guid) + ``X_Type``; the engine handles the type half.
        Converter("composite_ref", _ref_read, _ref_write),
        Converter("phone", _phone_read, _phone_write),
        Converter("phone_display", None, _phone_display_write),
        Converter("phone_local", None, _phone_local_write),
        Converter("email", _email_read, _email_write),
        Converter("date", _date_read, _date_write),
        Converter("datetime", _datetime_read, _datetime_write),
        Converter("decimal", _decimal_read, _decimal_write),
        Converter("int64", _int64_read, _int64_write),
        Converter("boolean", _boolean_read, _boolean_write),
        Converter("name_full", _name_full_read, _name_full_write, arity=3),
    )
}
CONVERTER_NAMES = frozenset({*CONVERTERS, "enum"})


def is_empty_onec_value(value: Any) -> bool:
    """1C's ways of saying "nothing here": used to pick the first filled field of a rule.

    Blank strings count as empty: 1C pads an empty fixed-length string with spaces.
    """
    if value is None:
        return True
    return isinstance(value, str) and (not value.strip() or value in (refs.EMPTY_REF, dates.EMPTY_DATE))
