"""Proves the derived ledger state still agrees with the append-only movements.

Each check is one set-based query over the whole ledger, so it runs the same on ten cards and on a
million; a finding names the card (or lot, hold, movement) and both sides of the disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select, type_coerce

from bonusbridge.ledger.statements import (
    POINTS,
    balances,
    hold_allocations,
    holds,
    lot_allocations,
    lots,
    movements,
)
from bonusbridge.models import HoldStatus, MovementKind


@dataclass(frozen=True)
class Finding:
    subject: str
    problem: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.problem}"


def _sum(column: ColumnElement[Any]) -> ColumnElement[Decimal]:
    return type_coerce(func.coalesce(func.sum(column), 0), POINTS)


def check_ledger(conn: Connection) -> list[Finding]:
    """Every disagreement between balances, lots, holds and movements. Empty means consistent."""
    findings: list[Finding] = []

    movement_sums = (
        select(movements.c.card_id, _sum(movements.c.amount).label("amount"))
        .group_by(movements.c.card_id)
        .subquery()
    )
    lot_sums = (
        select(
            lots.c.card_id,
            _sum(lots.c.remaining).label("remaining"),
            _sum(lots.c.held).label("held"),
        )
        .group_by(lots.c.card_id)
        .subquery()
    )
    hold_sums = (
        select(holds.c.card_id, _sum(holds.c.amount).label("held"))
        .where(holds.c.status == HoldStatus.PENDING)
        .group_by(holds.c.card_id)
        .subquery()
    )
    zero = type_coerce(0, POINTS)
    rows = conn.execute(
        select(
            balances.c.card_id,
            balances.c.total,
            balances.c.held,
            type_coerce(func.coalesce(movement_sums.c.amount, zero), POINTS),
            type_coerce(func.coalesce(lot_sums.c.remaining, zero), POINTS),
            type_coerce(func.coalesce(lot_sums.c.held, zero), POINTS),
            type_coerce(func.coalesce(hold_sums.c.held, zero), POINTS),
        )
        .select_from(balances)
        .outerjoin(movement_sums, movement_sums.c.card_id == balances.c.card_id)
        .outerjoin(lot_sums, lot_sums.c.card_id == balances.c.card_id)
        .outerjoin(hold_sums, hold_sums.c.card_id == balances.c.card_id)
        .order_by(balances.c.card_id)
    )
    for card_id, total, held, moved, remaining, lot_held, hold_held in rows:
        subject = f"card {card_id}"
        if total != moved:
            findings.append(Finding(subject, f"balance total {total} but movements sum to {moved}"))
        if total != remaining:
            findings.append(Finding(subject, f"balance total {total} but lots hold {remaining}"))
        if held != lot_held or held != hold_held:
            findings.append(
                Finding(subject, f"balance held {held}, lots reserve {lot_held}, pending holds {hold_held}")
            )
        if total - held < 0:
            findings.append(Finding(subject, f"negative free balance {total - held}"))

    consumed = (
        select(lot_allocations.c.lot_id, _sum(lot_allocations.c.amount).label("amount"))
        .group_by(lot_allocations.c.lot_id)
        .subquery()
    )
    restored = type_coerce(func.coalesce(consumed.c.amount, type_coerce(0, POINTS)), POINTS)
    for lot_id, amount, remaining, used in conn.execute(
        select(lots.c.id, lots.c.amount, lots.c.remaining, restored)
        .outerjoin(consumed, consumed.c.lot_id == lots.c.id)
        .where(lots.c.amount - lots.c.remaining != func.coalesce(consumed.c.amount, 0))
    ):
        findings.append(
            Finding(f"lot {lot_id}", f"amount {amount} - remaining {remaining} != consumed {used}")
        )

    reserved = (
        select(hold_allocations.c.hold_id, _sum(hold_allocations.c.amount).label("amount"))
        .group_by(hold_allocations.c.hold_id)
        .subquery()
    )
    for hold_id, amount, allocated in conn.execute(
        select(holds.c.id, holds.c.amount, type_coerce(reserved.c.amount, POINTS))
        .outerjoin(reserved, reserved.c.hold_id == holds.c.id)
        .where(func.coalesce(reserved.c.amount, 0) != holds.c.amount)
    ):
        findings.append(Finding(f"hold {hold_id}", f"amount {amount} but its lots reserve {allocated}"))

    debit_kinds = [
        MovementKind.REDEMPTION,
        MovementKind.EXPIRY,
        MovementKind.TRANSFER_OUT,
        MovementKind.ADJUSTMENT,
        MovementKind.REVERSAL,
    ]
    paid = (
        select(lot_allocations.c.movement_id, _sum(lot_allocations.c.amount).label("amount"))
        .group_by(lot_allocations.c.movement_id)
        .subquery()
    )
    for movement_id, amount, allocated in conn.execute(
        select(movements.c.id, movements.c.amount, type_coerce(paid.c.amount, POINTS))
        .outerjoin(paid, paid.c.movement_id == movements.c.id)
        .where(
            movements.c.amount < 0,
            movements.c.kind.in_(debit_kinds),
            func.coalesce(paid.c.amount, 0) != -movements.c.amount,
        )
    ):
        findings.append(Finding(f"movement {movement_id}", f"debit {amount} but lots paid {allocated}"))
    return findings


def total_points(conn: Connection) -> Decimal:
    """All points in the ledger: what accruals created, less what left through debits."""
    value = conn.execute(select(_sum(movements.c.amount))).scalar_one()
    return Decimal(value)
