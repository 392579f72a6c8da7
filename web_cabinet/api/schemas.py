"""The API's request and response bodies. Amounts are decimal strings both ways, never JSON numbers.

A JSON number is a binary float to most clients (and to pydantic's parser), and ``0.1 + 0.2`` is not
a sum of points anyone wants; 1C's register keeps two decimals, so does every amount here.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from bonusbridge.ledger.intents import MAX_AMOUNT as LEDGER_MAX_AMOUNT
from web_cabinet.api import ids

#: The largest amount of points or money the API takes or a card's balance may reach: 1C's bonus
#: register and the ledger's columns are NUMERIC(15,2) (``bonusbridge.ledger.intents.MAX_AMOUNT``).
MAX_AMOUNT = LEDGER_MAX_AMOUNT
MAX_QUANTITY = Decimal("999999999.999")
MAX_VAT_RATE = Decimal("99.99")

POINTS_PATTERN = r"^([1-9][0-9]{0,12}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"
MONEY_PATTERN = r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$"
QUANTITY_PATTERN = r"^([1-9][0-9]{0,8}(\.[0-9]{1,3})?|0\.([1-9][0-9]{0,2}|0[1-9][0-9]?|00[1-9]))$"
VAT_PATTERN = r"^(0|[1-9][0-9]?)(\.[0-9]{1,2})?$"
ORDER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"
SIGNED_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"

_DIGITS = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _refuse(message: str) -> PydanticCustomError:
    """A validation error whose message is exactly ``message`` (a ``ValueError`` would be prefixed
    with "Value error, "): the words a shop's developer reads in ``errors[].message``."""
    return PydanticCustomError("invalid_decimal_string", message)


def _decimal_string(pattern: str, places: int, *, maximum: Decimal, positive: bool) -> Any:
    """A parser of a decimal string matching ``pattern`` (the OpenAPI document's), whose refusals
    say what is wrong in words ("at most 2 decimals"), never by quoting the pattern."""
    regex = re.compile(pattern)
    quantum = Decimal(1).scaleb(-places)
    example = "150.00" if places == 2 else "1.250"

    def why(value: str) -> str:
        if not _DIGITS.fullmatch(value):
            return (
                f'must be a number written with digits and a dot, such as "{example}" '
                "(no spaces, commas, signs or exponents)"
            )
        if value.startswith("-"):
            return "must not be negative"
        whole, _, fraction = value.partition(".")
        if len(fraction) > places:
            return f"must have at most {places} decimals"
        if len(whole) > 1 and whole.startswith("0"):
            return f'must not start with a zero (write "{Decimal(value)}")'
        if Decimal(value) > maximum:
            return f"must be at most {maximum}"
        if positive and Decimal(value) == 0:
            return "must be more than 0"
        return f'is not a valid amount; write it like "{example}"'

    def parse(value: object) -> Decimal:
        if not isinstance(value, str):
            raise _refuse(f'must be a decimal string such as "{example}", not a JSON number')
        if not regex.fullmatch(value):
            raise _refuse(why(value))
        return Decimal(value).quantize(quantum)

    return parse


def _two_places(value: Decimal) -> str:
    return f"{value:.2f}"


_MAX_NOTE = f"At most {MAX_AMOUNT} (NUMERIC(15,2), as in 1C's bonus register)."

#: Points or money in a request: a positive decimal string, at most 2 decimals.
PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(POINTS_PATTERN, 2, maximum=MAX_AMOUNT, positive=True)),
    PlainSerializer(_two_places, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": POINTS_PATTERN, "examples": ["150.00"], "description": _MAX_NOTE}
    ),
]
#: Money that may be zero (a discount).
NonNegativeAmount = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(MONEY_PATTERN, 2, maximum=MAX_AMOUNT, positive=False)),
    PlainSerializer(_two_places, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": MONEY_PATTERN, "examples": ["0.00"], "description": _MAX_NOTE}
    ),
]
Quantity = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(QUANTITY_PATTERN, 3, maximum=MAX_QUANTITY, positive=True)),
    PlainSerializer(lambda value: f"{value:.3f}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": QUANTITY_PATTERN, "examples": ["2", "1.250"]}),
]
#: Any amount in a response: a decimal string with exactly two decimals.
Amount = Annotated[
    Decimal,
    PlainSerializer(_two_places, return_type=str),
    WithJsonSchema({"type": "string", "pattern": SIGNED_PATTERN, "examples": ["150.00"]}),
]
VatRate = Annotated[
    Decimal,
    BeforeValidator(_decimal_string(VAT_PATTERN, 2, maximum=MAX_VAT_RATE, positive=False)),
    PlainSerializer(_two_places, return_type=str),
    WithJsonSchema({"type": "string", "pattern": VAT_PATTERN, "examples": ["20"]}),
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")]


def _plausible_moment(value: datetime) -> datetime:
    """A purchase's moment with its offset, within years 2000-2999.

    Without an offset a time names no instant (14:05 in Moscow is not 14:05 in Vladivostok), so
    it is refused rather than read in some zone the sender may not mean. Far dates cannot be a
    receipt's, and at the calendar's ends the engine's date arithmetic (months of validity, local
    days) would overflow."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError(
            "timezone_required",
            "must carry a time-zone offset, e.g. 2026-12-03T14:05:00+03:00 or 2026-12-03T11:05:00Z "
            "(1C dates carry none: add the base's offset)",
        )
    if not 2000 <= value.year <= 2999:
        raise PydanticCustomError(
            "implausible_date", "a purchase date must be between the years 2000 and 2999"
        )
    return value


Moment = Annotated[datetime, AfterValidator(_plausible_moment)]
CardId = Annotated[str, Field(pattern=ids.pattern("card"), description="Opaque card id.")]
HoldId = Annotated[str, Field(pattern=ids.pattern("hold"), description="Opaque hold id.")]
OrderId = Annotated[str, Field(pattern=ORDER_PATTERN, description="The shop's own order number.")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- finding cards and customers ------------------------------------------------------------------


class CardSearch(Body):
    number: str = Field(min_length=1, max_length=64, description="As typed: spaces, dashes allowed.")


class CustomerSearch(Body):
    phone: str = Field(min_length=1, max_length=64, description="Any usual notation, e.g. 8 916 123-45-67.")


class CardOut(BaseModel):
    card_id: str = Field(description="Opaque card id for the other calls.")
    number_masked: str = Field(description="The number with all but its last 4 characters masked.")
    program: str = Field(description="Code of the loyalty program that issued the card.")
    status: str = Field(description="active, accumulation_only or blocked.")
    can_spend: bool = Field(description="Whether points on this card may pay for an order now.")
    is_primary: bool


class CardsFound(BaseModel):
    cards: list[CardOut]


class CustomerOut(BaseModel):
    customer_id: str = Field(description="Opaque customer id.")
    phone_verified: bool
    profile_complete: bool = Field(description="False: the customer's cards only accumulate points.")
    cards: list[CardOut]


class CustomersFound(BaseModel):
    customers: list[CustomerOut]
    unbound_cards: list[CardOut] = Field(description="Cards recorded with this phone but no customer yet.")


# --- balance and quote ----------------------------------------------------------------------------


class BalanceOut(BaseModel):
    card_id: str
    status: str
    can_spend: bool
    available: Amount = Field(description="Spendable now.")
    pending: Amount = Field(description="Accrued but not spendable yet.")
    held: Amount = Field(description="Reserved by checkouts in progress.")
    expiring_soon: Amount = Field(description="Part of the balance expiring before expiring_until.")
    expiring_until: datetime
    next_expiry: datetime | None
    as_of: datetime


class BasketLine(Body):
    sku: str = Field(min_length=1, max_length=64)
    quantity: Quantity
    price: NonNegativeAmount = Field(description="Unit price, VAT included.")
    discount: NonNegativeAmount = Field(default=Decimal("0"), description="Discount on the whole line.")
    category: str | None = Field(
        default=None, max_length=100, description="Item category (exclusions, campaigns)."
    )
    brand: str | None = Field(default=None, max_length=100, description="Item brand (exclusions, campaigns).")
    vat_rate: VatRate = Field(default=Decimal("0"), description='VAT rate in percent, e.g. "20".')


class Advantages(Body):
    at: Moment | None = Field(
        default=None,
        description="When the purchase happens, with its time-zone offset (e.g. `2026-12-03T14:05:00+03:00` "
        "or `...Z`), years 2000-2999; default now. Rules in force then apply. A time without an offset "
        "is refused (422 `validation_error` with `errors[].location` `body.at`): it is never read in "
        "some zone the sender may not mean.",
    )
    currency: Currency | None = Field(default=None, description="ISO 4217; default the program's.")
    vouchers: NonNegativeAmount = Field(
        default=Decimal("0"), description="Coupons and gift cards paying part of the basket."
    )


class QuoteIn(Advantages):
    card_id: CardId
    lines: list[BasketLine] = Field(min_length=1, max_length=500)
    points_to_spend: NonNegativeAmount = Field(
        default=Decimal("0"), description="Points the customer means to pay with (they may earn nothing)."
    )


class TillQuoteIn(Advantages):
    card_number: str = Field(min_length=1, max_length=64, description="As scanned or typed at the till.")
    lines: list[BasketLine] = Field(min_length=1, max_length=500)
    points_to_spend: NonNegativeAmount = Field(
        default=Decimal("0"), description="Points the customer pays with."
    )


class LineOut(BaseModel):
    sku: str
    amount: Amount = Field(description="The line after its discount.")
    base: Amount = Field(description="What earns points: net of VAT and advantages, per the program.")
    multiplier: str = Field(description="The combined multiplier applied, a decimal string.")
    points: Amount
    rules: list[str] = Field(description="Why: the earn rate, exclusions, multipliers that applied.")


class QuoteOut(BaseModel):
    card_id: str
    order_total: Amount = Field(description="Sum of the lines after discounts.")
    points_earned: Amount = Field(description="Points the order earns (paid with money, less advantages).")
    points_earned_value: Amount = Field(description="What those points will be worth in currency.")
    max_spend_points: Amount = Field(description="Most points that may pay for this order.")
    max_spend_value: Amount = Field(description="What those points are worth in currency.")
    available: Amount
    spend_refused: str | None = Field(
        description="Why no points may be spent (a card status, below_threshold, below_minimum_order), if so."
    )
    balance_after_max_spend: Amount = Field(
        description="The balance after spending max_spend_points: 0 when partial spending is off."
    )
    currency: str
    rule: str = Field(description='The spending rule to print, e.g. "100 points = 1.00 RUB".')
    program_version: int | None = Field(
        description="The program version whose rules applied (null: default)."
    )
    lines: list[LineOut]
    member: bool = Field(
        description="Whether the card's owner is in the loyalty program (false for a card with no owner)."
    )
    join_required: bool = Field(
        description="True: the program requires joining and the owner has not joined, so the order "
        "earns `points_earned` only if they join (offer the checkbox; send `join_program`)."
    )


# --- checkout -------------------------------------------------------------------------------------


class HoldIn(Body):
    card_id: CardId
    order_id: OrderId
    points: PositiveAmount
    order_total: NonNegativeAmount = Field(description="The order's total; bounds the points (spend share).")


class CaptureIn(Body):
    points: PositiveAmount | None = Field(default=None, description="Default: the whole hold.")


class HoldOut(BaseModel):
    hold_id: str
    card_id: str
    order_id: str
    points: Amount
    captured: Amount
    status: str = Field(description="pending, captured, voided or expired.")
    expires_at: datetime
    replayed: bool = Field(default=False, description="True: an earlier call with this key answered.")


# --- orders ---------------------------------------------------------------------------------------


class AccrualIn(Body):
    card_id: CardId
    order_id: OrderId
    order_total: NonNegativeAmount = Field(description="The paid order's total, including points spent.")
    join_program: StrictBool = Field(
        default=False,
        description="The customer ticked the box to join the loyalty program at checkout: the card's "
        "owner joins in this request's transaction (nothing for a member or a card with no owner). "
        'A JSON `true` or `false` only: `"yes"`, `1` or `"true"` are refused.',
    )


class AccrualOut(BaseModel):
    order_id: str
    card_id: str
    order_total: Amount
    points_spent: Amount = Field(description="Points captured for this order, worth part of its total.")
    points_accrued: Amount = Field(description="Earned on the part paid with money.")
    member: bool = Field(
        description="Whether the card's owner is in the loyalty program after this request (false for a "
        "card with no owner)."
    )
    earn_refused: Literal["not_a_member"] | None = Field(
        description="Why the order may earn nothing: `not_a_member` when the program requires joining and "
        "the card's owner has not joined (the order is still recorded, for its refunds and returns)."
    )
    replayed: bool = False


class RefundIn(Body):
    order_id: OrderId
    amount: PositiveAmount = Field(description="Value refunded, in the order's currency.")


class RefundOut(BaseModel):
    order_id: str
    amount: Amount
    refunded_total: Amount = Field(description="All refunds of the order so far, this one included.")
    order_total: Amount
    points_reversed: Amount = Field(description="Accrued points taken back by this refund.")
    points_returned: Amount = Field(description="Spent points given back by this refund.")
    replayed: bool = False


class OrderOut(BaseModel):
    order_id: str
    card_id: str
    order_total: Amount | None
    refunded_total: Amount
    points_accrued: Amount
    points_spent: Amount
    state: Literal["open", "held", "captured", "accrued", "partly_refunded", "refunded"] = Field(
        description="open (no hold yet) → held → captured → accrued → partly_refunded → refunded."
    )


# --- receipts (the points engine) -----------------------------------------------------------------


class ReceiptIn(Advantages):
    lang: Literal["ru", "en", "fr"] = Field(default="ru", description="Language of `print_lines`.")
    card_id: CardId
    receipt_id: OrderId = Field(
        description="The shop's order (or till receipt) number: points once per receipt."
    )
    lines: list[BasketLine] = Field(min_length=1, max_length=500)
    join_program: StrictBool = Field(
        default=False,
        description="The customer ticked the box to join the loyalty program at checkout: the card's "
        "owner joins in this request's transaction (nothing for a member or a card with no owner). "
        'A JSON `true` or `false` only: `"yes"`, `1` or `"true"` are refused.',
    )


class ReceiptOut(BaseModel):
    receipt_id: str
    card_id: str
    order_total: Amount
    points_spent: Amount = Field(description="Points captured for this order (checkout holds).")
    points_accrued: Amount
    available_from: datetime = Field(description="When the accrued points become spendable.")
    expires_at: datetime | None = Field(description="When they expire; null: never.")
    program_version: int | None
    lines: list[LineOut]
    balance: Amount = Field(description="The card's points after this receipt (available and pending).")
    print_lines: list[str] = Field(
        description="What the receipt prints: points earned and redeemed, their expiry, the new balance, "
        "the rule (e.g. 300 points = 3.00 RUB off), in `lang`."
    )
    member: bool = Field(
        description="Whether the card's owner is in the loyalty program after this request (false for a "
        "card with no owner)."
    )
    earn_refused: Literal["not_a_member"] | None = Field(
        description="Why the order may earn nothing: `not_a_member` when the program requires joining and "
        "the card's owner has not joined (the order is still recorded, for its refunds and returns)."
    )
    replayed: bool = False


class ReturnLine(Body):
    line: int = Field(ge=0, le=499, description="Index of the receipt's line (0-based, as sent).")
    quantity: Quantity


class ReturnIn(Body):
    lines: list[ReturnLine] = Field(min_length=1, max_length=500)


class ReturnOut(BaseModel):
    receipt_id: str
    amount: Amount = Field(description="Money value of the returned lines.")
    refunded_total: Amount
    order_total: Amount
    points_reversed: Amount = Field(description="Accrued points taken back (those of the returned lines).")
    points_returned: Amount = Field(
        description="Spent points given back, in proportion to the money returned."
    )
    replayed: bool = False
