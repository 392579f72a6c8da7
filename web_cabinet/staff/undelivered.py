"""Hub changes 1C never received: outbox messages that ended in the dead letters (or were parked),
newest first, with the reason the sync recorded. The drift page lists them beside the balance
drift reports, so a profile edit that could not reach 1C is seen — and the customer's cabinet says
the same thing to the customer (``web_cabinet.pages.profile.undelivered``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge.models import OutboxMessage, SyncState


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
