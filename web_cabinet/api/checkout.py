"""Checkout holds through the API: reserve points for an order, then capture or void them.

A hold belongs to the client whose order it was made for; to any other client it does not exist
(404, the same answer as a hold that never existed), so one shop cannot capture another's holds.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Connection, select

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.records import HoldRecord
from bonusbridge.ledger.statements import holds
from bonusbridge.points.program import ProgramRules
from web_cabinet.api import orders
from web_cabinet.api.idempotency import Write
from web_cabinet.api.orders import Order
from web_cabinet.api.problems import ApiProblem

_PREFIX = "shop-order:"


def owned_hold(conn: Connection, client_id: int, hold_id: int) -> tuple[HoldRecord, Order]:
    """The hold and its order, if the hold exists and was made by this client."""
    row = conn.execute(select(holds).where(holds.c.id == hold_id)).first()
    found = None
    if row is not None and (row.document or "").startswith(_PREFIX):
        suffix = row.document[len(_PREFIX) :]
        found = orders.order_by_id(conn, int(suffix)) if suffix.isdigit() else None
    if row is None or found is None or found[0] != client_id:
        raise ApiProblem("unknown_hold", "no such hold for this client")
    record = HoldRecord(
        id=row.id,
        card_id=row.card_id,
        amount=row.amount,
        captured=row.captured,
        status=row.status,
        document=row.document,
        expires_at=row.expires_at,
        capture_movement_id=row.capture_movement_id,
    )
    return record, found[1]


def hold(
    book: LedgerBook,
    write: Write,
    rules: ProgramRules,
    *,
    card_id: int,
    reference: str,
    points: Decimal,
    total: Decimal,
) -> tuple[HoldRecord, Order]:
    order = orders.open_order(book, write, reference, card_id)
    if order.total is not None:
        raise ApiProblem("order_already_accrued", f"order {reference!r} is paid and accrued: no new holds")
    limit = orders.max_spend(total, orders.MAX_TOTAL, rules) - orders.points_reserved(book.conn, order)
    if points > limit:
        share = (
            f"{rules.max_spend_share:%} of the order" if rules.max_spend_share is not None else "the order"
        )
        raise ApiProblem(
            "spend_limit_exceeded",
            f"points may pay at most {share}: {max(limit, orders.ZERO):.2f} more points at most",
        )
    record = book.hold(
        card_id, points, key=f"{write.ledger_key}:hold", origin=orders.ORIGIN, document=order.document
    )
    return record, order


def capture(
    book: LedgerBook, write: Write, *, hold_id: int, points: Decimal | None
) -> tuple[HoldRecord, Order]:
    _, order = owned_hold(book.conn, write.client.client_id, hold_id)
    book.capture(
        hold_id, points, key=f"{write.ledger_key}:capture", origin=orders.ORIGIN, actor=write.client.name
    )
    return owned_hold(book.conn, write.client.client_id, hold_id)[0], order


def void(book: LedgerBook, write: Write, *, hold_id: int) -> tuple[HoldRecord, Order]:
    _, order = owned_hold(book.conn, write.client.client_id, hold_id)
    record = book.void(hold_id, key=f"{write.ledger_key}:void", origin=orders.ORIGIN)
    return record, order
