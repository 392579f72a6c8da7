"""Tiers (card statuses) by rolling 12-month spend, each with its own earn rate; campaigns may
target a tier. The downgrade is immediate: the tier follows the window at every purchase."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from bonusbridge.points.errors import InvalidProgramRules
from bonusbridge.points.multipliers import CustomerFacts
from bonusbridge.points.program import BEGINNING, Campaign, Program, ProgramRules, Version
from bonusbridge.points.quote import Basket, Line, quote

AT = datetime(2026, 3, 12, 11, 0, tzinfo=UTC)
TIERS = [
    {"name": "silver", "min_spend": "10000", "earn_rate": "0.02"},
    {"name": "gold", "min_spend": "50000", "earn_rate": "0.05"},
]


def test_the_tier_follows_the_rolling_spend_and_sets_the_earn_rate():
    rules = ProgramRules.parse({"earn_rate": "0.01", "tiers": TIERS})
    gold_x2 = Campaign.parse(
        {
            "code": "gold-x2",
            "multiplier": "2",
            "tiers": ["gold"],
            "starts_at": "2026-01-01T00:00:00+00:00",
            "ends_at": "2027-01-01T00:00:00+00:00",
        }
    )
    program = Program((Version(1, BEGINNING, rules),), (gold_x2,))
    basket = Basket([Line("x", D(1), D("1000.00"))], AT)
    earned = [
        quote(program, basket, CustomerFacts(spend_12m=D(spend))).points
        for spend in ("0", "9999.99", "10000", "60000")
    ]
    assert earned == [D("10.00"), D("10.00"), D("20.00"), D("100.00")]  # gold: 0.05 x2
    assert (
        "tier gold: 0.05 points per RUB"
        in quote(program, basket, CustomerFacts(spend_12m=D(60000))).lines[0].rules
    )
    assert quote(program, basket).points == D("10.00")  # no spend known: the base rate


@pytest.mark.parametrize(
    "tiers",
    [
        [
            {"name": "gold", "min_spend": "5", "earn_rate": "1"},
            {"name": "silver", "min_spend": "1", "earn_rate": "1"},
        ],
        [{"name": "gold", "min_spend": "5"}],
        "gold",
    ],
)
def test_bad_tiers_are_refused(tiers):
    with pytest.raises(InvalidProgramRules):
        ProgramRules.parse({"tiers": tiers})
