"""Each seed's worked example, computed by the engine itself (pure: no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

from bonusbridge.points.multipliers import CustomerFacts
from bonusbridge.points.program import BEGINNING, Campaign, Program, ProgramRules, Version
from bonusbridge.points.quote import Basket, Line, Wallet, quote
from bonusbridge.points.receipts import ReceiptLine, accrual_dates, add_months, apply_return

AT = datetime(2026, 3, 12, 11, 0, tzinfo=UTC)  # a Thursday, 14:00 in Moscow


def program(campaigns: tuple[Campaign, ...] = (), **rules: object) -> Program:
    return Program((Version(1, BEGINNING, ProgramRules.parse(rules)),), campaigns)


def one_line(price: str, discount: str = "0") -> list[Line]:
    return [Line("sku-1", D(1), D(price), D(discount))]


def test_seed_001_one_point_per_unit_order_of_50_earns_50_points_worth_half_a_unit():
    """Seed 001: 1 point per € spent, a point worth 0.01 €: Martine's order of 50 € earns 50
    points, which take 0.50 € off her next order."""
    martine = program(currency="EUR", earn_rate="1", point_value="0.01")
    first = quote(martine, Basket(one_line("50.00"), AT))
    assert first.points == D("50.00") and first.points_value == D("0.50")
    following = quote(martine, Basket(one_line("30.00"), AT), wallet=Wallet(first.points))
    assert following.max_spend_points == D("50.00") and following.max_spend_value == D("0.50")


def test_seed_001_minimum_order_amount_and_per_order_maximum():
    rules = program(max_spend_points="20", min_order_amount="10")
    assert (
        quote(rules, Basket(one_line("9.99"), AT), wallet=Wallet(D(100))).spend_refused
        == "below_minimum_order"
    )
    assert quote(rules, Basket(one_line("50.00"), AT), wallet=Wallet(D(100))).max_spend_points == D("20.00")


def test_seed_003_partial_spending_on_keeps_the_rest_of_300_points():
    """Seed 003: a bill of 25 € paid with 250 points (0.10 € each) out of 300: 50 points remain."""
    allowed = quote(
        program(point_value="0.10", partial_spending=True),
        Basket(one_line("25.00"), AT),
        wallet=Wallet(D(300)),
    )
    assert allowed.max_spend_points == D("250.00") and allowed.max_spend_value == D("25.00")
    assert allowed.balance_after_max_spend == D("50.00")


def test_seed_003_partial_spending_off_empties_the_balance():
    """…and without partial spending the same payment leaves 0 points."""
    refused = quote(
        program(point_value="0.10", partial_spending=False),
        Basket(one_line("25.00"), AT),
        wallet=Wallet(D(300)),
    )
    assert refused.max_spend_points == D("250.00") and refused.balance_after_max_spend == D("0.00")


def test_seed_003_threshold_points_usable_from_200():
    rules = program(point_value="0.10", spend_threshold="200")
    assert (
        quote(rules, Basket(one_line("25.00"), AT), wallet=Wallet(D("199.99"))).spend_refused
        == "below_threshold"
    )
    assert quote(rules, Basket(one_line("25.00"), AT), wallet=Wallet(D(200))).max_spend_points == D("200.00")


def test_seed_003_voucher_of_5_and_300_points_on_a_bill_of_50_earns_on_15():
    """A voucher of 5 € and 300 points (30 €) on a bill of 50 €: 15 points (50 − 5 − 30)."""
    rules = program(point_value="0.10", advantages_reduce_base=True)
    paid = quote(rules, Basket(one_line("50.00"), AT, vouchers=D(5), points_to_spend=D(300)))
    assert paid.points == D("15.00")
    split = quote(
        rules,
        Basket(
            [Line("a", D(1), D("20.00")), Line("b", D(3), D("10.00"))],
            AT,
            vouchers=D(5),
            points_to_spend=D(300),
        ),
    )
    assert split.points == D("15.00") and [line.points for line in split.lines] == [D("6.00"), D("9.00")]
    ignored = quote(
        program(point_value="0.10", advantages_reduce_base=False),
        paid_basket := Basket(one_line("50.00"), AT, vouchers=D(5), points_to_spend=D(300)),
    )
    assert ignored.points == D("50.00") and paid_basket.vouchers == D(5)


def test_seed_003_credit_note_of_20_removes_20_points():
    """A credit note of 20 € on a receipt that earned 1 point per € takes back 20 points."""
    rules = program(earn_rate="1")
    receipt = quote(rules, Basket([Line("a", D(1), D("30.00")), Line("b", D(2), D("10.00"))], AT))
    assert receipt.points == D("50.00")
    lines = [
        ReceiptLine(q.sku, qty, q.amount, q.points)
        for q, qty in zip(receipt.lines, (D(1), D(2)), strict=True)
    ]
    shares = apply_return(lines, [(1, D(2))])  # the two items of 10 € back: a credit note of 20 €
    assert shares.amount == D("20.00")
    assert (receipt.points * shares.points_share).quantize(D("0.01")) == D("20.00")


def test_seed_003_discounted_article_35_instead_of_42_earns_nothing():
    excluded = program(exclude_discounted=True)
    line = Line("drill", D(1), D("42.00"), discount=D("7.00"))
    result = quote(excluded, Basket([line, Line("saw", D(1), D("10.00"))], AT))
    assert result.lines[0].amount == D("35.00") and result.lines[0].points == D("0.00")
    assert "discounted items earn nothing" in result.lines[0].rules
    assert result.points == D("10.00")
    assert quote(program(exclude_discounted=False), Basket([line], AT)).points == D("35.00")


def test_seed_003_excluded_themes_and_amount_net_of_vat():
    rules = program(excluded_categories=["tobacco"], earn_base="net_of_vat")
    result = quote(
        rules,
        Basket(
            [
                Line("cig", D(1), D("12.00"), category="Tobacco"),
                Line("tea", D(1), D("120.00"), vat_rate=D(20)),
            ],
            AT,
        ),
    )
    assert [line.points for line in result.lines] == [D("0.00"), D("100.00")]


def test_seed_003_points_tripled_on_thursdays_and_birthday_and_first_purchase():
    thursday = Campaign.parse(
        {
            "code": "thursday-x3",
            "multiplier": "3",
            "starts_at": "2026-01-01T00:00:00+03:00",
            "ends_at": "2027-01-01T00:00:00+03:00",
            "weekdays": ["thu"],
        }
    )
    highest = program((thursday,), birthday="month", birthday_multiplier="2", first_purchase_multiplier="2")
    born_in_march = CustomerFacts(birth_date=date(1990, 3, 30), first_purchase=True)
    assert quote(highest, Basket(one_line("10.00"), AT), born_in_march).points == D("30.00")
    friday = AT.replace(day=13)
    assert quote(highest, Basket(one_line("10.00"), friday), born_in_march).points == D("20.00")
    assert quote(highest, Basket(one_line("10.00"), friday)).points == D("10.00")
    multiply = program(
        (thursday,), birthday="day", birthday_multiplier="2", multiplier_policy="multiply", multiplier_cap="5"
    )
    born_today = CustomerFacts(birth_date=date(1990, 3, 12))
    result = quote(multiply, Basket(one_line("10.00"), AT), born_today)
    assert result.lines[0].multiplier == D(5) and result.points == D("50.00")  # 2 x 3 = 6, capped at 5


def test_seed_003_validity_in_months_and_pending_period():
    rules = ProgramRules.parse({"validity_months": 12, "pending_days": 14})
    available_from, expires_at = accrual_dates(rules, AT)
    assert available_from == datetime(2026, 3, 26, 11, 0, tzinfo=UTC)
    assert expires_at == datetime(2027, 3, 12, 11, 0, tzinfo=UTC)
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)


def test_seed_003_receipt_rule_reminder_text():
    """ "300 points = 3 €": the rule a receipt prints."""
    assert quote(program(currency="EUR"), Basket(one_line("1.00"), AT)).rule == "100 points = 1.00 EUR"
