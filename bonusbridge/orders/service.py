"""The shop's orders: checkout holds, captures, the accrual of a paid order or receipt, refunds by
amount and returns by line — one state machine, and every step asks the points engine.

The shop API, the tills' endpoint and the cabinet only translate HTTP to these functions, so a rule
(who may spend, what a basket earns, what a refund reverses) has one owner whatever the path:

* **Spending** — a hold and a capture pass ``points.quote.check_spend``, the quote's own rule
  (minimum order, spend threshold, share of the order, absolute maximum), on the order's total as
  its first hold stated it; the card's status is the ledger's rule (``LedgerBook.refuse_spending``).
  With partial spending off (seed 003) a capture uses up the rest of the spendable balance: a
  ``redemption`` of the order's document, given back by the order's refunds like its captures.
* **Earning** — ``/accruals`` (a total, no lines) and ``/receipts`` (lines) both go through
  ``points.quote.quote``: an order by amount is a one-line basket, so validity, pending days,
  "advantages reduce the base", tiers and campaigns that name no items apply to both. Points spent
  beyond what the paid total allows (the order shrank after its hold) are given back at the accrual.
* **Reversing** — one record per order: the money refunded by amount (``refunded_by_amount``) and
  the quantities returned per line (the receipt's lines). Any mix reverses the accrual up to
  ``L + (A − L) × U / (T − M)`` (``A`` accrued, ``L`` the returned lines' points, ``M`` their money,
  ``U`` the money refunded by amount, ``T`` the total), rounded half up once, and all of it when
  everything is refunded; spent points come back in proportion to the money refunded. A merged-away
  card's refund follows the merge to the card that holds its points now.

States: ``open`` (no hold yet) → ``held`` → ``captured`` → ``accrued`` → ``partly_refunded`` →
``refunded``; a step that makes no sense is refused with its own code (``bonusbridge.orders.errors``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, func, insert, select, type_coerce, update

from bonusbridge import errors
from bonusbridge.ledger import accounts
from bonusbridge.ledger.book import LedgerBook, hold_record
from bonusbridge.ledger.records import HoldRecord
from bonusbridge.ledger.statements import POINTS, holds, movements
from bonusbridge.models import ApiOrder, Card, CardStatus, HoldStatus, MovementKind, Origin, PointsReceipt
from bonusbridge.orders.errors import (
    InvalidReturn,
    OrderAlreadyAccrued,
    OrderCardMismatch,
    OrderHoldPending,
    OrderNotAccrued,
    OrderRefunded,
    OrderTotalMismatch,
    RefundExceedsOrder,
    UnknownOrder,
)
from bonusbridge.points import receipts, store, tiers
from bonusbridge.points.errors import InvalidBasket
from bonusbridge.points.program import Program, ProgramRules
from bonusbridge.points.quote import Basket, Line, Quote, check_spend, order_spend_limit, quote
from bonusbridge.types import CENT

ZERO = Decimal("0.00")
ORIGIN = Origin.WEBSITE
DOCUMENT_PREFIX = "shop-order:"
#: Why a line of a non-member's receipt earned nothing (the receipt's ``earn_refused`` says so too).
NOT_A_MEMBER_RULE = "not a member of the loyalty program: earns nothing"
#: The one line an order by amount (``/accruals``) is quoted as.
ORDER_LINE_SKU = "order"
FORFEIT_REASON = "partial spending is off: the rest of the spendable balance goes with the order"


@dataclass(frozen=True)
class Caller:
    """Who asks: the API client (its id scopes order numbers, its name signs movements) and the
    request's key, unique per idempotent request, that namespaces its ledger operations."""

    client_id: int
    name: str
    key: str


class OrderState(enum.StrEnum):
    OPEN = "open"
    HELD = "held"
    CAPTURED = "captured"
    ACCRUED = "accrued"
    PARTLY_REFUNDED = "partly_refunded"
    REFUNDED = "refunded"


@dataclass(frozen=True)
class Order:
    id: int
    client_id: int
    reference: str
    card_id: int
    total: Decimal | None
    refunded: Decimal
    accrual_movement_id: int | None
    spend_total: Decimal | None
    refunded_by_amount: Decimal

    @property
    def document(self) -> str:
        return document_of(self.id)


def document_of(order_id: int) -> str:
    return f"{DOCUMENT_PREFIX}{order_id}"


_COLUMNS = (
    ApiOrder.id,
    ApiOrder.client_id,
    ApiOrder.reference,
    ApiOrder.card_id,
    ApiOrder.total,
    ApiOrder.refunded,
    ApiOrder.accrual_movement_id,
    ApiOrder.spend_total,
    ApiOrder.refunded_by_amount,
)


def _order(row: Any) -> Order | None:
    return Order(*row) if row is not None else None


def find(conn: Connection, client_id: int, reference: str, *, lock: bool = False) -> Order | None:
    query = select(*_COLUMNS).where(ApiOrder.client_id == client_id, ApiOrder.reference == reference)
    return _order(conn.execute(query.with_for_update() if lock else query).first())


def require(conn: Connection, client_id: int, reference: str, *, lock: bool = False) -> Order:
    order = find(conn, client_id, reference, lock=lock)
    if order is None:
        raise UnknownOrder(f"no order {reference!r} of this client")
    return order


def by_id(conn: Connection, order_id: int, *, lock: bool = False) -> Order | None:
    query = select(*_COLUMNS).where(ApiOrder.id == order_id)
    return _order(conn.execute(query.with_for_update() if lock else query).first())


def open_order(book: LedgerBook, caller: Caller, reference: str, card_id: int) -> Order:
    """The client's order by its reference, created for ``card_id`` on first use; locked. The same
    order named with the card its card was merged into is the same order."""
    conn = book.conn
    order = find(conn, caller.client_id, reference, lock=True)
    if order is None:
        card_status(conn, card_id)  # an unknown card is refused before the order row refers to it
        conn.execute(
            insert(ApiOrder).values(
                client_id=caller.client_id,
                reference=reference,
                card_id=card_id,
                refunded=ZERO,
                refunded_by_amount=ZERO,
                created_at=book.now,
            )
        )
        order = find(conn, caller.client_id, reference, lock=True)
        assert order is not None
    if order.card_id != card_id and current_card(conn, order.card_id) != card_id:
        raise OrderCardMismatch(f"order {reference!r} was started with another card")
    return order


def card_status(conn: Connection, card_id: int) -> CardStatus:
    status = conn.execute(select(Card.status).where(Card.id == card_id)).scalar()
    if status is None:
        raise errors.UnknownCard(card_id)
    return CardStatus(status)


def current_card(conn: Connection, card_id: int) -> int:
    """The card that holds a card's points now: the card itself, or — for a card blocked by a merge
    — the card it was merged into (followed through later merges)."""
    seen = {card_id}
    while True:
        row = conn.execute(select(Card.status, Card.merged_into_id).where(Card.id == card_id)).first()
        if row is None:
            raise errors.UnknownCard(card_id)
        target = row.merged_into_id
        if CardStatus(row.status) is not CardStatus.BLOCKED or target is None or target in seen:
            return card_id
        seen.add(target)
        card_id = target


def order_cards(conn: Connection, order: Order) -> list[int]:
    """The cards an order's holds and movements are on: its card, and the account card holding
    that card's points (``ledger.accounts``: in ut11 the partner's account card)."""
    return sorted({order.card_id, accounts.account_card(conn, order.card_id)})


# --- what the ledger says about an order ----------------------------------------------------------


def points_spent(conn: Connection, order: Order) -> Decimal:
    """Points captured by the order's holds (refunds do not lower it: they are reversals)."""
    value = conn.execute(
        select(type_coerce(func.coalesce(func.sum(holds.c.captured), 0), POINTS)).where(
            holds.c.card_id.in_(order_cards(conn, order)),
            holds.c.document == order.document,
            holds.c.status == HoldStatus.CAPTURED,
        )
    ).scalar_one()
    return Decimal(value).quantize(CENT)


def _hold_rows(conn: Connection, order: Order) -> list[Any]:
    return list(
        conn.execute(
            select(holds.c.id, holds.c.status, holds.c.amount, holds.c.captured, holds.c.expires_at).where(
                holds.c.card_id.in_(order_cards(conn, order)), holds.c.document == order.document
            )
        ).all()
    )


def points_reserved(conn: Connection, order: Order, now: datetime) -> Decimal:
    """Points the order's live holds reserve plus those its captures spent: what counts against
    its spend limit. A pending hold past its time to live reserves nothing."""
    total = ZERO
    for row in _hold_rows(conn, order):
        status = HoldStatus(row.status)
        if status is HoldStatus.CAPTURED:
            total += Decimal(row.captured)
        elif _is_live(row, now):
            total += Decimal(row.amount)
    return total


def live_holds(conn: Connection, order: Order, now: datetime) -> list[int]:
    return _live(_hold_rows(conn, order), now)


def _live(rows: list[Any], now: datetime) -> list[int]:
    """The pending holds among ``rows`` still within their time to live."""
    return [row.id for row in rows if _is_live(row, now)]


def _is_live(row: Any, now: datetime) -> bool:
    return HoldStatus(row.status) is HoldStatus.PENDING and row.expires_at > now


def points_accrued(conn: Connection, order: Order) -> Decimal:
    if order.accrual_movement_id is None:
        return ZERO
    value = conn.execute(
        select(movements.c.amount).where(movements.c.id == order.accrual_movement_id)
    ).scalar_one()
    return Decimal(value)


def state(conn: Connection, order: Order, now: datetime) -> OrderState:
    if order.total is not None:
        if order.refunded == 0:
            return OrderState.ACCRUED
        return OrderState.REFUNDED if order.refunded >= order.total else OrderState.PARTLY_REFUNDED
    rows = _hold_rows(conn, order)
    if any(HoldStatus(row.status) is HoldStatus.CAPTURED for row in rows):
        return OrderState.CAPTURED
    return OrderState.HELD if _live(rows, now) else OrderState.OPEN


def _debits(conn: Connection, order: Order) -> list[tuple[int, int, Decimal]]:
    """The order's spending movements (captures, and what partial spending off used up): id, card,
    points — what its refunds give back."""
    rows = conn.execute(
        select(movements.c.id, movements.c.card_id, movements.c.amount)
        .where(
            movements.c.document == order.document,
            movements.c.kind == MovementKind.REDEMPTION,
            movements.c.card_id.in_(order_cards(conn, order)),
        )
        .order_by(movements.c.id)
    ).all()
    return [(row.id, row.card_id, abs(Decimal(row.amount))) for row in rows]


def _refuse_after_accrual(order: Order, doing: str) -> None:
    if order.total is None:
        return
    if order.refunded > 0:
        raise OrderRefunded(f"order {order.reference!r} was refunded: {doing} is refused")
    raise OrderAlreadyAccrued(f"order {order.reference!r} is paid and accrued: {doing} is refused")


# --- holds ----------------------------------------------------------------------------------------


def hold_of(conn: Connection, client_id: int, hold_id: int) -> tuple[HoldRecord, Order]:
    """The hold and its order, if the hold exists and was made for one of this client's orders; to
    any other client it does not exist (the same answer as a hold that never existed)."""
    row = conn.execute(select(holds).where(holds.c.id == hold_id)).first()
    order = None
    if row is not None and (row.document or "").startswith(DOCUMENT_PREFIX):
        suffix = row.document[len(DOCUMENT_PREFIX) :]
        order = by_id(conn, int(suffix)) if suffix.isdigit() else None
    if row is None or order is None or order.client_id != client_id:
        raise errors.UnknownHold(hold_id)
    return as_presented(conn, hold_record(row), order), order


def as_presented(conn: Connection, record: HoldRecord, order: Order) -> HoldRecord:
    """The hold as its order sees it: a hold on the account card holding the order's card's points
    (ut11: the partner's account card) names the order's card, the one the shop presented."""
    if record.card_id != order.card_id and accounts.account_card(conn, order.card_id) == record.card_id:
        return replace(record, card_id=order.card_id)
    return record


def hold(
    book: LedgerBook,
    caller: Caller,
    program: Program,
    *,
    card_id: int,
    reference: str,
    points: Decimal,
    total: Decimal,
) -> tuple[HoldRecord, Order]:
    """Reserve ``points`` for the order ``reference`` totalling ``total``, if the card may spend and
    the program lets that many points pay for that order (counting the order's other holds)."""
    order = open_order(book, caller, reference, card_id)
    _refuse_after_accrual(order, "a new hold")
    if order.spend_total is not None and order.spend_total != total:
        raise OrderTotalMismatch(
            f"order {reference!r} was held as totalling {order.spend_total:.2f}, not {total:.2f}"
        )
    LedgerBook.refuse_spending(card_id, card_status(book.conn, card_id))
    rules = program.version_at(book.now).rules
    available = book.balance(card_id).available
    check_spend(rules, total, available, points, already=points_reserved(book.conn, order, book.now))
    record = book.hold(card_id, points, key=f"{caller.key}:hold", origin=ORIGIN, document=order.document)
    record = as_presented(book.conn, record, order)
    if order.spend_total is None:
        book.conn.execute(update(ApiOrder).where(ApiOrder.id == order.id).values(spend_total=total))
        order = replace(order, spend_total=total)
    return record, order


def capture(
    book: LedgerBook, caller: Caller, program: Program, *, hold_id: int, points: Decimal | None
) -> tuple[HoldRecord, Order]:
    """Spend all or part of a hold (the rest is released), under the rules it was made with; with
    partial spending off, the rest of the spendable balance is used up with it."""
    record, found = hold_of(book.conn, caller.client_id, hold_id)
    order = by_id(book.conn, found.id, lock=True)
    assert order is not None
    _refuse_after_accrual(order, "a capture")
    row = book.conn.execute(select(holds.c.created_at).where(holds.c.id == hold_id)).scalar_one()
    rules = program.version_at(row).rules
    # Who spends: the hold's card; on a shared account (ut11) the card the order presented, whose
    # points the account card holds (its own status may be a merged card's).
    spender = order.card_id if accounts.resolve(book.conn, order.card_id)[2] else record.card_id
    if HoldStatus(record.status) is HoldStatus.PENDING and record.expires_at > book.now:
        LedgerBook.refuse_spending(spender, card_status(book.conn, spender))
        spend = record.amount if points is None else points
        if spend <= record.amount:  # more than the hold: the ledger's own refusal says so
            available = book.balance(spender).available + record.amount
            others = points_reserved(book.conn, order, book.now) - record.amount
            check_spend(rules, order.spend_total or ZERO, available, spend, already=others)
    book.capture(hold_id, points, key=f"{caller.key}:capture", origin=ORIGIN, actor=caller.name)
    if not rules.partial_spending:
        rest = book.balance(spender).available
        if rest > 0:
            book.redeem(
                spender,
                rest,
                key=f"{caller.key}:forfeit",
                origin=ORIGIN,
                document=order.document,
                actor=caller.name,
                reason=FORFEIT_REASON,
            )
    return hold_of(book.conn, caller.client_id, hold_id)[0], order


def void(book: LedgerBook, caller: Caller, *, hold_id: int) -> tuple[HoldRecord, Order]:
    _, order = hold_of(book.conn, caller.client_id, hold_id)
    record = book.void(hold_id, key=f"{caller.key}:void", origin=ORIGIN)
    return as_presented(book.conn, record, order), order


# --- the accrual ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accrued:
    order: Order
    spent: Decimal  # points that paid for the order (after any excess was given back)
    accrued: Decimal
    quote: Quote
    available_from: datetime
    expires_at: datetime | None
    card_id: int  # the card the points went to (the order's, or the one it was merged into)


def without_points(computed: Quote, reason: str) -> Quote:
    """The quote with every line earning nothing, and why: an order that may not earn is still
    recorded with its lines, so its returns and refunds work and take back nothing."""
    lines = tuple(replace(line, points=ZERO, rules=(*line.rules, reason)) for line in computed.lines)
    return replace(computed, points=ZERO, points_value=ZERO, lines=lines)


def accrue(
    book: LedgerBook,
    caller: Caller,
    program: Program,
    *,
    card_id: int,
    reference: str,
    total: Decimal,
    earns: bool = True,
) -> Accrued:
    """Accrue points for an order paid for ``total`` (points spent included), quoted as one line."""
    line = Line(ORDER_LINE_SKU, Decimal(1), total)
    return _accrue(
        book,
        caller,
        program,
        card_id,
        reference,
        [line],
        book.now,
        None,
        ZERO,
        earns,
        f"shop order {reference}",
    )


def apply_receipt(
    book: LedgerBook,
    caller: Caller,
    program: Program,
    *,
    card_id: int,
    reference: str,
    lines: Sequence[Line],
    at: datetime | None = None,
    currency: str | None = None,
    vouchers: Decimal = ZERO,
    earns: bool = True,
) -> Accrued:
    """Accrue a paid receipt through the quote, with the rules in force at its date, once."""
    when = at or book.now
    if when > book.now:
        raise errors.InvalidDates(f"the receipt is dated {when.isoformat()}, in the future")
    return _accrue(
        book,
        caller,
        program,
        card_id,
        reference,
        lines,
        when,
        currency,
        vouchers,
        earns,
        f"receipt {reference}",
    )


def _accrue(
    book: LedgerBook,
    caller: Caller,
    program: Program,
    card_id: int,
    reference: str,
    lines: Sequence[Line],
    at: datetime,
    currency: str | None,
    vouchers: Decimal,
    earns: bool,
    reason: str,
) -> Accrued:
    """``reason``: "receipt …" keeps the receipt's lines for its returns; "shop order …" does not."""
    keep_lines = reason.startswith("receipt")
    conn = book.conn
    order = open_order(book, caller, reference, card_id)
    if order.total is not None:
        raise OrderAlreadyAccrued(f"order {reference!r} already had its points accrued")
    if live_holds(conn, order, book.now):
        raise OrderHoldPending(f"order {reference!r} has a hold to capture or void before its accrual")
    rules = program.version_at(at).rules
    target = current_card(conn, order.card_id)
    facts = store.customer_facts(conn, target, at)
    spent = points_spent(conn, order)

    def priced(spending: Decimal) -> Quote:
        return quote(program, Basket(lines, at, currency, vouchers, spending), facts)

    computed = priced(spent)
    excess = spent - min(spent, order_spend_limit(rules, computed.total))
    if excess > 0:
        _give_back_excess(book, caller, order, excess, f"order {reference}: points beyond its paid total")
        spent -= excess
        computed = priced(spent)
    if not earns:
        computed = without_points(computed, NOT_A_MEMBER_RULE)
    available_from, expires_at = receipts.accrual_dates(rules, at)
    available_from = max(available_from, book.now)
    movement_id = None
    if computed.points > 0:
        record = book.accrue(
            target,
            computed.points,
            key=f"{caller.key}:accrual",
            origin=ORIGIN,
            document=order.document,
            actor=caller.name,
            reason=reason,
            occurred_at=at,
            available_from=available_from,
            expires_at=expires_at,
        )
        movement_id = record.id
    elif card_status(conn, target) is CardStatus.BLOCKED:
        # Nothing to accrue (paid with points, or free), so the ledger is not asked; it would refuse.
        raise errors.CardBlocked(target)
    conn.execute(
        update(ApiOrder)
        .where(ApiOrder.id == order.id)
        .values(total=computed.total, accrual_movement_id=movement_id)
    )
    if keep_lines:
        kept = receipts.receipt_lines(computed, [line.quantity for line in lines])
        conn.execute(
            insert(PointsReceipt).values(
                order_id=order.id,
                version_id=computed.version_id,
                occurred_at=at,
                lines=json.dumps([line.to_json() for line in kept]),
            )
        )
    tiers.review_card(conn, program, target, book.now, reason)
    order = replace(order, total=computed.total, accrual_movement_id=movement_id)
    return Accrued(order, spent, computed.points, computed, available_from, expires_at, target)


def _give_back_excess(book: LedgerBook, caller: Caller, order: Order, excess: Decimal, reason: str) -> None:
    """Give back ``excess`` spent points, from the latest capture back."""
    for movement_id, card_id, amount in reversed(_debits(book.conn, order)):
        if excess <= 0:
            break
        left = amount - book.reversed_so_far(movement_id)
        due = min(left, excess)
        if due > 0:
            _reverse(book, caller, movement_id, card_id, due, "excess", reason)
            excess -= due


# --- refunds and returns --------------------------------------------------------------------------


@dataclass(frozen=True)
class Refunded:
    order: Order
    amount: Decimal  # money refunded by this call
    refunded_total: Decimal
    reversed_accrual: Decimal
    returned_spent: Decimal


def refund(
    book: LedgerBook, caller: Caller, program: Program, *, reference: str, amount: Decimal
) -> Refunded:
    """Refund ``amount`` of the order's money (not tied to lines)."""
    order = _refundable(book.conn, caller, reference)
    assert order.total is not None
    if order.refunded + amount > order.total:
        raise RefundExceedsOrder(
            f"order {reference!r} totals {order.total:.2f}, {order.refunded:.2f} already refunded; "
            f"{amount:.2f} more is too much"
        )
    lines = _receipt_lines(book.conn, order)
    return _settle(book, caller, program, order, lines, order.refunded_by_amount + amount, "refund")


def return_lines(
    book: LedgerBook,
    caller: Caller,
    program: Program,
    *,
    reference: str,
    returned: Sequence[tuple[int, Decimal]],
) -> Refunded:
    """Return ``(line index, quantity)`` of a receipt's lines."""
    order = _refundable(book.conn, caller, reference)
    lines = _receipt_lines(book.conn, order)
    if lines is None:
        raise OrderNotAccrued(f"order {reference!r} was not applied as a receipt: refund it by amount")
    try:
        receipts.apply_return(lines, list(returned))
    except InvalidBasket as exc:
        raise InvalidReturn(str(exc)) from None
    book.conn.execute(
        update(PointsReceipt)
        .where(PointsReceipt.order_id == order.id)
        .values(lines=json.dumps([line.to_json() for line in lines]))
    )
    return _settle(book, caller, program, order, lines, order.refunded_by_amount, "return")


def _refundable(conn: Connection, caller: Caller, reference: str) -> Order:
    order = require(conn, caller.client_id, reference, lock=True)
    if order.total is None:
        raise OrderNotAccrued(f"order {reference!r} has no accrual yet: accrue it first")
    return order


def _receipt_lines(conn: Connection, order: Order) -> list[receipts.ReceiptLine] | None:
    raw = conn.execute(select(PointsReceipt.lines).where(PointsReceipt.order_id == order.id)).scalar()
    return None if raw is None else [receipts.ReceiptLine.from_json(item) for item in json.loads(raw)]


def _half_up(value: Fraction) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(CENT, ROUND_HALF_UP)


def _settle(
    book: LedgerBook,
    caller: Caller,
    program: Program,
    order: Order,
    lines: list[receipts.ReceiptLine] | None,
    by_amount: Decimal,
    tag: str,
) -> Refunded:
    """Bring the order's reversals to what its refunds by amount and returned lines call for."""
    conn = book.conn
    assert order.total is not None
    total = order.total
    line_points, line_money = Fraction(0), ZERO
    for line in lines or ():
        line_points += Fraction(line.points) * Fraction(line.returned) / Fraction(line.quantity)
        line_money += (line.amount * line.returned / line.quantity).quantize(CENT)
    refunded = min(total, line_money + by_amount)
    full = refunded >= total
    reason = (
        f"refund of shop order {order.reference}"
        if tag == "refund"
        else f"return on receipt {order.reference}"
    )
    returned = ZERO
    for movement_id, card_id, amount in _debits(conn, order):
        share = Fraction(refunded) / Fraction(total) if total else Fraction(1)
        target = amount if full else min(amount, _half_up(Fraction(amount) * share))
        due = target - book.reversed_so_far(movement_id)
        if due > 0:
            _reverse(book, caller, movement_id, card_id, due, "return", reason)
            returned += due
    reversed_points = ZERO
    rules = _rules_of(conn, program, order)
    if order.accrual_movement_id is not None and rules is not None and rules.credit_notes_reduce_points:
        accrued = points_accrued(conn, order)
        if full:
            target = accrued
        else:
            # M + U < T here, so the denominator is positive.
            exact = line_points + (Fraction(accrued) - line_points) * Fraction(by_amount) / Fraction(
                total - line_money
            )
            target = min(accrued, _half_up(exact))
        due = target - book.reversed_so_far(order.accrual_movement_id)
        if due > 0:
            card_id = conn.execute(
                select(movements.c.card_id).where(movements.c.id == order.accrual_movement_id)
            ).scalar_one()
            _reverse(book, caller, order.accrual_movement_id, card_id, due, "reverse", reason)
            reversed_points = due
    conn.execute(
        update(ApiOrder)
        .where(ApiOrder.id == order.id)
        .values(refunded=refunded, refunded_by_amount=by_amount)
    )
    tiers.review_card(conn, program, current_card(conn, order.card_id), book.now, reason)
    done = replace(order, refunded=refunded, refunded_by_amount=by_amount)
    return Refunded(done, refunded - order.refunded, refunded, reversed_points, returned)


def _rules_of(conn: Connection, program: Program, order: Order) -> ProgramRules | None:
    """The rules the order was accrued under (its receipt's date, else its accrual's)."""
    at = conn.execute(select(PointsReceipt.occurred_at).where(PointsReceipt.order_id == order.id)).scalar()
    if at is None and order.accrual_movement_id is not None:
        at = conn.execute(
            select(movements.c.occurred_at).where(movements.c.id == order.accrual_movement_id)
        ).scalar()
    return tiers.rules_at(program, at) if at is not None else None


def _reverse(
    book: LedgerBook, caller: Caller, movement_id: int, card_id: int, due: Decimal, tag: str, reason: str
) -> None:
    """Reverse ``due`` of the movement on the card that holds its points now."""
    holder = current_card(book.conn, card_id)
    book.reverse(
        movement_id,
        due,
        key=f"{caller.key}:{tag}:{movement_id}",
        origin=ORIGIN,
        actor=caller.name,
        reason=reason,
        on_card=None if holder == card_id else holder,
    )
