"""The cart and its exact suggestion.

When a cart costs more points than the member has, ``suggest`` finds the sub-multiset of its lines
(each line at most its quantity, its stock left and its per-member limit left) whose points come
closest to the balance without exceeding it — exactly, not greedily. Points are whole cents, so
this is a bounded subset-sum over integers, solved by dynamic programming on a bitset:

* prices are divided by their greatest common divisor ``g`` (catalog prices in whole points make
  ``g`` at least 100), and the capacity is ``min(balance, cart total) / g``;
* each line's count is split in binary (1, 2, 4, …, rest): at most ``MAX_CART_LINES`` × 4 pieces;
* one Python integer per piece holds the reachable sums; the chosen sum is walked back through them.

**Bounds.** A cart has at most ``MAX_CART_LINES`` (20) lines of at most ``MAX_LINE_QUANTITY`` (10)
each. The bitset is used while the capacity is at most ``BITSET_LIMIT`` (2^21) units of ``g``: at
most 81 integers of 256 KiB, a few milliseconds. Beyond it, when the lines allow at most
``ENUMERATION_LIMIT`` (2^16) combinations they are enumerated; otherwise the suggestion is refused
(``SuggestionTooLarge``) rather than approximated. A cart of rewards priced in whole points stays
within the bitset up to a capacity of 2 097 152 points; one priced in hundreds of points up to
209 715 200.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar, cast

from sqlalchemy import Connection, Table, delete, func, insert, select, update

from bonusbridge.rewards import catalog, errors
from bonusbridge.rewards.models import OrderState, RewardCartItem, RewardOrder, RewardOrderLine

MAX_CART_LINES = 20
MAX_LINE_QUANTITY = 10
BITSET_LIMIT = 2**21
ENUMERATION_LIMIT = 2**16
CENT = Decimal("0.01")

cart_items = cast(Table, RewardCartItem.__table__)
orders = cast(Table, RewardOrder.__table__)
order_lines = cast(Table, RewardOrderLine.__table__)

K = TypeVar("K", bound=Hashable)


def cents(points: Decimal) -> int:
    return int((points / CENT).to_integral_exact())


def suggest(lines: Sequence[tuple[K, int, int]], budget: int) -> dict[K, int]:
    """``lines``: (key, unit price in cents, most units allowed); ``budget`` in cents. Returns the
    count per key of a selection with the greatest total ≤ budget (free lines: all their units)."""
    if budget < 0:
        budget = 0
    chosen: dict[K, int] = {key: 0 for key, _, _ in lines}
    paid: list[tuple[K, int, int]] = []
    for key, price, most in lines:
        if most <= 0:
            continue
        if price == 0:
            chosen[key] = most
        else:
            paid.append((key, price, most))
    total = sum(price * most for _, price, most in paid)
    if total <= budget:
        for key, _, most in paid:
            chosen[key] = most
        return chosen
    if not paid or budget == 0:
        return chosen
    g = 0
    for _, price, _ in paid:
        g = math.gcd(g, price)
    capacity = budget // g
    if capacity <= BITSET_LIMIT:
        pieces: list[tuple[K, int, int]] = []
        for key, price, most in paid:
            left, size = most, 1
            while left > 0:
                take = min(size, left)
                pieces.append((key, price // g * take, take))
                left -= take
                size *= 2
        mask = (1 << (capacity + 1)) - 1
        reach = 1
        history = [reach]
        for _, weight, _ in pieces:
            reach = (reach | (reach << weight)) & mask
            history.append(reach)
        target = reach.bit_length() - 1
        for index in range(len(pieces) - 1, -1, -1):
            if not (history[index] >> target) & 1:
                key, weight, take = pieces[index]
                target -= weight
                chosen[key] += take
        assert target == 0
        return chosen
    if math.prod(most + 1 for _, _, most in paid) <= ENUMERATION_LIMIT:
        best, best_counts = -1, tuple(0 for _ in paid)
        for counts in itertools.product(*(range(most + 1) for _, _, most in paid)):
            value = sum(count * price for count, (_, price, _) in zip(counts, paid, strict=True))
            if best < value <= budget:
                best, best_counts = value, counts
        for count, (key, _, _) in zip(best_counts, paid, strict=True):
            chosen[key] = count
        return chosen
    raise errors.SuggestionTooLarge()


# --- the member's cart ------------------------------------------------------------------------------


def bought_before(conn: Connection, customer_id: int, reward_ids: Sequence[int]) -> dict[int, int]:
    """Units of each reward in the member's orders that were not cancelled (the per-member limit)."""
    if not reward_ids:
        return {}
    rows = conn.execute(
        select(order_lines.c.reward_id, func.sum(order_lines.c.quantity))
        .join(orders, orders.c.id == order_lines.c.order_id)
        .where(
            orders.c.customer_id == customer_id,
            orders.c.state != OrderState.CANCELLED,
            order_lines.c.reward_id.in_(reward_ids),
        )
        .group_by(order_lines.c.reward_id)
    )
    return {reward_id: int(units or 0) for reward_id, units in rows}


def set_quantity(conn: Connection, customer_id: int, reward_id: int, quantity: int, *, now: datetime) -> None:
    """Add a reward to the cart, change its quantity, or (0) remove it. Adding records the price seen."""
    if quantity <= 0:
        conn.execute(
            delete(cart_items).where(
                cart_items.c.customer_id == customer_id, cart_items.c.reward_id == reward_id
            )
        )
        return
    if quantity > MAX_LINE_QUANTITY:
        raise errors.CartTooLarge(lines=MAX_CART_LINES, quantity=MAX_LINE_QUANTITY)
    reward = conn.execute(select(catalog.rewards).where(catalog.rewards.c.id == reward_id)).first()
    if reward is None:
        raise errors.UnknownReward()
    existing = conn.execute(
        select(cart_items.c.quantity).where(
            cart_items.c.customer_id == customer_id, cart_items.c.reward_id == reward_id
        )
    ).first()
    if existing is not None:
        conn.execute(
            update(cart_items)
            .where(cart_items.c.customer_id == customer_id, cart_items.c.reward_id == reward_id)
            .values(quantity=quantity)
        )
        return
    if not catalog.visible(reward, now):
        raise errors.RewardNotVisible(name=catalog.name_of(reward, "en"))
    count = conn.execute(select(func.count()).where(cart_items.c.customer_id == customer_id)).scalar_one()
    if count >= MAX_CART_LINES:
        raise errors.CartTooLarge(lines=MAX_CART_LINES, quantity=MAX_LINE_QUANTITY)
    conn.execute(
        insert(cart_items).values(
            customer_id=customer_id,
            reward_id=reward_id,
            quantity=quantity,
            seen_points=reward.points_price,
            seen_cash=reward.cash_price,
            added_at=now,
        )
    )


def accept_prices(conn: Connection, customer_id: int) -> None:
    """The member saw the new prices: the cart's lines take them."""
    for row in conn.execute(
        select(cart_items.c.reward_id, catalog.rewards.c.points_price, catalog.rewards.c.cash_price)
        .join(catalog.rewards, catalog.rewards.c.id == cart_items.c.reward_id)
        .where(cart_items.c.customer_id == customer_id)
    ).all():
        conn.execute(
            update(cart_items)
            .where(cart_items.c.customer_id == customer_id, cart_items.c.reward_id == row.reward_id)
            .values(seen_points=row.points_price, seen_cash=row.cash_price)
        )


def clear(conn: Connection, customer_id: int) -> None:
    conn.execute(delete(cart_items).where(cart_items.c.customer_id == customer_id))


@dataclass(frozen=True)
class QuoteLine:
    reward_id: int
    code: str
    name: str
    quantity: int
    unit_points: Decimal  # the current price
    unit_cash: Decimal
    vat_rate: Decimal
    seen_points: Decimal  # the price when added (differs: the price changed)
    seen_cash: Decimal
    most: int  # units orderable now for this member (stock, limits)
    problem: str | None  # why the line cannot be ordered as it is (in the member's language)

    @property
    def price_changed(self) -> bool:
        return self.unit_points != self.seen_points or self.unit_cash != self.seen_cash

    @property
    def points(self) -> Decimal:
        return self.unit_points * self.quantity

    @property
    def cash(self) -> Decimal:
        return self.unit_cash * self.quantity


@dataclass(frozen=True)
class Quote:
    lines: list[QuoteLine]
    points_total: Decimal
    cash_total: Decimal
    vat_total: Decimal
    available: Decimal
    balance_left: Decimal  # negative: over budget
    suggestion: dict[int, int] | None  # reward id → quantity, when over budget (or a line is limited)
    suggested_points: Decimal | None

    @property
    def over_budget(self) -> bool:
        return self.points_total > self.available


def vat_of(gross: Decimal, rate: Decimal) -> Decimal:
    """The VAT inside a gross amount at ``rate`` percent, to the cent (half up)."""
    if rate == 0:
        return Decimal("0.00")
    return (gross * rate / (100 + rate)).quantize(CENT, rounding="ROUND_HALF_UP")


def quote_lines(
    conn: Connection,
    customer_id: int,
    wanted: Sequence[tuple[int, int, Decimal | None, Decimal | None]],
    facts: catalog.MemberFacts,
    now: datetime,
) -> Quote:
    """Price ``wanted`` (reward id, quantity, points seen, cash seen) for the member, with the exact
    suggestion when it costs more than the available points or a line exceeds what is left."""
    if len(wanted) > MAX_CART_LINES or any(q > MAX_LINE_QUANTITY or q <= 0 for _, q, _, _ in wanted):
        raise errors.CartTooLarge(lines=MAX_CART_LINES, quantity=MAX_LINE_QUANTITY)
    ids = [reward_id for reward_id, _, _, _ in wanted]
    rows = {row.id: row for row in conn.execute(select(catalog.rewards).where(catalog.rewards.c.id.in_(ids)))}
    before = bought_before(conn, customer_id, ids)
    lines: list[QuoteLine] = []
    lang = facts.language
    for reward_id, quantity, seen_points, seen_cash in wanted:
        row = rows.get(reward_id)
        if row is None:
            raise errors.UnknownReward()
        name = catalog.name_of(row, lang)
        most = quantity
        left = catalog.units_left(row)
        if left is not None:
            most = min(most, max(left, 0))
        if row.per_member_limit is not None:
            most = min(most, max(row.per_member_limit - before.get(reward_id, 0), 0))
        problem: str | None = None
        gated = catalog.gate(row, facts)
        if not catalog.visible(row, now):
            problem, most = errors.RewardNotVisible(name=name).user_message(lang), 0
        elif not catalog.active(row, now):
            problem, most = errors.RewardNotActive(name=name).user_message(lang), 0
        elif gated is not None:
            problem, most = errors.not_eligible(name, *gated).user_message(lang), 0
        elif row.per_member_limit is not None and before.get(reward_id, 0) + quantity > row.per_member_limit:
            problem = errors.MemberLimitReached(
                name=name, limit=row.per_member_limit, already=before.get(reward_id, 0)
            ).user_message(lang)
        elif left is not None and left < quantity:
            problem = errors.OutOfStock(name=name, left=max(left, 0), wanted=quantity).user_message(lang)
        cash = row.cash_price or Decimal("0.00")
        lines.append(
            QuoteLine(
                reward_id=reward_id,
                code=row.code,
                name=name,
                quantity=quantity,
                unit_points=row.points_price,
                unit_cash=cash,
                vat_rate=row.vat_rate,
                seen_points=row.points_price if seen_points is None else seen_points,
                seen_cash=cash if seen_cash is None else seen_cash,
                most=most,
                problem=problem,
            )
        )
    points_total = sum((line.points for line in lines), Decimal("0.00"))
    cash_total = sum((line.cash for line in lines), Decimal("0.00"))
    vat_total = sum((vat_of(line.cash, line.vat_rate) for line in lines), Decimal("0.00"))
    suggestion: dict[int, int] | None = None
    suggested: Decimal | None = None
    if points_total > facts.available or any(line.most < line.quantity for line in lines):
        picked = suggest(
            [(line.reward_id, cents(line.unit_points), line.most) for line in lines], cents(facts.available)
        )
        suggestion = picked
        suggested = sum((line.unit_points * picked[line.reward_id] for line in lines), Decimal("0.00"))
    return Quote(
        lines=lines,
        points_total=points_total,
        cash_total=cash_total,
        vat_total=vat_total,
        available=facts.available,
        balance_left=facts.available - points_total,
        suggestion=suggestion,
        suggested_points=suggested,
    )


def cart_quote(conn: Connection, customer_id: int, facts: catalog.MemberFacts, now: datetime) -> Quote:
    rows = conn.execute(
        select(cart_items)
        .where(cart_items.c.customer_id == customer_id)
        .order_by(cart_items.c.added_at, cart_items.c.reward_id)
    ).all()
    wanted = [
        (row.reward_id, row.quantity, row.seen_points, row.seen_cash or Decimal("0.00")) for row in rows
    ]
    return quote_lines(conn, customer_id, wanted, facts, now)


def apply_suggestion(
    conn: Connection, customer_id: int, suggestion: dict[int, int], *, now: datetime
) -> None:
    for reward_id, quantity in suggestion.items():
        set_quantity(conn, customer_id, reward_id, quantity, now=now)
