"""The shop's orders against the ledger: checkout holds, the accrual for a paid order, and refunds.

Every movement an order makes carries the ledger ``document`` ``shop-order:<id>``: its holds (and so
their captures) and its accrual. A refund is proportional to the order total: after refunds summing
to R of total T, each of the order's movements is reversed up to ``round(|amount| * R / T)`` in all,
so rounding never accumulates and the last refund reverses exactly what is left (a full refund
leaves the balance where it was before the order). Spent points are given back before accrued
ones are taken back, so the returned points can pay for the reversal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, type_coerce, update

from bonusbridge import errors
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.statements import POINTS, cards, holds, movements
from bonusbridge.models import ApiOrder, CardStatus, HoldStatus, Origin
from bonusbridge.points import tiers
from bonusbridge.points.program import ProgramRules
from bonusbridge.types import CENT
from web_cabinet.api.idempotency import Write
from web_cabinet.api.problems import ApiProblem

ZERO = Decimal("0.00")
#: Largest order total or refund: what 1C's NUMERIC(15,2) and the hub's ``Points`` can store.
MAX_TOTAL = Decimal("9999999999999.99")
ORIGIN = Origin.WEBSITE


@dataclass(frozen=True)
class Order:
    id: int
    reference: str
    card_id: int
    total: Decimal | None
    refunded: Decimal
    accrual_movement_id: int | None

    @property
    def document(self) -> str:
        return document_of(self.id)


def document_of(order_id: int) -> str:
    return f"shop-order:{order_id}"


def _order_columns() -> Any:
    return select(
        ApiOrder.id,
        ApiOrder.reference,
        ApiOrder.card_id,
        ApiOrder.total,
        ApiOrder.refunded,
        ApiOrder.accrual_movement_id,
    )


def find_order(conn: Connection, client_id: int, reference: str, *, lock: bool = False) -> Order | None:
    query = _order_columns().where(ApiOrder.client_id == client_id, ApiOrder.reference == reference)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return Order(*row) if row is not None else None


def order_by_id(conn: Connection, order_id: int) -> tuple[int, Order] | None:
    row = conn.execute(
        _order_columns().add_columns(ApiOrder.client_id).where(ApiOrder.id == order_id)
    ).first()
    return (row[-1], Order(*row[:-1])) if row is not None else None


def open_order(book: LedgerBook, write: Write, reference: str, card_id: int) -> Order:
    """The client's order by its reference, created for ``card_id`` on first use; locked."""
    conn = book.conn
    order = find_order(conn, write.client.client_id, reference, lock=True)
    if order is None:
        card_status(conn, card_id)  # an unknown card is refused before the order row refers to it
        conn.execute(
            insert(ApiOrder).values(
                client_id=write.client.client_id,
                reference=reference,
                card_id=card_id,
                refunded=ZERO,
                created_at=book.now,
            )
        )
        order = find_order(conn, write.client.client_id, reference, lock=True)
        assert order is not None
    if order.card_id != card_id:
        raise ApiProblem("order_card_mismatch", f"order {reference!r} was started with another card")
    return order


def card_status(conn: Connection, card_id: int) -> CardStatus:
    status = conn.execute(select(cards.c.status).where(cards.c.id == card_id)).scalar()
    if status is None:
        raise errors.UnknownCard(card_id)
    return CardStatus(status)


def points_spent(conn: Connection, order: Order) -> Decimal:
    """Points captured by the order's holds (refunds do not lower it: they are reversals)."""
    value = conn.execute(
        select(type_coerce(func.coalesce(func.sum(holds.c.captured), 0), POINTS)).where(
            holds.c.card_id == order.card_id,
            holds.c.document == order.document,
            holds.c.status == HoldStatus.CAPTURED,
        )
    ).scalar_one()
    return Decimal(value).quantize(CENT)


def points_reserved(conn: Connection, order: Order) -> Decimal:
    """Points the order's holds still reserve or already spent: what counts against its spend share."""
    value = conn.execute(
        select(
            type_coerce(
                func.coalesce(
                    func.sum(
                        case((holds.c.status == HoldStatus.PENDING, holds.c.amount), else_=holds.c.captured)
                    ),
                    0,
                ),
                POINTS,
            )
        ).where(
            holds.c.card_id == order.card_id,
            holds.c.document == order.document,
            holds.c.status.in_([HoldStatus.PENDING, HoldStatus.CAPTURED]),
        )
    ).scalar_one()
    return Decimal(value).quantize(CENT)


def points_accrued(conn: Connection, order: Order) -> Decimal:
    if order.accrual_movement_id is None:
        return ZERO
    value = conn.execute(
        select(movements.c.amount).where(movements.c.id == order.accrual_movement_id)
    ).scalar_one()
    return Decimal(value)


def max_spend(total: Decimal, available: Decimal, rules: ProgramRules) -> Decimal:
    """The most points that may pay for an order of ``total`` under the program's per-order limits
    (share of the order, absolute maximum, the order itself), and what is there."""
    limit = min(available, total / rules.point_value)
    if rules.max_spend_share is not None:
        limit = min(limit, total * rules.max_spend_share / rules.point_value)
    if rules.max_spend_points is not None:
        limit = min(limit, rules.max_spend_points)
    return max(limit.quantize(CENT, ROUND_DOWN), ZERO)


def points_for(amount: Decimal, rules: ProgramRules) -> Decimal:
    """The program's base earn rate on an amount paid (``/accruals`` knows no lines, so no item
    rules or campaigns: ``/receipts`` applies those)."""
    return (amount * rules.earn_rate).quantize(CENT, ROUND_DOWN)


def value_of(points: Decimal, rules: ProgramRules) -> Decimal:
    return (points * rules.point_value).quantize(CENT, ROUND_HALF_UP)


# --- accrual --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accrued:
    order: Order
    spent: Decimal
    accrued: Decimal


def accrue(
    book: LedgerBook,
    write: Write,
    rules: ProgramRules,
    *,
    card_id: int,
    reference: str,
    total: Decimal,
    earns: bool = True,
) -> Accrued:
    """Accrue points for a paid order, on the part of ``total`` paid with money; ``earns`` False:
    the order is recorded (its total, for refunds) and earns nothing."""
    order = open_order(book, write, reference, card_id)
    if order.total is not None:
        raise ApiProblem("order_already_accrued", f"order {reference!r} already had its points accrued")
    spent = points_spent(book.conn, order)
    points = points_for(max(total - value_of(spent, rules), ZERO), rules) if earns else ZERO
    movement_id = None
    if points > 0:
        record = book.accrue(
            card_id,
            points,
            key=f"{write.ledger_key}:accrual",
            origin=ORIGIN,
            document=order.document,
            actor=write.client.name,
            reason=f"shop order {reference}",
        )
        movement_id = record.id
    elif card_status(book.conn, card_id) is CardStatus.BLOCKED:
        # Nothing to accrue (paid with points, or free), so the ledger is not asked; it would refuse.
        raise errors.CardBlocked(card_id)
    book.conn.execute(
        update(ApiOrder).where(ApiOrder.id == order.id).values(total=total, accrual_movement_id=movement_id)
    )
    tiers.review_card(book.conn, rules, card_id, book.now, f"shop order {reference}")
    return Accrued(order, spent, points)


# --- refund ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refunded:
    order: Order
    refunded_total: Decimal
    reversed_accrual: Decimal
    returned_spent: Decimal


def _reversed_so_far(conn: Connection, movement_id: int) -> Decimal:
    value = conn.execute(
        select(type_coerce(func.coalesce(func.sum(movements.c.amount), 0), POINTS)).where(
            movements.c.reverses_id == movement_id
        )
    ).scalar_one()
    return abs(Decimal(value)).quantize(CENT)


def capture_movements(conn: Connection, order: Order) -> list[tuple[int, Decimal]]:
    rows = conn.execute(
        select(movements.c.id, movements.c.amount)
        .join(holds, holds.c.capture_movement_id == movements.c.id)
        .where(holds.c.card_id == order.card_id, holds.c.document == order.document)
        .order_by(movements.c.id)
    ).all()
    return [(movement_id, abs(Decimal(amount))) for movement_id, amount in rows]


def reverse_share(
    book: LedgerBook,
    write: Write,
    movement_id: int,
    amount: Decimal,
    share: Decimal,
    full: bool,
    tag: str,
    reason: str,
) -> Decimal:
    """Reverse the movement up to ``share`` of its amount in all; the points reversed now."""
    target = amount if full else (amount * share).quantize(CENT, ROUND_HALF_UP)
    due = min(target, amount) - _reversed_so_far(book.conn, movement_id)
    if due <= 0:
        return ZERO
    book.reverse(
        movement_id,
        due,
        key=f"{write.ledger_key}:{tag}:{movement_id}",
        origin=ORIGIN,
        actor=write.client.name,
        reason=reason,
    )
    return due


def refund(book: LedgerBook, write: Write, *, reference: str, amount: Decimal) -> Refunded:
    order = find_order(book.conn, write.client.client_id, reference, lock=True)
    if order is None:
        raise ApiProblem("unknown_order", f"no order {reference!r} of this client")
    if order.total is None:
        raise ApiProblem("order_not_accrued", f"order {reference!r} has no accrual yet: accrue it first")
    refunded = order.refunded + amount
    if refunded > order.total:
        raise ApiProblem(
            "refund_exceeds_order",
            f"order {reference!r} totals {order.total:.2f}, {order.refunded:.2f} already refunded; "
            f"{amount:.2f} more is too much",
        )
    full = refunded == order.total
    share = refunded / order.total
    reason = f"refund of shop order {reference}"
    returned = sum(
        (
            reverse_share(book, write, movement_id, spent, share, full, "return", reason)
            for movement_id, spent in capture_movements(book.conn, order)
        ),
        ZERO,
    )
    reversed_points = ZERO
    if order.accrual_movement_id is not None:
        accrued = points_accrued(book.conn, order)
        reversed_points = reverse_share(
            book, write, order.accrual_movement_id, accrued, share, full, "reverse", reason
        )
    book.conn.execute(update(ApiOrder).where(ApiOrder.id == order.id).values(refunded=refunded))
    return Refunded(order, refunded, reversed_points, returned)
