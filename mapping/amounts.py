"""1C numbers ↔ exact ``Decimal``: points never pass through a binary float.

What 1C sends (OData v3 JSON, as observed):

- ``Edm.Decimal`` (the bonus register's ``Начислено``/``КСписанию``, decimal 15.2) as a JSON
  *number*: ``"Начислено": 150.5``. It is read back the same way, so the hub sends JSON numbers too.
  Whether 1C would also take a quoted decimal is not established, so we never rely on it.
- ``Edm.Int64`` (``LineNumber``, ``odata.count``) as a JSON *string*: ``"LineNumber": "1"``.

A JSON parser hands numbers to Python as floats unless told otherwise, and ``0.1 + 0.2`` is not
``0.3``. The policy here:

- **Floats are refused** (``InvalidAmountText``), like the ledger refuses them. Converting one via
  ``repr`` would often give the intended digits, but a float reaching this point means some JSON
  was parsed lossily upstream, and that bug is better found than hidden. Parse 1C answers with
  ``loads_onec_json`` (``parse_float=Decimal``) and nothing is lost.
- More decimal places than the field has are refused, not rounded: rounding points is a decision
  for the ledger's owner, not for a converter.
- Going to 1C, ``to_onec_amount`` gives a ``Decimal`` with exactly the field's places; write the
  body with ``dumps_onec_json``, which emits ``Decimal`` as a JSON number literal digit for digit
  (the standard ``json`` module cannot, and ``float(amount)`` would reintroduce the noise).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from mapping.errors import InvalidAmountText

#: Digits of 1C's bonus-register resources: decimal(15, 2).
TOTAL_DIGITS = 15
PLACES = 2


def from_onec_amount(
    value: int | str | Decimal, *, places: int = PLACES, digits: int = TOTAL_DIGITS
) -> Decimal:
    """An exact amount from a 1C number or numeric string, with exactly ``places`` decimals."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        kind = "a float" if isinstance(value, float) else f"a {type(value).__name__}"
        raise InvalidAmountText(
            f"an amount must be an int, a decimal string or a Decimal, got {kind}"
            + (
                "; parse 1C's JSON with loads_onec_json so numbers stay exact"
                if isinstance(value, float)
                else ""
            )
        )
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidAmountText("not a decimal number") from None
    return _check(amount, places=places, digits=digits)


def to_onec_amount(
    value: int | str | Decimal, *, places: int = PLACES, digits: int = TOTAL_DIGITS
) -> Decimal:
    """An amount for a 1C ``Edm.Decimal`` field: validated, exactly ``places`` decimals.

    Serialize it with ``dumps_onec_json`` so it goes out as a JSON number.
    """
    return from_onec_amount(value, places=places, digits=digits)


def from_onec_int(value: str | int) -> int:
    """An ``Edm.Int64`` value, which 1C sends as a string (``"LineNumber": "1"``)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidAmountText(f"an Edm.Int64 must be a string or an int, got {type(value).__name__}")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.lstrip("-").isdigit() or not text.isascii():
        raise InvalidAmountText("not an integer")
    return int(text)


def to_onec_int(value: int) -> str:
    """An ``Edm.Int64`` value as 1C writes it: a string."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmountText(f"an Edm.Int64 must be an int, got {type(value).__name__}")
    return str(value)


def loads_onec_json(text: str | bytes) -> Any:
    """Parse a 1C answer with every JSON number with a fraction as an exact ``Decimal``."""
    return json.loads(text, parse_float=Decimal)


def dumps_onec_json(value: Any) -> str:
    """Serialize a 1C request body: ``Decimal`` as a JSON number, Cyrillic kept as is, floats refused."""
    return "".join(_encode(value))


def _check(amount: Decimal, *, places: int, digits: int) -> Decimal:
    if not amount.is_finite():
        raise InvalidAmountText("not a finite number")
    if amount.adjusted() >= digits - places:
        raise InvalidAmountText(f"more than {digits - places} digits before the decimal point")
    quantum = Decimal(1).scaleb(-places)
    if amount != amount.quantize(quantum):
        raise InvalidAmountText(f"more than {places} decimal places")
    return amount.quantize(quantum)


def _encode(value: Any) -> Iterator[str]:
    if value is None:
        yield "null"
    elif value is True:
        yield "true"
    elif value is False:
        yield "false"
    elif isinstance(value, str):
        yield json.dumps(value, ensure_ascii=False)
    elif isinstance(value, int):
        yield str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidAmountText("cannot send a non-finite number to 1C")
        yield format(value, "f")
    elif isinstance(value, float):
        raise InvalidAmountText("refusing to send a float to 1C: use Decimal")
    elif isinstance(value, Mapping):
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {type(key).__name__}")
            yield ("," if index else "") + json.dumps(key, ensure_ascii=False) + ":"
            yield from _encode(item)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from _encode(item)
        yield "]"
    else:
        raise TypeError(f"cannot serialize {type(value).__name__} to JSON")
