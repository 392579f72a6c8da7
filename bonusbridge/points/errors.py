"""Typed refusals of the points engine. Each means nothing was computed or written."""

from __future__ import annotations

from bonusbridge.errors import BonusBridgeError


class PointsError(BonusBridgeError):
    code = "points_error"


class InvalidBasket(PointsError):
    """A line with a negative price or quantity, a discount above its price, an empty basket…"""

    code = "invalid_basket"


class UnknownCurrency(PointsError):
    code = "unknown_currency"


class BeforeProgramStart(PointsError):
    """A receipt or quote dated before the first program version took effect."""

    code = "before_program_start"


class InvalidProgramRules(PointsError):
    """A program version or campaign that cannot be computed with (unknown key, bad value)."""

    code = "invalid_program_rules"


class RetroactiveChange(PointsError):
    """A rule change whose effect would start in a closed period (the past): receipts already
    computed there would no longer match their rules."""

    code = "retroactive_change"


class ContradictoryCampaigns(PointsError):
    """Two campaigns for the same items, customers and times that give different multipliers."""

    code = "contradictory_campaigns"


class SpendRefused(PointsError):
    """The program lets these points not pay for this order (the quote says why with the same code)."""

    code = "spend_refused"


class BelowMinimumOrder(SpendRefused):
    code = "below_minimum_order"


class BelowSpendThreshold(SpendRefused):
    """The card's balance has not reached the program's spend threshold yet."""

    code = "below_threshold"


class SpendLimitExceeded(SpendRefused):
    """More points than the order's share limit, the absolute maximum or its value allow."""

    code = "spend_limit_exceeded"
