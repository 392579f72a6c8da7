"""The hub side of a synced customer or card: its plain field values, its last common version with
1C (``sync_links``), and the record of conflicts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge.models import Card, Customer, SyncConflict, SyncLink
from connectors.sync.merge import FieldConflict, plain

#: A card's owner travels with its synced fields (the profile resolves references itself).
OWNER = "customer_onec_ref"
#: Kept with the common version (in ``sync_links.base``, beside the hub fields): 1C's own values of
#: the fields one hub value is read from several of (``Profile.onec_alternatives``), so the next
#: version tells which of them 1C changed.
ONEC_VALUES = "~onec"


def link_of(session: Session, kind: str, entity_id: int) -> SyncLink | None:
    return session.scalars(
        select(SyncLink).where(SyncLink.kind == kind, SyncLink.entity_id == entity_id)
    ).first()


def base_of(link: SyncLink | None) -> dict[str, Any]:
    """The hub fields' common values (without the 1C values kept beside them)."""
    base = {} if link is None else dict(json.loads(link.base))
    base.pop(ONEC_VALUES, None)
    return base


def onec_values_of(link: SyncLink | None) -> dict[str, Any] | None:
    """1C's values of its alternative fields at the common version, None when not recorded."""
    if link is None:
        return None
    value = json.loads(link.base).get(ONEC_VALUES)
    return dict(value) if isinstance(value, dict) else None


def save_link(
    session: Session,
    kind: str,
    entity_id: int,
    *,
    onec_ref: str | None,
    onec_version: str | None,
    base: dict[str, Any],
    now: datetime,
    opening_as_of: datetime | None = None,
    onec_values: dict[str, Any] | None = None,
) -> SyncLink:
    """``onec_values``: 1C's alternative fields at this version (kept as they were when None)."""
    link = link_of(session, kind, entity_id)
    if onec_values is None:
        onec_values = onec_values_of(link)
    if link is None:
        link = SyncLink(kind=kind, entity_id=entity_id)
        session.add(link)
    link.onec_ref = onec_ref
    if onec_version is not None:
        link.onec_version = onec_version
    stored = {k: plain(v) for k, v in base.items() if k != ONEC_VALUES}
    if onec_values:
        stored[ONEC_VALUES] = {k: plain(v) for k, v in onec_values.items()}
    link.base = json.dumps(stored, ensure_ascii=False, sort_keys=True)
    link.synced_at = now
    if opening_as_of is not None:
        link.opening_as_of = opening_as_of
    return link


def customer_values(customer: Customer, fields: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(customer, name) for name in fields}


def card_values(session: Session, card: Card, fields: Iterable[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in fields:
        if name == OWNER:
            owner = session.get(Customer, card.customer_id) if card.customer_id else None
            values[name] = owner.onec_ref if owner else None
        else:
            values[name] = getattr(card, name)
    return values


def record_conflicts(
    session: Session,
    kind: str,
    entity_id: int,
    onec_ref: str | None,
    conflicts: list[FieldConflict],
    now: datetime,
) -> None:
    for conflict in conflicts:
        session.add(
            SyncConflict(
                kind=kind,
                entity_id=entity_id,
                onec_ref=onec_ref,
                field=conflict.field,
                base_value=_text(conflict.base),
                hub_value=_text(conflict.hub),
                onec_value=_text(conflict.onec),
                policy=conflict.policy,
                winner=conflict.winner,
                decided_at=now,
            )
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(plain(value))
