"""Hub changes 1C never received: outbox messages that ended in the dead letters (or were parked),
newest first, with the reason the sync recorded. The drift page lists them beside the balance
drift reports, so a profile edit that could not reach 1C is seen — and the customer's cabinet says
the same thing to the customer (``web_cabinet.pages.profile.undelivered``).

The other way round too: 1C changes the hub could not apply (parked with the reason, or dead
letters), so an accountant's edit the hub refused — a phone another customer verified, a barcode
another card has — is seen and corrected in 1C (``unapplied_changes``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge.models import InboxMessage, OutboxMessage, SyncState


def undelivered_changes(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.topic,
            OutboxMessage.entity_id,
            OutboxMessage.state,
            OutboxMessage.attempts,
            OutboxMessage.finished_at,
            OutboxMessage.created_at,
            OutboxMessage.last_error,
        )
        .where(OutboxMessage.state.in_([SyncState.DEAD, SyncState.PARKED]))
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": row.id,
            "topic": row.topic,
            "entity_id": row.entity_id,
            "state": row.state.value,
            "attempts": row.attempts,
            "at": row.finished_at or row.created_at,
            "reason": row.last_error or "",
        }
        for row in rows
    ]


def unapplied_changes(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """1C changes parked (or dead) in the inbox, newest first, with the reason and 1C's object."""
    rows = session.execute(
        select(
            InboxMessage.id,
            InboxMessage.entity_set,
            InboxMessage.onec_ref,
            InboxMessage.state,
            InboxMessage.finished_at,
            InboxMessage.received_at,
            InboxMessage.last_error,
        )
        .where(InboxMessage.state.in_([SyncState.DEAD, SyncState.PARKED]))
        .order_by(InboxMessage.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": row.id,
            "entity_set": row.entity_set,
            "onec_ref": row.onec_ref,
            "state": row.state.value,
            "at": row.finished_at or row.received_at,
            "reason": row.last_error or "",
        }
        for row in rows
    ]
