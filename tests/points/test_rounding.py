"""Issue 15, item 4: exact, then once. The engine's points against a reference written with
``fractions.Fraction`` over random baskets, rates, VAT, advantages and multipliers: every line's
points are its exact ``base × rate × multiplier`` rounded down to 0.01, never a cent lost on the way."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from bonusbridge.points.program import BEGINNING, Campaign, Program, ProgramRules, Version
from bonusbridge.points.quote import Basket, Line, Wallet, order_spend_limit, quote

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CENT = Decimal("0.01")


def program(rules: ProgramRules, multiplier: Decimal | None = None) -> Program:
    campaigns = ()
    if multiplier is not None and multiplier != 1:
        campaigns = (Campaign("all", multiplier, AT - timedelta(days=1), AT + timedelta(days=1)),)
    return Program((Version(1, BEGINNING, rules),), campaigns)


def reference_points(rules: ProgramRules, basket: Basket, multiplier: Decimal) -> list[Decimal]:
    """The points of each line, computed exactly and rounded once, down to the cent."""
    amounts = [
        (line.price * line.quantity).quantize(CENT, ROUND_HALF_UP) - line.discount for line in basket.lines
    ]
    total = sum(amounts, Decimal(0))
    advantages = Fraction(0)
    if rules.advantages_reduce_base and total > 0:
        advantages = min(
            Fraction(basket.vouchers) + Fraction(basket.points_to_spend) * Fraction(rules.point_value),
            Fraction(total),
        )
    paid = (Fraction(total) - advantages) / Fraction(total) if total > 0 else Fraction(0)
    out = []
    for line, amount in zip(basket.lines, amounts, strict=True):
        base = Fraction(amount)
        if rules.earn_base == "net_of_vat":
            base = base * 100 / (100 + Fraction(line.vat_rate))
        exact = base * paid * Fraction(rules.earn_rate) * Fraction(multiplier)
        out.append(Decimal(math.floor(exact * 100)) / 100)
    return [value.quantize(CENT) for value in out]


def test_forty_euros_including_vat_tripled_earn_one_hundred_points():
    rules = ProgramRules(earn_base="net_of_vat", earn_rate=Decimal("2.5"))
    basket = Basket([Line("a", Decimal(1), Decimal("40.00"), vat_rate=Decimal(20))], AT)
    # 40.00 TTC = 33.333… HT; × 2.5 × 3 = 250.00 exactly (Decimal division gave 249.99).
    assert quote(program(rules, Decimal(3)), basket).points == Decimal("250.00")
    one = ProgramRules(earn_base="net_of_vat", earn_rate=Decimal("1"))
    assert quote(program(one, Decimal(3)), basket).points == Decimal("100.00")


def test_the_spend_limit_is_exact_too():
    # 0.03 a point: 99.99 / 0.03 = 3333 exactly; Decimal division gave 3332.99.
    rules = ProgramRules(point_value=Decimal("0.03"))
    assert order_spend_limit(rules, Decimal("99.99")) == Decimal("3333.00")
    shared = ProgramRules(point_value=Decimal("0.03"), max_spend_share=Decimal("0.3"))
    assert order_spend_limit(shared, Decimal("100.00")) == Decimal("1000.00")


cents = st.integers(min_value=1, max_value=5_000_000).map(lambda n: (Decimal(n) / 100).quantize(CENT))
quantities = st.integers(min_value=1, max_value=20_000).map(lambda n: Decimal(n) / 1000)
rates = st.sampled_from(["0.01", "0.05", "0.1", "1", "2.5", "3", "0.07"]).map(Decimal)
multipliers = st.sampled_from(["1", "1.5", "2", "3", "1.1", "2.25"]).map(Decimal)
vats = st.sampled_from(["0", "10", "20", "18", "5.5", "7"]).map(Decimal)


@st.composite
def baskets(draw: st.DrawFn) -> Basket:
    lines = []
    for number in range(draw(st.integers(min_value=1, max_value=6))):
        quantity, price = draw(quantities), draw(cents)
        gross = (price * quantity).quantize(CENT, ROUND_HALF_UP)
        discount = (Decimal(draw(st.integers(min_value=0, max_value=int(gross * 100)))) / 100).quantize(CENT)
        lines.append(Line(f"sku{number}", quantity, price, discount, vat_rate=draw(vats)))
    return Basket(
        lines,
        AT,
        vouchers=draw(st.sampled_from([Decimal(0), Decimal("5.00"), Decimal("13.37")])),
        points_to_spend=draw(st.sampled_from([Decimal(0), Decimal("100.00"), Decimal("333.33")])),
    )


@settings(max_examples=500, deadline=None)
@given(
    basket=baskets(),
    rate=rates,
    multiplier=multipliers,
    earn_base=st.sampled_from(["gross", "net_of_vat"]),
    reduce=st.booleans(),
    point_value=st.sampled_from(["0.01", "0.03", "0.1", "1"]).map(Decimal),
)
def test_every_line_earns_its_exact_points_rounded_once(
    basket, rate, multiplier, earn_base, reduce, point_value
):
    rules = ProgramRules(
        earn_rate=rate, earn_base=earn_base, advantages_reduce_base=reduce, point_value=point_value
    )
    result = quote(program(rules, multiplier), basket, wallet=Wallet(Decimal("1000000.00")))
    expected = reference_points(rules, basket, multiplier)
    assert [line.points for line in result.lines] == expected
    assert result.points == sum(expected, Decimal("0.00"))
    exact_limit = Fraction(result.total) / Fraction(point_value)
    assert result.max_spend_points == min(
        Decimal(math.floor(exact_limit * 100)) / 100, Decimal("1000000.00")
    ).quantize(CENT)
