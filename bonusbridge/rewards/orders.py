"""Orders of rewards: placed with the points held through the ledger's two-phase hold and the stock
and e-voucher codes reserved in the same transaction, captured when the cash part is paid,
fulfilled by suppliers (with the tier cashback), or cancelled (hold voided or points refunded, stock
and codes restored).

**Atomicity.** ``place`` runs in one transaction (the caller's ``LedgerBook``): the order row, the
hold (which locks the card's balance row), each line's stock and global limit as one conditional
``UPDATE … WHERE stock >= :q`` in reward id order, e-voucher codes claimed ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL (SQLite runs write transactions one at a time), the invoice number, and the
e-mails to send. Any refusal raises and rolls everything back. Two members racing for the last
unit: one ``UPDATE`` matches, the other finds ``stock = 0`` and is refused ``out_of_stock``.

**Idempotency.** Every placement carries a key (``cabinet:<customer>:<form>``, ``api:<client>:<key>``):
the same key and request return the first order (``replayed``); the same key with another request
is ``IdempotencyConflict``. Ledger operations derive their keys from the order's.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import phonenumbers
from sqlalchemy import Connection, Table, and_, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bonusbridge import errors as hub_errors
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Card, CardStatus, CardTier, Customer, HoldStatus, Origin
from bonusbridge.rewards import cart, catalog, errors
from bonusbridge.rewards.mailbox import queue_mail
from bonusbridge.rewards.models import (
    LineState,
    OrderState,
    RewardInvoiceCounter,
    RewardKind,
    RewardOrder,
    RewardOrderLine,
)
from bonusbridge.rewards.payments import InstantPayments, Payments

orders = cast(Table, RewardOrder.__table__)
lines_table = cast(Table, RewardOrderLine.__table__)
counters = cast(Table, RewardInvoiceCounter.__table__)
cards = cast(Table, Card.__table__)
customers = cast(Table, Customer.__table__)
card_tiers = cast(Table, CardTier.__table__)
ZERO = Decimal("0.00")
#: How long the points of an order with an unpaid cash part stay held.
PAYMENT_WINDOW = timedelta(days=3)


@dataclass(frozen=True)
class Wanted:
    reward_id: int
    quantity: int
    points_price: Decimal | None = None  # the price the member saw: another one is ``price_changed``
    cash_price: Decimal | None = None


@dataclass(frozen=True)
class PlacedLine:
    id: int
    reward_id: int
    name: str
    kind: RewardKind
    quantity: int
    unit_points: Decimal
    unit_cash: Decimal
    vat_rate: Decimal
    state: LineState
    supplier_id: int | None
    codes: tuple[str, ...]  # e-voucher or coupon codes, shown once the order is paid
    tracking: str | None


@dataclass(frozen=True)
class PlacedOrder:
    id: int
    customer_id: int
    card_id: int
    state: OrderState
    points_total: Decimal
    cash_total: Decimal
    vat_total: Decimal
    currency: str
    invoice_number: str | None
    hold_id: int | None
    address: str
    created_at: datetime
    paid_at: datetime | None
    cashback_movement_id: int | None
    lines: tuple[PlacedLine, ...]
    replayed: bool = False


# --- the member -------------------------------------------------------------------------------------


def paying_card(conn: Connection, customer_id: int) -> int:
    """The member's primary card, or their only card; refused when none may spend."""
    rows = conn.execute(
        select(cards.c.id, cards.c.status, cards.c.is_primary)
        .where(cards.c.customer_id == customer_id, cards.c.merged_into_id.is_(None))
        .order_by(cards.c.is_primary.desc(), cards.c.id)
    ).all()
    usable = [row for row in rows if row.status is not CardStatus.BLOCKED]
    if not usable:
        raise errors.NoCardToPay()
    return int(usable[0].id)


def member_facts(
    book: LedgerBook,
    customer_id: int,
    card_id: int,
    *,
    tier_order: Sequence[str] = (),
    language: str = "ru",
) -> catalog.MemberFacts:
    conn = book.conn
    tier = conn.execute(select(card_tiers.c.tier).where(card_tiers.c.card_id == card_id)).scalar()
    phone = conn.execute(select(customers.c.phone_e164).where(customers.c.id == customer_id)).scalar()
    country = None
    if phone:
        try:
            country = phonenumbers.region_code_for_number(phonenumbers.parse(phone)) or None
        except phonenumbers.NumberParseException:
            country = None
    owned = [row.id for row in conn.execute(select(cards.c.id).where(cards.c.customer_id == customer_id))]
    return catalog.MemberFacts(
        tier=tier,
        tier_order=tuple(tier_order),
        available=book.balance(card_id).available,
        lifetime=catalog.lifetime_points(conn, owned),
        country=country,
        language=language if language in ("ru", "en") else "ru",
    )


# --- placing --------------------------------------------------------------------------------------


def _fingerprint(customer_id: int, wanted: Sequence[Wanted], address: str) -> str:
    canonical = json.dumps(
        {
            "customer": customer_id,
            "lines": [[w.reward_id, w.quantity, str(w.points_price), str(w.cash_price)] for w in wanted],
            "address": address,
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _merge(wanted: Sequence[Wanted]) -> list[Wanted]:
    merged: dict[int, Wanted] = {}
    for item in wanted:
        if item.quantity <= 0:
            raise errors.CartTooLarge(lines=cart.MAX_CART_LINES, quantity=cart.MAX_LINE_QUANTITY)
        found = merged.get(item.reward_id)
        merged[item.reward_id] = (
            item if found is None else replace(found, quantity=found.quantity + item.quantity)
        )
    return sorted(merged.values(), key=lambda w: w.reward_id)


def _refuse_line(row: Any, wanted: Wanted, facts: catalog.MemberFacts, now: datetime, before: int) -> None:
    lang = facts.language
    name = catalog.name_of(row, lang)
    if not catalog.visible(row, now):
        raise errors.RewardNotVisible(name=name)
    if not catalog.active(row, now):
        raise errors.RewardNotActive(name=name)
    gated = catalog.gate(row, facts)
    if gated is not None:
        raise errors.not_eligible(name, *gated)
    cash = row.cash_price or ZERO
    if (wanted.points_price is not None and wanted.points_price != row.points_price) or (
        wanted.cash_price is not None and wanted.cash_price != cash
    ):
        raise errors.PriceChanged(
            name=name,
            points=str(row.points_price),
            cash_ru=f" + {cash}" if cash else "",
            cash_en=f" + {cash}" if cash else "",
            reward_id=row.id,
            points_price=str(row.points_price),
            cash_price=str(cash),
        )
    if row.per_member_limit is not None and before + wanted.quantity > row.per_member_limit:
        raise errors.MemberLimitReached(name=name, limit=row.per_member_limit, already=before)


def _reserve_stock(conn: Connection, row: Any, quantity: int, lang: str) -> None:
    rewards = catalog.rewards
    done = conn.execute(
        update(rewards)
        .where(
            rewards.c.id == row.id,
            or_(rewards.c.stock.is_(None), rewards.c.stock >= quantity),
            or_(rewards.c.global_limit.is_(None), rewards.c.issued + quantity <= rewards.c.global_limit),
        )
        .values(stock=rewards.c.stock - quantity, issued=rewards.c.issued + quantity)
    )
    if done.rowcount == 1:
        return
    now_row = conn.execute(select(rewards).where(rewards.c.id == row.id)).one()
    name = catalog.name_of(now_row, lang)
    if now_row.global_limit is not None and now_row.issued + quantity > now_row.global_limit:
        raise errors.GlobalLimitReached(name=name)
    raise errors.OutOfStock(name=name, left=max(now_row.stock or 0, 0), wanted=quantity)


def _claim_codes(conn: Connection, reward_id: int, line_id: int, quantity: int, name: str) -> None:
    codes = catalog.voucher_codes
    query = (
        select(codes.c.id)
        .where(codes.c.reward_id == reward_id, codes.c.order_line_id.is_(None))
        .order_by(codes.c.id)
        .limit(quantity)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [row.id for row in conn.execute(query)]
    if len(ids) < quantity:
        raise errors.OutOfStock(name=name, left=len(ids), wanted=quantity)
    conn.execute(update(codes).where(codes.c.id.in_(ids)).values(order_line_id=line_id))


def _invoice_number(conn: Connection, now: datetime) -> str:
    """The next number of the year, taken in this transaction: a rolled-back order leaves no gap."""
    year = now.year
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    upsert = make(counters).values(year=year, last=1)
    statement = upsert.on_conflict_do_update(
        index_elements=[counters.c.year], set_={"last": counters.c.last + 1}
    ).returning(counters.c.last)
    number = int(conn.execute(statement).scalar_one())
    return f"{year}-{number:06d}"


def _ledger_refusal(
    exc: hub_errors.BonusBridgeError, available: Decimal, needed: Decimal
) -> errors.RewardsError:
    if isinstance(exc, hub_errors.InsufficientBalance):
        return errors.NotEnoughPoints(needed=str(needed), available=str(exc.available))
    if isinstance(exc, hub_errors.AccumulationOnly | hub_errors.CardBlocked):
        return errors.CardCannotSpend()
    return errors.NotEnoughPoints(needed=str(needed), available=str(available))


def place(
    book: LedgerBook,
    customer_id: int,
    wanted: Sequence[Wanted],
    *,
    key: str,
    address: str = "",
    language: str = "ru",
    tier_order: Sequence[str] = (),
    currency: str = "RUB",
    payments: Payments | None = None,
    payment_window: timedelta = PAYMENT_WINDOW,
) -> PlacedOrder:
    conn, now = book.conn, book.now
    address = address.strip()[:2000]
    digest = _fingerprint(customer_id, wanted, address)
    seen = conn.execute(select(orders.c.id, orders.c.fingerprint).where(orders.c.key == key)).first()
    if seen is not None:
        if seen.fingerprint != digest:
            raise hub_errors.IdempotencyConflict(key, "reward order")
        return replace(read_order(conn, seen.id), replayed=True)
    items = _merge(wanted)
    if not items:
        raise errors.EmptyCart()
    if len(items) > cart.MAX_CART_LINES or any(w.quantity > cart.MAX_LINE_QUANTITY for w in items):
        raise errors.CartTooLarge(lines=cart.MAX_CART_LINES, quantity=cart.MAX_LINE_QUANTITY)
    card_id = paying_card(conn, customer_id)
    facts = member_facts(book, customer_id, card_id, tier_order=tier_order, language=language)
    lang = facts.language
    ids = [w.reward_id for w in items]
    rows = {row.id: row for row in conn.execute(select(catalog.rewards).where(catalog.rewards.c.id.in_(ids)))}
    if len(rows) != len(ids):
        raise errors.UnknownReward()
    before = cart.bought_before(conn, customer_id, ids)
    for w in items:
        _refuse_line(rows[w.reward_id], w, facts, now, before.get(w.reward_id, 0))
    points_total = sum((rows[w.reward_id].points_price * w.quantity for w in items), ZERO)
    cash_total = sum(((rows[w.reward_id].cash_price or ZERO) * w.quantity for w in items), ZERO)
    vat_total = sum(
        (
            cart.vat_of((rows[w.reward_id].cash_price or ZERO) * w.quantity, rows[w.reward_id].vat_rate)
            for w in items
        ),
        ZERO,
    )
    order_id = int(
        conn.execute(
            insert(orders)
            .values(
                key=key,
                fingerprint=digest,
                customer_id=customer_id,
                card_id=card_id,
                state=OrderState.AWAITING_PAYMENT,
                points_total=points_total,
                cash_total=cash_total,
                vat_total=vat_total,
                currency=currency,
                address=address,
                locale=lang,
                created_at=now,
            )
            .returning(orders.c.id)
        ).scalar_one()
    )
    if points_total > 0:
        try:
            hold = book.hold(
                card_id,
                points_total,
                key=f"rewards:{key}:hold",
                origin=Origin.WEBSITE,
                document=f"reward-order:{order_id}",
                ttl=payment_window if cash_total > 0 else None,
            )
        except (hub_errors.InsufficientBalance, hub_errors.AccumulationOnly, hub_errors.CardBlocked) as exc:
            raise _ledger_refusal(exc, facts.available, points_total) from exc
        conn.execute(update(orders).where(orders.c.id == order_id).values(hold_id=hold.id))
    # the card's row is locked now: a second order of this member waits here, then sees this one
    before = cart.bought_before(conn, customer_id, ids)
    for w in items:
        row = rows[w.reward_id]
        if row.per_member_limit is not None and before.get(w.reward_id, 0) > row.per_member_limit:
            already = before.get(w.reward_id, 0) - w.quantity
            raise errors.MemberLimitReached(
                name=catalog.name_of(row, lang), limit=row.per_member_limit, already=already
            )
        _reserve_stock(conn, row, w.quantity, lang)
    for w in items:
        row = rows[w.reward_id]
        line_id = int(
            conn.execute(
                insert(lines_table)
                .values(
                    order_id=order_id,
                    reward_id=row.id,
                    supplier_id=row.supplier_id,
                    kind=row.kind,
                    name=catalog.name_of(row, lang)[:300],
                    quantity=w.quantity,
                    unit_points=row.points_price,
                    unit_cash=row.cash_price or ZERO,
                    vat_rate=row.vat_rate,
                    coupon_code=_coupon_code() if row.kind is RewardKind.COUPON else None,
                    state=LineState.OPEN,
                )
                .returning(lines_table.c.id)
            ).scalar_one()
        )
        if row.kind is RewardKind.E_VOUCHER:
            _claim_codes(conn, row.id, line_id, w.quantity, catalog.name_of(row, lang))
    paid = True
    if cash_total > 0:
        invoice = _invoice_number(conn, now)
        conn.execute(update(orders).where(orders.c.id == order_id).values(invoice_number=invoice))
        paid = (payments or InstantPayments()).request(
            invoice_number=invoice, amount=cash_total, currency=currency
        )
    if paid:
        _capture(book, order_id, key=f"rewards:{key}:capture")
    _mail_member(conn, order_id, "order_placed", now)
    return read_order(conn, order_id)


def _coupon_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(12))
    return f"BB-{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _capture(book: LedgerBook, order_id: int, *, key: str) -> None:
    conn = book.conn
    order = conn.execute(select(orders).where(orders.c.id == order_id)).one()
    movement_id = None
    if order.hold_id is not None or order.points_total > 0:
        hold_id = order.hold_id or _hold_of(conn, order_id)
        try:
            movement_id = book.capture(hold_id, key=key, origin=Origin.WEBSITE).id
        except hub_errors.HoldExpired as exc:
            raise errors.OrderNotPayable() from exc
    conn.execute(
        update(orders)
        .where(orders.c.id == order_id)
        .values(state=OrderState.PAID, paid_at=book.now, capture_movement_id=movement_id)
    )
    _mail_suppliers(conn, order_id, book.now)


def _hold_of(conn: Connection, order_id: int) -> int:
    from bonusbridge.ledger.statements import holds

    hold_id = conn.execute(select(holds.c.id).where(holds.c.document == f"reward-order:{order_id}")).scalar()
    if hold_id is None:
        raise errors.UnknownRewardOrder()
    conn.execute(update(orders).where(orders.c.id == order_id).values(hold_id=hold_id))
    return int(hold_id)


def confirm_payment(book: LedgerBook, order_id: int, *, key: str) -> PlacedOrder:
    """The cash part is paid (staff, or an acquirer's callback): the points are captured now."""
    conn = book.conn
    order = conn.execute(select(orders).where(orders.c.id == order_id).with_for_update()).first()
    if order is None:
        raise errors.UnknownRewardOrder()
    if order.state is OrderState.PAID and order.paid_at is not None:
        return replace(read_order(conn, order_id), replayed=True)
    if order.state is not OrderState.AWAITING_PAYMENT:
        raise errors.OrderNotPayable()
    _capture(book, order_id, key=f"rewards:{key}:capture")
    return read_order(conn, order_id)


def cancel(
    book: LedgerBook, order_id: int, *, customer_id: int | None, reason: str, actor: str
) -> PlacedOrder:
    """Cancel before fulfilment: the hold voided (or the captured points refunded with their expiry
    dates), stock and limits restored, unissued codes back in the pool. A paid order's e-voucher
    codes were shown to the member, so such an order is not cancellable."""
    conn = book.conn
    order = conn.execute(select(orders).where(orders.c.id == order_id).with_for_update()).first()
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise errors.UnknownRewardOrder()
    if order.state is OrderState.CANCELLED:
        return replace(read_order(conn, order_id), replayed=True)
    placed = read_order(conn, order_id)
    touched = any(line.state in (LineState.PROCESSED, LineState.SHIPPED) for line in placed.lines)
    issued = order.state is OrderState.PAID and any(
        line.kind is RewardKind.E_VOUCHER for line in placed.lines
    )
    if order.state is OrderState.FULFILLED or touched or issued:
        state = "fulfilled" if order.state is OrderState.FULFILLED or touched else "paid"
        ru, en = errors.STATE_WORDS[state]
        raise errors.OrderNotCancellable(state_ru=ru, state_en=en)
    if order.capture_movement_id is not None:
        book.reverse(
            order.capture_movement_id, key=f"rewards:order:{order_id}:refund", origin=Origin.WEBSITE,
            actor=actor, reason=reason[:500] or "reward order cancelled",
        )  # fmt: skip
    elif order.hold_id is not None:
        hold = book.read_hold(order.hold_id)
        if hold.status is HoldStatus.PENDING:
            book.void(order.hold_id, key=f"rewards:order:{order_id}:void", origin=Origin.WEBSITE)
    rewards = catalog.rewards
    for line in sorted(placed.lines, key=lambda item: item.reward_id):
        conn.execute(
            update(rewards)
            .where(rewards.c.id == line.reward_id)
            .values(stock=rewards.c.stock + line.quantity, issued=rewards.c.issued - line.quantity)
        )
        if line.kind is RewardKind.E_VOUCHER:
            codes = catalog.voucher_codes
            conn.execute(update(codes).where(codes.c.order_line_id == line.id).values(order_line_id=None))
    conn.execute(
        update(lines_table).where(lines_table.c.order_id == order_id).values(state=LineState.CANCELLED)
    )
    conn.execute(
        update(orders)
        .where(orders.c.id == order_id)
        .values(state=OrderState.CANCELLED, cancelled_at=book.now, cancel_reason=reason[:500])
    )
    return read_order(conn, order_id)


def mark_processed(
    book: LedgerBook,
    supplier_id: int,
    order_id: int,
    *,
    tracking: str | None = None,
    cashback_percent: Mapping[str, Decimal] | None = None,
) -> PlacedOrder:
    """The supplier processed (and maybe shipped) their lines of a paid order. When every line is
    done the order is fulfilled and the member gets the tier cashback, once."""
    conn, now = book.conn, book.now
    order = conn.execute(select(orders).where(orders.c.id == order_id).with_for_update()).first()
    mine = and_(lines_table.c.order_id == order_id, lines_table.c.supplier_id == supplier_id)
    if order is None or conn.execute(select(lines_table.c.id).where(mine)).first() is None:
        raise errors.NotYourOrder()
    if order.state is OrderState.AWAITING_PAYMENT:
        raise errors.UnpaidCashPart(cash=str(order.cash_total), invoice=order.invoice_number or "")
    if order.state is OrderState.CANCELLED:
        ru, en = errors.STATE_WORDS["cancelled"]
        raise errors.OrderNotCancellable(state_ru=ru, state_en=en)
    tracking = (tracking or "").strip()[:100] or None
    conn.execute(
        update(lines_table)
        .where(mine, lines_table.c.state == LineState.OPEN)
        .values(
            state=LineState.SHIPPED if tracking else LineState.PROCESSED, tracking=tracking, processed_at=now
        )
    )
    if tracking:
        _mail_member(conn, order_id, "order_shipped", now, extra={"tracking": tracking})
    left = conn.execute(
        select(lines_table.c.id).where(
            lines_table.c.order_id == order_id, lines_table.c.state == LineState.OPEN
        )
    ).first()
    if left is None and order.state is OrderState.PAID:
        conn.execute(
            update(orders).where(orders.c.id == order_id).values(state=OrderState.FULFILLED, fulfilled_at=now)
        )
        _cashback(book, order, cashback_percent or {})
    return read_order(conn, order_id)


def _cashback(book: LedgerBook, order: Any, percents: Mapping[str, Decimal]) -> None:
    tier = book.conn.execute(select(card_tiers.c.tier).where(card_tiers.c.card_id == order.card_id)).scalar()
    percent = percents.get(tier or "", Decimal("0"))
    amount = (order.points_total * percent / 100).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    if amount <= 0:
        return
    movement = book.accrue(
        order.card_id, amount, key=f"rewards:order:{order.id}:cashback", origin=Origin.WEBSITE,
        document=f"reward-order:{order.id}", reason=f"cashback {percent}% ({tier})",
    )  # fmt: skip
    book.conn.execute(update(orders).where(orders.c.id == order.id).values(cashback_movement_id=movement.id))
    _mail_member(book.conn, order.id, "cashback_credited", book.now, extra={"points": str(amount)})


# --- reading --------------------------------------------------------------------------------------


def read_order(conn: Connection, order_id: int) -> PlacedOrder:
    order = conn.execute(select(orders).where(orders.c.id == order_id)).first()
    if order is None:
        raise errors.UnknownRewardOrder()
    codes = catalog.voucher_codes
    paid = order.state in (OrderState.PAID, OrderState.FULFILLED)
    lines = []
    for line in conn.execute(
        select(lines_table).where(lines_table.c.order_id == order_id).order_by(lines_table.c.id)
    ):
        shown: tuple[str, ...] = ()
        if paid and line.kind is RewardKind.E_VOUCHER:
            shown = tuple(
                row.code
                for row in conn.execute(
                    select(codes.c.code).where(codes.c.order_line_id == line.id).order_by(codes.c.id)
                )
            )
        elif paid and line.coupon_code:
            shown = (line.coupon_code,)
        lines.append(
            PlacedLine(
                id=line.id,
                reward_id=line.reward_id,
                name=line.name,
                kind=line.kind,
                quantity=line.quantity,
                unit_points=line.unit_points,
                unit_cash=line.unit_cash,
                vat_rate=line.vat_rate,
                state=line.state,
                supplier_id=line.supplier_id,
                codes=shown,
                tracking=line.tracking,
            )
        )
    return PlacedOrder(
        id=order.id, customer_id=order.customer_id, card_id=order.card_id, state=order.state,
        points_total=order.points_total, cash_total=order.cash_total, vat_total=order.vat_total,
        currency=order.currency, invoice_number=order.invoice_number, hold_id=order.hold_id,
        address=order.address, created_at=order.created_at, paid_at=order.paid_at,
        cashback_movement_id=order.cashback_movement_id, lines=tuple(lines),
    )  # fmt: skip


def orders_of(conn: Connection, customer_id: int, limit: int = 50) -> list[PlacedOrder]:
    ids = conn.execute(
        select(orders.c.id)
        .where(orders.c.customer_id == customer_id)
        .order_by(orders.c.id.desc())
        .limit(limit)
    ).scalars()
    return [read_order(conn, order_id) for order_id in ids]


# --- mail -----------------------------------------------------------------------------------------


def _mail_member(
    conn: Connection, order_id: int, template: str, now: datetime, extra: dict[str, str] | None = None
) -> None:
    order = conn.execute(select(orders).where(orders.c.id == order_id)).one()
    email = conn.execute(select(customers.c.email).where(customers.c.id == order.customer_id)).scalar()
    if not email:
        return
    queue_mail(
        conn, key=f"rewards:order:{order_id}:{template}", template=template, to=email, locale=order.locale,
        params={"order": order_id, "points": str(order.points_total), "cash": str(order.cash_total),
                "currency": order.currency, **(extra or {})},
        now=now,
    )  # fmt: skip


def _mail_suppliers(conn: Connection, order_id: int, now: datetime) -> None:
    from bonusbridge.rewards.models import RewardSupplier

    table = cast(Table, RewardSupplier.__table__)
    found = conn.execute(
        select(table.c.id, table.c.email, table.c.locale)
        .join(lines_table, lines_table.c.supplier_id == table.c.id)
        .where(lines_table.c.order_id == order_id)
        .distinct()
    ).all()
    for supplier in found:
        queue_mail(
            conn, key=f"rewards:order:{order_id}:supplier:{supplier.id}", template="order_to_fulfil",
            to=supplier.email, locale=supplier.locale, params={"order": order_id, "supplier": supplier.id},
            now=now,
        )  # fmt: skip
