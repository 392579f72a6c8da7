"""Card numbers as customers and cashiers type them: spaces, dashes and Cyrillic look-alikes removed.

A number read aloud or copied from a receipt comes as ``2000 0000 0001``, ``2000-0000-0001`` or with
Cyrillic ``А``/``С``/``Е`` where a program printed Latin letters. Both the query and the stored
numbers are compared in this one normal form, so the way either was typed never matters.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import QueryableAttribute

#: Cyrillic letters that look like Latin ones on a card, upper and lower case.
LOOKALIKES = str.maketrans("АВЕКМНОРСТУХавекмнорстух", "ABEKMHOPCTYX" * 2)
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—_./]+")
_VALID = re.compile(r"[0-9A-Z]{1,64}")


def normalize_card_number(raw: str) -> str | None:
    """The number in normal form (digits and Latin capitals), or None when nothing card-like is left."""
    text = _SEPARATORS.sub("", raw.translate(LOOKALIKES)).upper()
    return text if _VALID.fullmatch(text) else None


def normalized_column(column: QueryableAttribute[str]) -> ColumnElement[str]:
    """The same normal form computed in SQL for stored numbers (spaces and dashes; stored numbers
    are written by 1C and the hub in Latin script)."""
    return func.upper(func.replace(func.replace(column, " ", ""), "-", ""))
