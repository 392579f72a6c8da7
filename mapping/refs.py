"""1C references (``X_Key`` fields): GUIDs, with the all-zero GUID meaning "no reference".

1C never sends null for an empty reference field: it sends ``00000000-0000-0000-0000-000000000000``.
The hub stores None instead, so "has no partner" is one check, not two. GUIDs are kept in lower
case so that equal references compare equal as strings (1C answers in lower case, people paste
upper case from other tools).
"""

from __future__ import annotations

import re

from mapping.errors import InvalidReference

EMPTY_REF = "00000000-0000-0000-0000-000000000000"

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def from_onec_ref(value: str | None) -> str | None:
    """A 1C reference as the hub keeps it: a lower-case GUID, or None for the empty reference."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidReference(f"a 1C reference must be a GUID string, got {type(value).__name__}")
    guid = value.strip().lower()
    if not _GUID.fullmatch(guid):
        raise InvalidReference("not a GUID (expected 8-4-4-4-12 hexadecimal digits)")
    return None if guid == EMPTY_REF else guid


def to_onec_ref(value: str | None) -> str:
    """A hub reference as 1C expects it: the GUID, or the empty GUID for None."""
    if value is None:
        return EMPTY_REF
    guid = from_onec_ref(value)
    return EMPTY_REF if guid is None else guid
