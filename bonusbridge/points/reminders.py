"""Reminders of usable points about to expire (issue 8, item 6; seed 003's "relance automatique").

A card is reminded when its usable points reach the spend threshold and some of them expire
within ``reminder_horizon_months``, at most once every ``reminder_period_months``: reminded in
May with a 3-month period, the next reminder is due in August, even if the balance drops below
the threshold and reaches it again in July.

This module decides who is due and records that they were reminded; sending goes through the SMS
notifications (``sms/``), which add the template, consent and quiet hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Connection, Table, and_, func, select, type_coerce

from bonusbridge.models import Lot, PointsReminder
from bonusbridge.points.program import ProgramRules
from bonusbridge.points.receipts import add_months
from bonusbridge.types import Points

lots = cast(Table, Lot.__table__)
reminders = cast(Table, PointsReminder.__table__)


def next_due(last_sent: datetime | None, period_months: int) -> datetime | None:
    """When the next reminder may go: a whole period after the last one (None: any time)."""
    return None if last_sent is None else add_months(last_sent, period_months)


def is_due(last_sent: datetime | None, now: datetime, period_months: int) -> bool:
    due = next_due(last_sent, period_months)
    return due is None or now >= due


@dataclass(frozen=True)
class Due:
    card_id: int
    usable: Decimal
    expiring: Decimal
    first_expiry: datetime


def due(conn: Connection, rules: ProgramRules, now: datetime, *, limit: int = 1000) -> list[Due]:
    """Cards due for a reminder now (none when the program has no reminder period)."""
    period = rules.reminder_period_months
    if period is None:
        return []
    horizon = add_months(now, rules.reminder_horizon_months)
    free = lots.c.remaining - lots.c.held
    usable = (
        (lots.c.remaining > 0)
        & (lots.c.available_from <= now)
        & (lots.c.expires_at.is_(None) | (lots.c.expires_at > now))
    )
    expiring = usable & (lots.c.expires_at <= horizon)
    rows = conn.execute(
        select(
            lots.c.card_id,
            type_coerce(func.sum(free), Points()),
            type_coerce(func.sum(free).filter(expiring), Points()),
            func.min(lots.c.expires_at).filter(expiring),
            reminders.c.last_sent_at,
        )
        .outerjoin(reminders, reminders.c.card_id == lots.c.card_id)
        .where(usable)
        .group_by(lots.c.card_id, reminders.c.last_sent_at)
        .having(
            and_(
                func.sum(free) >= type_coerce(rules.spend_threshold, Points()),
                func.sum(free).filter(expiring) > 0,
            )
        )
        .order_by(lots.c.card_id)
    ).all()
    found = []
    for card_id, usable_points, expiring_points, first_expiry, last_sent in rows:
        if is_due(last_sent, now, period) and Decimal(usable_points) > 0:
            found.append(Due(card_id, Decimal(usable_points), Decimal(expiring_points), first_expiry))
        if len(found) >= limit:
            break
    return found


def mark_sent(conn: Connection, card_id: int, at: datetime) -> None:
    """Record the reminder, in the transaction that queues its SMS."""
    updated = conn.execute(reminders.update().where(reminders.c.card_id == card_id).values(last_sent_at=at))
    if updated.rowcount == 0:
        conn.execute(reminders.insert().values(card_id=card_id, last_sent_at=at))
