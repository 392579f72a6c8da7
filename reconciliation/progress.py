"""Seed 004's goal, measured: the share of active cards bound to a customer with a verified phone.

*Active* is ``active`` or ``accumulation_only`` (a blocked card, merged away or stopped, is out);
*bound to a verified profile* means the card's customer has ``phone_verified_at`` set. The state of
past days cannot be recomputed (cards change status), so a snapshot per day is kept in
``progress_snapshots``: ``record_progress`` writes today's figures and is idempotent per day (run it
again and the day's row is updated, never doubled). A past day is frozen: once the day is over its
row is never changed, and a past day that was never recorded stays a gap rather than being filled
with today's figures. Celery beat records it nightly; each view of the progress page records today
as well, so the chart's last point is always live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bonusbridge.models import Card, CardStatus, Customer, ProgressSnapshot, utcnow

ACTIVE = (CardStatus.ACTIVE, CardStatus.ACCUMULATION_ONLY)


@dataclass(frozen=True)
class ProgressPoint:
    day: date
    active_cards: int
    bound_verified: int

    @property
    def share(self) -> Decimal:
        """Percent, two places (0 when there is no active card)."""
        if self.active_cards == 0:
            return Decimal("0.00")
        ratio = Decimal(self.bound_verified) * 100 / Decimal(self.active_cards)
        return ratio.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def current_figures(session: Session) -> tuple[int, int]:
    """(active cards, of which bound to a customer with a verified phone), as of now."""
    active = session.scalar(select(func.count()).select_from(Card).where(Card.status.in_(ACTIVE))) or 0
    bound = (
        session.scalar(
            select(func.count())
            .select_from(Card)
            .join(Customer, Customer.id == Card.customer_id)
            .where(Card.status.in_(ACTIVE), Customer.phone_verified_at.is_not(None))
        )
        or 0
    )
    return int(active), int(bound)


def local_today(clock: Callable[[], datetime], time_zone: str) -> date:
    return clock().astimezone(ZoneInfo(time_zone)).date()


def record_progress(
    engine: Engine,
    day: date | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    time_zone: str = "Europe/Moscow",
) -> ProgressPoint | None:
    """Record ``day``'s figures (default: today in ``time_zone``) and return them.

    Today (or a later day) is written or updated with the current figures; a past day is returned
    as recorded, or None when it never was (it cannot be measured any more)."""
    today = local_today(clock, time_zone)
    day = day or today
    for _attempt in range(3):
        with Session(engine) as session:
            row = session.get(ProgressSnapshot, day)
            if day < today:
                return None if row is None else ProgressPoint(row.day, row.active_cards, row.bound_verified)
            active, bound = current_figures(session)
            if row is None:
                session.add(
                    ProgressSnapshot(day=day, active_cards=active, bound_verified=bound, recorded_at=clock())
                )
            else:
                row.active_cards, row.bound_verified, row.recorded_at = active, bound, clock()
            try:
                session.commit()
            except IntegrityError:  # another process recorded the day first: update theirs
                session.rollback()
                continue
            return ProgressPoint(day, active, bound)
    raise RuntimeError(f"could not record progress of {day}")  # pragma: no cover


def progress_history(
    engine: Engine,
    days: int,
    *,
    clock: Callable[[], datetime] = utcnow,
    time_zone: str = "Europe/Moscow",
) -> list[ProgressPoint]:
    """The last ``days`` days' snapshots, oldest first, today's recorded (live) as the last one."""
    today = local_today(clock, time_zone)
    live = record_progress(engine, today, clock=clock, time_zone=time_zone)
    first = today - timedelta(days=days - 1)
    with Session(engine) as session:
        rows = session.scalars(
            select(ProgressSnapshot)
            .where(ProgressSnapshot.day >= first, ProgressSnapshot.day < today)
            .order_by(ProgressSnapshot.day)
        )
        points = [ProgressPoint(r.day, r.active_cards, r.bound_verified) for r in rows]
    if live is not None:
        points.append(live)
    return points
