"""The points engine behind the API: quotes for the website and the tills, receipts and returns.

The rules are the hub's (``bonusbridge.points``); this module only turns request bodies into
baskets, reads the card's facts and balance, and books what the engine decided through the ledger,
on the shop's order rows (``orders``), so ``/accruals``, ``/refunds``, ``/receipts`` and returns
share one order, one accrual and one set of reversals.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, insert, select, update

from bonusbridge import errors
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import ApiOrder, Card, CardStatus, PointsReceipt
from bonusbridge.points import receipts, store, tiers
from bonusbridge.points.errors import InvalidBasket
from bonusbridge.points.program import Program
from bonusbridge.points.quote import Basket, Line, Quote, Wallet, quote
from bonusbridge.settings import Settings
from web_cabinet.api import opt_in, orders, schemas
from web_cabinet.api.cardnumbers import normalize_card_number, normalized_column
from web_cabinet.api.idempotency import Write
from web_cabinet.api.problems import ApiProblem

ZERO = Decimal("0.00")
#: Why a line of a non-member's receipt earned nothing (the receipt's ``earn_refused`` says so too).
NOT_A_MEMBER_RULE = "not a member of the loyalty program: earns nothing"


def basket(
    lines: list[schemas.BasketLine], body: schemas.Advantages, now: datetime, points_to_spend: Decimal
) -> Basket:
    return Basket(
        lines=[
            Line(line.sku, line.quantity, line.price, line.discount, line.category, line.brand, line.vat_rate)
            for line in lines
        ],
        at=body.at or now,
        currency=body.currency,
        vouchers=body.vouchers,
        points_to_spend=points_to_spend,
    )


def lines_out(computed: Quote) -> list[schemas.LineOut]:
    return [
        schemas.LineOut(
            sku=line.sku,
            amount=line.amount,
            base=line.base,
            multiplier=f"{line.multiplier.normalize():f}",
            points=line.points,
            rules=list(line.rules),
        )
        for line in computed.lines
    ]


def quote_card(
    book: LedgerBook,
    program: Program,
    card_id: int,
    public_id: str,
    lines: list[schemas.BasketLine],
    body: schemas.Advantages,
    points_to_spend: Decimal,
    *,
    settings: Settings,
    till: bool = False,
) -> schemas.QuoteOut:
    """The quote of the basket for the card. The points earned are shown even when the owner must
    join first (``join_required``), since joining at checkout is what earns them (seed 001); a
    till (``till``) never requires joining. Two queries: the card's facts, its balance."""
    found = store.card_facts(book.conn, card_id, body.at or book.now)
    if found is None:
        raise errors.UnknownCard(card_id)
    status, facts = found.status, found.customer
    joined = opt_in.for_quote(settings, found.owner_id, found.member, till=till)
    member, join_required = joined.member, joined.join_required
    available = book.balance(card_id).available
    refused = None if status is CardStatus.ACTIVE else status.value
    computed = quote(
        program, basket(lines, body, book.now, points_to_spend), facts, Wallet(available, refused)
    )
    return schemas.QuoteOut(
        card_id=public_id,
        order_total=computed.total,
        points_earned=computed.points,
        points_earned_value=computed.points_value,
        max_spend_points=computed.max_spend_points,
        max_spend_value=computed.max_spend_value,
        available=available,
        spend_refused=computed.spend_refused,
        balance_after_max_spend=computed.balance_after_max_spend,
        currency=computed.currency,
        rule=computed.rule,
        program_version=computed.version_id,
        lines=lines_out(computed),
        member=member,
        join_required=join_required,
    )


def till_card(conn: Connection, raw_number: str) -> int:
    """The card a till scanned: the primary one among programs sharing the number, else the only
    one not blocked."""
    number = normalize_card_number(raw_number)
    if number is None:
        raise ApiProblem("invalid_card_number", "a card number has digits and Latin letters only")
    rows = conn.execute(
        select(Card.id, Card.is_primary, Card.status)
        .where(normalized_column(Card.number) == number)
        .order_by(Card.is_primary.desc(), Card.id)
        .limit(50)
    ).all()
    if rows and rows[0].is_primary:
        return int(rows[0].id)
    usable = [row.id for row in rows if CardStatus(row.status) is not CardStatus.BLOCKED]
    if len(usable) == 1 or (rows and not usable):
        return int(usable[0] if usable else rows[0].id)
    if not rows:
        raise errors.UnknownCard(0)
    raise ApiProblem("invalid_card_number", "several programs issued this number: scan the primary card")


# --- receipts and returns -------------------------------------------------------------------------


def without_points(computed: Quote, reason: str) -> Quote:
    """The quote with every line earning nothing, and why: a receipt that may not earn is still
    recorded with its lines, so its returns and refunds work and take back nothing."""
    lines = tuple(replace(line, points=ZERO, rules=(*line.rules, reason)) for line in computed.lines)
    return replace(computed, points=ZERO, points_value=ZERO, lines=lines)


def apply_receipt(
    book: LedgerBook,
    write: Write,
    program: Program,
    *,
    card_id: int,
    body: schemas.ReceiptIn,
    earns: bool = True,
) -> tuple[orders.Accrued, Quote, datetime, datetime | None]:
    """Accrue a paid receipt through the quote, once per receipt (the shop's order); ``earns``
    False: recorded, earning nothing (the owner is not in a program that requires joining)."""
    at = body.at or book.now
    if at > book.now:
        raise errors.InvalidDates(f"the receipt is dated {at.isoformat()}, in the future")
    order = orders.open_order(book, write, body.receipt_id, card_id)
    if order.total is not None:
        raise ApiProblem(
            "order_already_accrued", f"receipt {body.receipt_id!r} already had its points accrued"
        )
    spent = orders.points_spent(book.conn, order)
    computed = quote(
        program, basket(body.lines, body, at, spent), store.customer_facts(book.conn, card_id, at)
    )
    if not earns:
        computed = without_points(computed, NOT_A_MEMBER_RULE)
    rules = program.version_at(at).rules
    available_from, expires_at = receipts.accrual_dates(rules, at)
    movement_id = None
    if computed.points > 0:
        record = book.accrue(
            card_id,
            computed.points,
            key=f"{write.ledger_key}:accrual",
            origin=orders.ORIGIN,
            document=order.document,
            actor=write.client.name,
            reason=f"receipt {body.receipt_id}",
            occurred_at=at,
            available_from=max(available_from, book.now),
            expires_at=expires_at,
        )
        movement_id = record.id
    elif orders.card_status(book.conn, card_id) is CardStatus.BLOCKED:
        raise errors.CardBlocked(card_id)
    book.conn.execute(
        update(ApiOrder)
        .where(ApiOrder.id == order.id)
        .values(total=computed.total, accrual_movement_id=movement_id)
    )
    tiers.review_card(book.conn, program, card_id, book.now, f"receipt {body.receipt_id}")
    lines = receipts.receipt_lines(computed, [line.quantity for line in body.lines])
    book.conn.execute(
        insert(PointsReceipt).values(
            order_id=order.id,
            version_id=computed.version_id,
            occurred_at=at,
            lines=json.dumps([line.to_json() for line in lines]),
        )
    )
    return orders.Accrued(order, spent, computed.points), computed, max(available_from, book.now), expires_at


def return_lines(
    book: LedgerBook, write: Write, program: Program, *, reference: str, body: schemas.ReturnIn
) -> orders.Refunded:
    """Reverse the points of the returned lines in proportion; give back spent points in proportion
    to the money returned. Returning every line restores the balance as it was before the receipt."""
    order = orders.find_order(book.conn, write.client.client_id, reference, lock=True)
    if order is None:
        raise ApiProblem("unknown_order", f"no receipt {reference!r} of this client")
    row = book.conn.execute(
        select(PointsReceipt.lines, PointsReceipt.occurred_at).where(PointsReceipt.order_id == order.id)
    ).first()
    if row is None or order.total is None:
        raise ApiProblem("order_not_accrued", f"order {reference!r} was not applied as a receipt")
    lines = [receipts.ReceiptLine.from_json(raw) for raw in json.loads(row.lines)]
    try:
        shares = receipts.apply_return(lines, [(line.line, line.quantity) for line in body.lines])
    except InvalidBasket as exc:
        raise ApiProblem("invalid_return", str(exc)) from None
    refunded = min(order.refunded + shares.amount, order.total)
    full_money = shares.full or refunded == order.total
    money_share = refunded / order.total if order.total else Decimal(1)
    reason = f"return on receipt {reference}"
    returned = sum(
        (
            orders.reverse_share(book, write, movement_id, spent, money_share, full_money, "return", reason)
            for movement_id, spent in orders.capture_movements(book.conn, order)
        ),
        orders.ZERO,
    )
    reversed_points = orders.ZERO
    rules = program.version_at(row.occurred_at).rules
    if order.accrual_movement_id is not None and rules.credit_notes_reduce_points:
        accrued = orders.points_accrued(book.conn, order)
        reversed_points = orders.reverse_share(
            book,
            write,
            order.accrual_movement_id,
            accrued,
            shares.points_share,
            shares.full,
            "reverse",
            reason,
        )
    book.conn.execute(update(ApiOrder).where(ApiOrder.id == order.id).values(refunded=refunded))
    tiers.review_card(book.conn, program, order.card_id, book.now, reason)
    book.conn.execute(
        update(PointsReceipt)
        .where(PointsReceipt.order_id == order.id)
        .values(lines=json.dumps([line.to_json() for line in lines]))
    )
    return orders.Refunded(order, refunded, reversed_points, returned)
