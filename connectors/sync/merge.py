"""Three-way merge of a customer's or card's fields: what changed on which side since the last
common version, and who wins a field both sides changed.

Mutable records (profiles, card status) are synced by state, not by event: each side sends its
current values, and ``base`` — the values both sides last agreed on — tells a change from a stale
value. A field only the hub changed goes to 1C, one only 1C changed comes to the hub, and one both
changed to different values is a conflict, decided per field by the declared policy (``onec``,
``website`` or ``newer``) and recorded. ``base`` advances only where the two sides agree afterwards:
a value still on its way to 1C keeps the old base, so a 1C edit in the meantime is still a conflict
and never silently overwrites it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

Policy = Callable[[str], str]

#: Marker for "no common version recorded": both sides count as having changed the field.
_NO_BASE = object()


def plain(value: Any) -> Any:
    """A JSON-ready, comparable form: dates as ISO text, enums as values, Decimal as text."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@dataclass(frozen=True)
class FieldConflict:
    field: str
    base: Any
    hub: Any
    onec: Any
    policy: str
    winner: str  # "onec" | "website"


@dataclass
class Merge:
    """``to_hub``/``to_onec``: plain values each side must take; ``base``: the new common version."""

    to_hub: dict[str, Any] = field(default_factory=dict)
    to_onec: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    conflicts: list[FieldConflict] = field(default_factory=list)


def three_way(
    fields: Iterable[str],
    base: Mapping[str, Any],
    hub: Mapping[str, Any],
    onec: Mapping[str, Any],
    policy: Policy,
    *,
    hub_changed_at: datetime | None,
    onec_changed_at: datetime | None,
) -> Merge:
    """Merge plain values of ``fields``. ``onec`` holds only the fields 1C's object carried (a field
    it did not carry, such as contacts not read, is left alone)."""
    merge = Merge()
    for name in fields:
        if name not in onec:
            if name in base:
                merge.base[name] = base[name]
            continue
        common = base.get(name, _NO_BASE)
        mine, theirs = plain(hub.get(name)), plain(onec[name])
        if mine == theirs:
            merge.base[name] = mine
            continue
        hub_changed = common is _NO_BASE or mine != common
        onec_changed = common is _NO_BASE or theirs != common
        if onec_changed and not hub_changed:
            merge.to_hub[name] = theirs
            merge.base[name] = theirs
            continue
        if hub_changed and not onec_changed:
            merge.to_onec[name] = mine
            if common is not _NO_BASE:
                merge.base[name] = common
            continue
        chosen = policy(name)
        winner = _winner(chosen, hub_changed_at, onec_changed_at)
        merge.conflicts.append(
            FieldConflict(name, None if common is _NO_BASE else common, mine, theirs, chosen, winner)
        )
        if winner == "onec":
            merge.to_hub[name] = theirs
            merge.base[name] = theirs
        else:
            merge.to_onec[name] = mine
            if common is not _NO_BASE:
                merge.base[name] = common
    return merge


def _winner(policy: str, hub_changed_at: datetime | None, onec_changed_at: datetime | None) -> str:
    if policy in ("onec", "website"):
        return policy
    if hub_changed_at is not None and onec_changed_at is not None and hub_changed_at > onec_changed_at:
        return "website"
    return "onec"  # a tie, or no time known: 1C is the book of record
