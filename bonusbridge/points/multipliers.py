"""Which multipliers apply to a line, and how several combine.

Sources: the customer's birthday (its day or its month, ``rules.birthday``), the customer's first
purchase, and every campaign active at the receipt's local time whose item criteria (category,
brand, SKU) match the line and whose customer criteria (city, region, tier, program) match the
customer. An empty criterion matches everything.

``rules.multiplier_policy`` combines them:

* ``highest`` (default): the largest multiplier applies, the others do not;
* ``multiply``: they multiply (x2 birthday on a x3 Thursday earns x6).

Either way the result is capped at ``rules.multiplier_cap`` when set, and no multiplier means x1.
A campaign multiplier below 1 (e.g. x0 "no points on tobacco") lowers the line under ``multiply``;
under ``highest`` it only matters if nothing else applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bonusbridge.points.program import Campaign, ProgramRules

ONE = Decimal(1)


@dataclass(frozen=True)
class CustomerFacts:
    """What customer criteria and personal multipliers look at."""

    birth_date: date | None = None
    first_purchase: bool = False
    city: str | None = None
    region: str | None = None
    #: the card's tier: the one its last review stored when ``tier_reviewed`` (the downgrade
    #: policy may keep a tier the window no longer reaches), else set by the quote from spend_12m
    tier: str | None = None
    tier_reviewed: bool = False  # the card has a reviewed tier (card_tiers), None included
    spend_12m: Decimal | None = None  # rolling 12-month spend (receipts less returns)
    program: str | None = None


def _norm(value: str | None) -> str | None:
    return value.strip().casefold() if value else None


def personal(rules: ProgramRules, customer: CustomerFacts, local_day: date) -> list[tuple[str, Decimal]]:
    """Birthday and first purchase: they apply to every line of the receipt."""
    found: list[tuple[str, Decimal]] = []
    born = customer.birth_date
    if born is not None and rules.birthday != "off" and rules.birthday_multiplier != ONE:
        same_month = born.month == local_day.month
        if same_month and (rules.birthday == "month" or born.day == local_day.day):
            found.append((f"birthday x{rules.birthday_multiplier}", rules.birthday_multiplier))
    if customer.first_purchase and rules.first_purchase_multiplier != ONE:
        found.append((f"first purchase x{rules.first_purchase_multiplier}", rules.first_purchase_multiplier))
    return found


def customer_campaigns(campaigns: tuple[Campaign, ...], customer: CustomerFacts) -> tuple[Campaign, ...]:
    """The campaigns whose customer criteria this customer meets (checked once per receipt)."""
    city, region, tier, program = (
        _norm(customer.city),
        _norm(customer.region),
        _norm(customer.tier),
        _norm(customer.program),
    )
    return tuple(
        c
        for c in campaigns
        if (not c.cities or city in c.cities)
        and (not c.regions or region in c.regions)
        and (not c.tiers or tier in c.tiers)
        and (not c.programs or program in c.programs)
    )


class ItemIndex:
    """The campaigns of one receipt, indexed by their first item criterion (SKU, else category,
    else brand), so a line checks only the campaigns that may concern it instead of all of them."""

    def __init__(self, campaigns: tuple[Campaign, ...]) -> None:
        self.everything: list[Campaign] = []
        self.by_sku: dict[str, list[Campaign]] = {}
        self.by_category: dict[str, list[Campaign]] = {}
        self.by_brand: dict[str, list[Campaign]] = {}
        for campaign in campaigns:
            if campaign.skus:
                keys, index = campaign.skus, self.by_sku
            elif campaign.categories:
                keys, index = campaign.categories, self.by_category
            elif campaign.brands:
                keys, index = campaign.brands, self.by_brand
            else:
                self.everything.append(campaign)
                continue
            for key in keys:
                index.setdefault(key, []).append(campaign)

    def for_item(self, sku: str, category: str | None, brand: str | None) -> list[tuple[str, Decimal]]:
        candidates = [
            *self.everything,
            *self.by_sku.get(sku, ()),
            *(self.by_category.get(category, ()) if category is not None else ()),
            *(self.by_brand.get(brand, ()) if brand is not None else ()),
        ]
        return [
            (c.label, c.multiplier)
            for c in candidates
            if (not c.skus or sku in c.skus)
            and (not c.categories or category in c.categories)
            and (not c.brands or brand in c.brands)
        ]


def combine(rules: ProgramRules, found: list[tuple[str, Decimal]]) -> tuple[Decimal, list[str]]:
    """The line's multiplier and the names of the multipliers that made it."""
    if not found:
        return ONE, []
    if rules.multiplier_policy == "highest":
        why, value = max(found, key=lambda item: item[1])
        applied = [why]
    else:
        value = ONE
        for _, factor in found:
            value *= factor
        applied = [why for why, _ in found]
    if rules.multiplier_cap is not None and value > rules.multiplier_cap:
        value = rules.multiplier_cap
        applied.append(f"capped at x{rules.multiplier_cap}")
    return value, applied
