"""What a basket earns and may spend — the one function the shop API, the tills' endpoint and the
receipts share. Pure: no database, no clock; the caller passes the program, the customer's facts
and the balance.

Rounding (points and money keep two decimals, like 1C's bonus register):

* a line's amount is ``price × quantity`` rounded half up to 0.01 (what a till prints), less its
  discount;
* the earn base is that amount, net of VAT when ``earn_base = net_of_vat`` (``amount × 100 /
  (100 + vat_rate)``), less its share of the commercial advantages (vouchers, gift cards, points
  spent) when ``advantages_reduce_base`` — the advantages are spread over the lines in proportion
  to their amounts; no rounding in between;
* a line earns ``base × earn rate × multiplier`` rounded **down** to 0.01 (never a point not
  earned), and the receipt earns the sum of its lines, so lines and total always agree;
* the points that may be spent are rounded down to 0.01; their value is rounded half up.

Exact, then once: the whole formula of a line (VAT, the advantages' share, rate, multiplier) and of
the spend limit (share, point value) is computed with ``fractions.Fraction``, and only its result is
rounded. ``Decimal`` division keeps 28 digits, so 40.00 TTC at 20 % VAT ×3 came to
99.999…9 and rounded down to 99.99 instead of the exact 100.00.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from bonusbridge.points import multipliers
from bonusbridge.points.errors import (
    BelowMinimumOrder,
    BelowSpendThreshold,
    InvalidBasket,
    SpendLimitExceeded,
    UnknownCurrency,
)
from bonusbridge.points.multipliers import CustomerFacts
from bonusbridge.points.program import Program, ProgramRules, Tier

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
#: Largest amount 1C's NUMERIC(15,2) and the hub's ``Points`` store.
MAX_AMOUNT = Decimal("9999999999999.99")


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: Decimal
    price: Decimal  # unit price, VAT included
    discount: Decimal = ZERO  # on the whole line
    category: str | None = None
    brand: str | None = None
    vat_rate: Decimal = ZERO  # percent, e.g. 20


@dataclass(frozen=True)
class Basket:
    lines: Sequence[Line]
    at: datetime
    currency: str | None = None  # None: the program's
    vouchers: Decimal = ZERO  # coupons and gift cards paying part of it
    points_to_spend: Decimal = ZERO  # points paying part of it


@dataclass(frozen=True)
class Wallet:
    """The card's side: spendable points now, and why spending is refused (a card status), if so."""

    available: Decimal = ZERO
    refused: str | None = None


NOBODY = CustomerFacts()
EMPTY = Wallet()


@dataclass(frozen=True)
class LineQuote:
    sku: str
    amount: Decimal  # after discount
    base: Decimal  # earn base, two places for display
    multiplier: Decimal
    points: Decimal
    rules: tuple[str, ...]  # why: the rate, exclusions, multipliers


@dataclass(frozen=True)
class Quote:
    version_id: int | None
    currency: str
    total: Decimal
    points: Decimal
    points_value: Decimal
    max_spend_points: Decimal
    max_spend_value: Decimal
    spend_refused: str | None
    balance_after_max_spend: Decimal  # partial spending off: spending any points empties the balance
    lines: tuple[LineQuote, ...]
    rule: str  # e.g. "100 points = 1.00 RUB"


def cents_down(value: Fraction) -> Decimal:
    """An exact quantity rounded down (towards zero for the non-negative amounts used here) to 0.01."""
    return (Decimal(math.floor(value * 100)) / 100).quantize(CENT)


def _check(lines: Sequence[Line]) -> list[Decimal]:
    if not lines:
        raise InvalidBasket("the basket has no lines")
    amounts = []
    for number, line in enumerate(lines):
        if line.quantity <= 0:
            raise InvalidBasket(f"line {number} ({line.sku}): the quantity must be positive")
        if line.price < 0 or line.discount < 0:
            raise InvalidBasket(f"line {number} ({line.sku}): price and discount cannot be negative")
        if line.vat_rate < 0 or line.vat_rate >= HUNDRED:
            raise InvalidBasket(f"line {number} ({line.sku}): the VAT rate must be between 0 and 100")
        gross = (line.price * line.quantity).quantize(CENT, ROUND_HALF_UP)
        if line.discount > gross:
            raise InvalidBasket(f"line {number} ({line.sku}): the discount exceeds the line's price")
        amounts.append(gross - line.discount)
    return amounts


def spend_limit(rules: ProgramRules, total: Decimal, wallet: Wallet) -> tuple[Decimal, str | None]:
    """The most points that may pay for an order of ``total``, and why none may (a stable code)."""
    if wallet.refused is not None:
        return ZERO, wallet.refused
    refused = spend_refusal(rules, total, wallet.available)
    if refused is not None:
        return ZERO, refused
    return min(order_spend_limit(rules, total), wallet.available), None


def spend_refusal(rules: ProgramRules, total: Decimal, balance: Decimal) -> str | None:
    """Why the program lets no points pay for an order of ``total`` from a card whose spendable
    balance (before this order) is ``balance``: the order's minimum, then the spend threshold."""
    if total <= 0 or total < rules.min_order_amount:
        return "below_minimum_order"
    if balance < rules.spend_threshold:
        return "below_threshold"
    return None


def check_spend(
    rules: ProgramRules, total: Decimal, available: Decimal, points: Decimal, *, already: Decimal = ZERO
) -> None:
    """Refuse ``points`` more for an order of ``total`` that already reserves or spent ``already``,
    from a card with ``available`` spendable points besides them — the quote's rule, raised as the
    typed refusal every spending path (checkout holds, captures) answers with."""
    refused = spend_refusal(rules, total, available + already)
    if refused == "below_minimum_order":
        raise BelowMinimumOrder(
            f"points may pay only for orders of at least {rules.min_order_amount:.2f} {rules.currency}; "
            f"this one totals {total:.2f}"
        )
    if refused == "below_threshold":
        raise BelowSpendThreshold(
            f"points become usable once the balance reaches {rules.spend_threshold:.2f}; "
            f"it is {available + already:.2f}"
        )
    left = order_spend_limit(rules, total) - already
    if points > left:
        share = (
            f"{rules.max_spend_share:%} of the order" if rules.max_spend_share is not None else "the order"
        )
        raise SpendLimitExceeded(
            f"points may pay at most {share}: {max(left, ZERO):.2f} more points at most, not {points:.2f}"
        )


def order_spend_limit(rules: ProgramRules, total: Decimal) -> Decimal:
    """The most points the program lets pay for an order of ``total``, whatever the balance: the
    order's value, its share limit and the absolute maximum, computed exactly, rounded down."""
    value = Fraction(rules.point_value)
    limit = Fraction(total) / value
    if rules.max_spend_share is not None:
        limit = min(limit, Fraction(total) * Fraction(rules.max_spend_share) / value)
    if rules.max_spend_points is not None:
        limit = min(limit, Fraction(rules.max_spend_points))
    return max(cents_down(limit), ZERO)


def value_of(points: Decimal, rules: ProgramRules) -> Decimal:
    return (points * rules.point_value).quantize(CENT, ROUND_HALF_UP)


def rule_text(rules: ProgramRules) -> str:
    points = (Decimal(1) / rules.point_value).quantize(CENT, ROUND_HALF_UP).normalize()
    return f"{points:f} points = 1.00 {rules.currency}"


def customer_tier(rules: ProgramRules, customer: CustomerFacts) -> Tier | None:
    """The card's tier under these rules: the one its last review stored, so a tier kept by the
    downgrade policy keeps its earn rate and campaigns; else (never reviewed, or a tier this
    version no longer has) the highest tier the rolling spend reaches, as before reviews existed."""
    if not rules.tiers:
        return None
    if customer.tier_reviewed:
        if customer.tier is None:
            return None
        stored = rules.tier_named(customer.tier)
        if stored is not None:
            return stored
    return rules.tier_for(customer.spend_12m) if customer.spend_12m is not None else None


def quote(
    program: Program, basket: Basket, customer: CustomerFacts = NOBODY, wallet: Wallet = EMPTY
) -> Quote:
    version = program.version_at(basket.at)
    rules = version.rules
    if basket.currency is not None and basket.currency.upper() != rules.currency:
        raise UnknownCurrency(
            f"the program keeps points in {rules.currency}; {basket.currency!r} is not a currency it knows"
        )
    if basket.vouchers < 0 or basket.points_to_spend < 0:
        raise InvalidBasket("vouchers and points to spend cannot be negative")
    amounts = _check(basket.lines)
    total = sum(amounts, ZERO)
    if total > MAX_AMOUNT:
        raise InvalidBasket("the basket's total exceeds the largest storable amount")

    advantages = ZERO
    if rules.advantages_reduce_base and total > 0:
        advantages = min(basket.vouchers + basket.points_to_spend * rules.point_value, total)
    paid_share = Fraction(total - advantages) / Fraction(total) if total > 0 else Fraction(0)

    rate, rate_why = rules.earn_rate, f"{rules.earn_rate} points per {rules.currency}"
    tier = customer_tier(rules, customer)
    if tier is not None or customer.tier_reviewed:
        customer = replace(customer, tier=tier.name if tier is not None else None)
    if tier is not None:
        rate, rate_why = tier.earn_rate, f"tier {tier.name}: {tier.earn_rate} points per {rules.currency}"
    local_day = basket.at.astimezone(rules.zone).date()
    personal = multipliers.personal(rules, customer, local_day)
    campaigns = multipliers.customer_campaigns(program.campaigns_at(basket.at, rules), customer)
    index = program.index_of(campaigns)
    excluded_categories, excluded_brands = rules.excluded_categories, rules.excluded_brands

    quoted = []
    earned = ZERO
    seen: dict[tuple[str, str | None, str | None], tuple[Decimal, list[str]]] = {}
    for line, amount in zip(basket.lines, amounts, strict=True):
        category = line.category.casefold() if line.category else None
        brand = line.brand.casefold() if line.brand else None
        why: list[str]
        exact = Fraction(0)
        if category is not None and category in excluded_categories:
            base, factor, points, why = ZERO, Decimal(1), ZERO, [f"category {line.category} earns nothing"]
        elif brand is not None and brand in excluded_brands:
            base, factor, points, why = ZERO, Decimal(1), ZERO, [f"brand {line.brand} earns nothing"]
        elif rules.exclude_discounted and line.discount > 0:
            base, factor, points, why = ZERO, Decimal(1), ZERO, ["discounted items earn nothing"]
        else:
            exact = Fraction(amount)
            if rules.earn_base == "net_of_vat" and line.vat_rate:
                exact = exact * 100 / (100 + Fraction(line.vat_rate))
            exact *= paid_share
            base = cents_down(exact)
            item = (line.sku.casefold(), category, brand)
            combined = seen.get(item)
            if combined is None:
                found = personal + index.for_item(*item)
                combined = seen[item] = multipliers.combine(rules, found)
            factor, why = combined[0], list(combined[1])
            points = cents_down(exact * Fraction(rate) * Fraction(factor))
            why = [rate_why, *why]
            if advantages:
                why.append(f"advantages {advantages:.2f} {rules.currency} earn nothing")
        earned += points
        quoted.append(LineQuote(line.sku, amount, base, factor, points, tuple(why)))

    spendable, refused = spend_limit(rules, total, wallet)
    after = wallet.available - spendable if rules.partial_spending or spendable == 0 else ZERO
    return Quote(
        version_id=version.id,
        currency=rules.currency,
        total=total,
        points=earned,
        points_value=value_of(earned, rules),
        max_spend_points=spendable,
        max_spend_value=value_of(spendable, rules),
        spend_refused=refused,
        balance_after_max_spend=max(after, ZERO),
        lines=tuple(quoted),
        rule=rule_text(rules),
    )
