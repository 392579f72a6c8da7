"""Property tests: whatever the basket, program and balance, a quote never offers to spend more than
the balance, the threshold, the per-order maximum or the order itself allow; points are exact."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bonusbridge.points.program import BEGINNING, Program, ProgramRules, Version
from bonusbridge.points.quote import Basket, Line, Wallet, quote
from bonusbridge.points.receipts import ReceiptLine, apply_return

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
cents = st.integers(min_value=0, max_value=10_000_000).map(lambda n: Decimal(n) / 100)
positive_cents = st.integers(min_value=1, max_value=10_000_000).map(lambda n: Decimal(n) / 100)
quantities = st.integers(min_value=1, max_value=50_000).map(lambda n: Decimal(n) / 1000)


@st.composite
def lines(draw: st.DrawFn) -> Line:
    quantity, price = draw(quantities), draw(cents)
    gross = (price * quantity).quantize(Decimal("0.01"))
    discount = draw(st.integers(min_value=0, max_value=int(gross * 100))).__truediv__(100)
    return Line(
        draw(st.sampled_from(["a", "b", "c"])),
        quantity,
        price,
        Decimal(discount).quantize(Decimal("0.01")),
        draw(st.sampled_from([None, "tools", "tobacco"])),
        draw(st.sampled_from([None, "acme"])),
        draw(st.sampled_from([Decimal(0), Decimal(10), Decimal(20)])),
    )


@st.composite
def programs(draw: st.DrawFn) -> ProgramRules:
    return ProgramRules(
        earn_rate=draw(st.sampled_from([Decimal("0.01"), Decimal("1"), Decimal("0.05")])),
        point_value=draw(st.sampled_from([Decimal("0.01"), Decimal("0.1"), Decimal("1"), Decimal("0.5")])),
        spend_threshold=draw(st.sampled_from([Decimal(0), Decimal(200)])),
        max_spend_points=draw(st.sampled_from([None, Decimal("150.5")])),
        max_spend_share=draw(st.sampled_from([None, Decimal("0.3"), Decimal("1")])),
        min_order_amount=draw(st.sampled_from([Decimal(0), Decimal(100)])),
        partial_spending=draw(st.booleans()),
        excluded_categories=frozenset({"tobacco"}),
        exclude_discounted=draw(st.booleans()),
        earn_base=draw(st.sampled_from(["gross", "net_of_vat"])),
    )


@settings(max_examples=300, deadline=None)
@given(rules=programs(), basket=st.lists(lines(), min_size=1, max_size=8), balance=cents)
def test_a_quote_never_offers_more_than_balance_threshold_maximum_or_the_order(rules, basket, balance):
    result = quote(Program((Version(1, BEGINNING, rules),)), Basket(basket, AT), wallet=Wallet(balance))
    spend = result.max_spend_points
    assert spend >= 0 and spend == spend.quantize(Decimal("0.01"))
    assert spend <= balance
    if balance < rules.spend_threshold or result.total < rules.min_order_amount:
        assert spend == 0
    if rules.max_spend_points is not None:
        assert spend <= rules.max_spend_points
    assert spend * rules.point_value <= result.total
    if rules.max_spend_share is not None:
        assert spend * rules.point_value <= result.total * rules.max_spend_share
    assert result.max_spend_value <= result.total
    assert result.points == sum((line.points for line in result.lines), Decimal(0))
    assert all(
        line.points >= 0 and line.points == line.points.quantize(Decimal("0.01")) for line in result.lines
    )
    assert 0 <= result.balance_after_max_spend <= balance


@settings(max_examples=200, deadline=None)
@given(basket=st.lists(lines(), min_size=1, max_size=6), data=st.data())
def test_returning_every_line_in_any_order_and_pieces_reverses_exactly_the_receipt(basket, data):
    result = quote(Program((Version(1, BEGINNING, ProgramRules()),)), Basket(basket, AT))
    receipt = [
        ReceiptLine(q.sku, line.quantity, q.amount, q.points)
        for q, line in zip(result.lines, basket, strict=True)
    ]
    returned_amount = Decimal(0)
    order = data.draw(st.permutations(range(len(receipt))))
    shares = None
    for index in order:
        left = receipt[index].quantity
        first = data.draw(st.integers(min_value=1, max_value=int(left * 1000))) / Decimal(1000)
        for piece in (first, left - first):
            if piece > 0:
                shares = apply_return(receipt, [(index, piece)])
                returned_amount += shares.amount
                assert 0 <= shares.points_share <= 1
    assert shares is not None and shares.full and shares.points_share == 1
    assert returned_amount == result.total
