"""The staff audit trail: every change staff make to the program (rule versions, campaigns, members
files) is written here in the same transaction as the change, so a change without its audit row
cannot exist. Rows are only added; reading them is ``bonusbridge points audit`` and the staff pages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select

from bonusbridge.models import StaffAudit

audit_table = cast(Table, StaffAudit.__table__)


def _plain(value: object) -> object:
    # Decimals and instants go in as text: JSON numbers would turn 0.01 into a float when read back.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
    at: datetime,
    reason: str | None = None,
) -> int:
    """Add one audit row (``action`` like ``program.version.add``; ``subject`` like ``version:7``)."""
    if not actor.strip():
        raise ValueError("an audited change needs the actor who made it")
    return int(
        conn.execute(
            insert(audit_table)
            .values(
                at=at,
                actor=actor,
                action=action,
                subject=subject,
                details=json.dumps(details, sort_keys=True, ensure_ascii=False, default=_plain),
                reason=reason,
            )
            .returning(audit_table.c.id)
        ).scalar_one()
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    reason: str | None


def entries(
    conn: Connection, *, action_prefix: str | None = None, subject: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    """The newest entries first, optionally of one kind of action (prefix) or one subject."""
    query = select(audit_table).order_by(audit_table.c.id.desc()).limit(limit)
    if action_prefix:
        query = query.where(audit_table.c.action.startswith(action_prefix, autoescape=True))
    if subject:
        query = query.where(audit_table.c.subject == subject)
    return [
        AuditEntry(row.id, row.at, row.actor, row.action, row.subject, json.loads(row.details), row.reason)
        for row in conn.execute(query)
    ]
