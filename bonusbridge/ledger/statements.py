"""The ledger's SQL, built once at import.

Building a SQLAlchemy statement and computing its cache key costs more Python time than the
database needs to run it; the hot path (accrue, redeem, hold) therefore executes these prebuilt
statements with bound parameters. Balance updates double as the card lock: the
``UPDATE … WHERE card_id = :card`` takes the row lock that serializes the card's operations, and its
``RETURNING`` brings back the card's status in the same round trip.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import BindParameter, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Executable

from bonusbridge.db import sql_constant
from bonusbridge.models import (
    Card,
    CardBalance,
    Hold,
    HoldAllocation,
    LedgerOperation,
    Lot,
    LotAllocation,
    Movement,
)
from bonusbridge.types import Points, UTCDateTime

cards = cast(Table, Card.__table__)
balances = cast(Table, CardBalance.__table__)
operations = cast(Table, LedgerOperation.__table__)
movements = cast(Table, Movement.__table__)
lots = cast(Table, Lot.__table__)
lot_allocations = cast(Table, LotAllocation.__table__)
holds = cast(Table, Hold.__table__)
hold_allocations = cast(Table, HoldAllocation.__table__)

POINTS = Points()
#: ``remaining > 0`` as the open-lot partial indexes are written (``db.sql_constant``).
OPEN = sql_constant(0)
_card: BindParameter[int] = bindparam("b_card")
_amount = bindparam("b_amount", type_=POINTS)
_now = bindparam("b_now", type_=UTCDateTime())
_status = select(cards.c.status).where(cards.c.id == balances.c.card_id).correlate(balances).scalar_subquery()

#: Lock a card's balance row and read its status.
LOCK_CARD = (
    select(cards.c.status)
    .select_from(balances.join(cards, cards.c.id == balances.c.card_id))
    .where(balances.c.card_id == _card)
    .with_for_update(of=balances)
)

#: Credit the card's total only if it stays within the most a balance may hold (``b_room`` is
#: that maximum less the amount); locks the row and returns the card's status. Zero rows means
#: "look closer": an unknown card, or one with no room left.
CREDIT = (
    balances.update()
    .where(balances.c.card_id == _card, balances.c.total <= bindparam("b_room", type_=POINTS))
    .values(total=balances.c.total + _amount)
    .returning(_status)
)

#: A card's total (its row already locked by the caller).
CARD_TOTAL = select(balances.c.total).where(balances.c.card_id == _card)

#: Debit the total only if enough is free (not held); zero rows means "look closer".
DEBIT = (
    balances.update()
    .where(balances.c.card_id == _card, balances.c.total - balances.c.held >= _amount)
    .values(total=balances.c.total - _amount)
    .returning(_status)
)

#: Reserve for a hold only if enough is free; zero rows means "look closer".
RESERVE = (
    balances.update()
    .where(balances.c.card_id == _card, balances.c.total - balances.c.held >= _amount)
    .values(held=balances.c.held + _amount)
    .returning(_status)
)

#: Add deltas (possibly zero) to a card's total and held amount.
CHANGE_TOTALS = (
    balances.update()
    .where(balances.c.card_id == _card)
    .values(
        total=balances.c.total + bindparam("b_total", type_=POINTS),
        held=balances.c.held + bindparam("b_held", type_=POINTS),
    )
)

#: Add deltas to one lot's remaining and held amounts (executed once per lot, as executemany).
CHANGE_LOT = (
    lots.update()
    .where(lots.c.id == bindparam("b_lot"))
    .values(
        remaining=lots.c.remaining + bindparam("b_remaining", type_=POINTS),
        held=lots.c.held + bindparam("b_lot_held", type_=POINTS),
    )
)

INSERT_MOVEMENT = movements.insert().returning(movements.c.id)
INSERT_LOTS = lots.insert()
INSERT_LOT_ALLOCATIONS = lot_allocations.insert()

_open = select(lots.c.id, lots.c.remaining, lots.c.held, lots.c.available_from, lots.c.expires_at).where(
    lots.c.card_id == _card,
    lots.c.remaining > OPEN,
    lots.c.remaining > lots.c.held,
    (lots.c.expires_at.is_(None)) | (lots.c.expires_at > _now),
)
_spending_order = (lots.c.expires_at.is_(None), lots.c.expires_at, lots.c.id)

#: Unreserved, spendable, unexpired lots in spending order: earliest expiry first, never-expiring last.
SPENDABLE_LOTS = _open.where(lots.c.available_from <= _now).order_by(*_spending_order)
#: The same, pending lots included (transfers move them too).
TRANSFERABLE_LOTS = _open.order_by(*_spending_order)
#: For reversing a credit: the lot that credit created first — even pending, even expired but not
#: yet swept (else the sweep would write those points off after the reversal took others) — then
#: the card's spendable ones.
_prefer: BindParameter[int] = bindparam("b_movement")
REVERSIBLE_LOTS = (
    select(lots.c.id, lots.c.remaining, lots.c.held, lots.c.available_from, lots.c.expires_at)
    .where(
        lots.c.card_id == _card,
        lots.c.remaining > OPEN,
        lots.c.remaining > lots.c.held,
        (lots.c.movement_id == _prefer)
        | ((lots.c.available_from <= _now) & ((lots.c.expires_at.is_(None)) | (lots.c.expires_at > _now))),
    )
    .order_by(lots.c.movement_id != _prefer, *_spending_order)
)

FIND_OPERATION = select(operations.c.id, operations.c.kind, operations.c.fingerprint).where(
    operations.c.origin == bindparam("b_origin"), operations.c.idempotency_key == bindparam("b_key")
)

_claims: dict[str, Executable] = {}


def claim_statement(dialect_name: str) -> Executable:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING id`` on the operations table for this dialect."""
    statement = _claims.get(dialect_name)
    if statement is None:
        insert: Any = pg_insert if dialect_name == "postgresql" else sqlite_insert
        statement = (
            insert(operations)
            .on_conflict_do_nothing(index_elements=["origin", "idempotency_key"])
            .returning(operations.c.id)
        )
        _claims[dialect_name] = statement
    return statement
