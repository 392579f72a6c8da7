"""Bodies of the rewards shop's calls (``/shop/…``). Amounts are decimal strings, as everywhere in
the API; reward ids are the catalog's numbers, members and orders are opaque ids."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel as _BaseModel
from pydantic import Field, model_validator

from web_cabinet.api import ids
from web_cabinet.api.schemas import Amount, Body, NonNegativeAmount

RewardId = Annotated[int, Field(ge=1, le=ids.MAX_ROW_ID, description="The reward's catalog number.")]
RewardOrderId = Annotated[str, Field(pattern=ids.pattern("reward_order"), description="Opaque order id.")]
#: What may be asked of one line; the shop's own limits (20 lines, 10 of each) answer `cart_too_large`.
LineQuantity = Annotated[int, Field(ge=1, le=1000, description="Units; the cart takes at most 10 of each.")]
Reason = Literal[
    "not_active",
    "out_of_stock",
    "below_tier",
    "below_balance",
    "below_lifetime",
    "country",
    "language",
    "member_limit_reached",
    "insufficient_balance",
]


class CatalogItemOut(_BaseModel):
    reward_id: int
    code: str
    kind: Literal["physical", "e_voucher", "coupon"]
    category: str
    name: str = Field(description="In the caller's language (Accept-Language: ru or en).")
    description: str
    points_price: Amount
    cash_price: Amount | None = Field(description="The cash complement, VAT included; null: none.")
    vat_rate: Amount = Field(description="VAT of the cash complement, percent.")
    stock: int | None = Field(description="Units left (stock and global limit); null: unlimited.")
    orderable: bool = Field(description="Whether this member may order it now.")
    reason: Reason | None = Field(description="Why not, when not orderable.")
    threshold: str = Field(description="What the reason needs: the tier, balance or limit.")
    message: str | None = Field(description="The reason in the caller's language.")


class CatalogOut(_BaseModel):
    customer_id: str
    language: Literal["ru", "en"]
    tier: str | None = Field(description="The member's tier (card status) now.")
    available: Amount = Field(description="The member's spendable points now.")
    currency: str
    items: list[CatalogItemOut]


class ShopLineIn(Body):
    reward_id: RewardId
    quantity: LineQuantity
    points_price: NonNegativeAmount | None = Field(
        default=None, description="The price the member saw; another price now is flagged."
    )
    cash_price: NonNegativeAmount | None = Field(
        default=None, description='The cash complement the member saw ("0.00" when none).'
    )


def _distinct(lines: Sequence[ShopLineIn | OrderLineIn]) -> None:
    seen: set[int] = set()
    for line in lines:
        if line.reward_id in seen:
            raise ValueError(f"reward {line.reward_id} is listed twice: give one line with its quantity")
        seen.add(line.reward_id)


class ShopQuoteIn(Body):
    lines: list[ShopLineIn] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_line_per_reward(self) -> ShopQuoteIn:
        _distinct(self.lines)
        return self


class OrderLineIn(Body):
    reward_id: RewardId
    quantity: LineQuantity
    points_price: NonNegativeAmount = Field(
        description="The points price the member saw and agreed to: another price now is `price_changed`."
    )
    cash_price: NonNegativeAmount = Field(
        description='The cash complement the member saw ("0.00" when none).'
    )


class ShopOrderIn(Body):
    lines: list[OrderLineIn] = Field(min_length=1, max_length=100)
    address: str = Field(default="", max_length=2000, description="Delivery address (physical gifts).")

    @model_validator(mode="after")
    def _one_line_per_reward(self) -> ShopOrderIn:
        _distinct(self.lines)
        return self


class CancelIn(Body):
    reason: str = Field(default="", max_length=500)


class QuoteLineOut(_BaseModel):
    reward_id: int
    code: str
    name: str
    quantity: int
    unit_points: Amount = Field(description="The price now.")
    unit_cash: Amount
    vat_rate: Amount
    points: Amount = Field(description="unit_points × quantity.")
    cash: Amount
    price_changed: bool = Field(description="The price now differs from the one sent (seen).")
    seen_points: Amount
    seen_cash: Amount
    most: int = Field(description="Units the member may order now (stock, limits, gating).")
    problem: str | None = Field(
        description="Why the line cannot be ordered as it is, in the caller's language."
    )


class SuggestionLineOut(_BaseModel):
    reward_id: int
    quantity: int


class SuggestionOut(_BaseModel):
    lines: list[SuggestionLineOut] = Field(description="The cart to order instead (quantity 0: drop it).")
    points_total: Amount = Field(description="Its points: the most the balance allows, exactly.")
    balance_left: Amount
    explanation: str = Field(description="Why, in the caller's language.")


class ShopQuoteOut(_BaseModel):
    lines: list[QuoteLineOut]
    points_total: Amount
    cash_total: Amount = Field(description="The cash complement, VAT included.")
    vat_total: Amount = Field(description="The VAT inside cash_total.")
    currency: str
    available: Amount
    balance_left: Amount = Field(description="available − points_total; negative: over budget.")
    over_budget: bool
    orderable: bool = Field(description="True: placing these lines now would be accepted as they are.")
    suggestion: SuggestionOut | None = Field(
        description="When over budget or a line is limited: the sub-cart using the most points within "
        "the balance (exact bounded knapsack, not greedy)."
    )


class OrderLineOut(_BaseModel):
    reward_id: int
    name: str
    kind: str
    quantity: int
    unit_points: Amount
    unit_cash: Amount
    vat_rate: Amount
    state: Literal["open", "processed", "shipped", "cancelled"]
    codes: list[str] = Field(description="E-voucher or coupon codes, once the order is paid.")
    tracking: str | None


class PaymentDueOut(_BaseModel):
    invoice_number: str
    amount: Amount
    message: str = Field(description="In the caller's language (`unpaid_cash_part`).")


class ShopOrderOut(_BaseModel):
    order_id: str
    customer_id: str
    state: Literal["awaiting_payment", "paid", "fulfilled", "cancelled"]
    points_total: Amount
    cash_total: Amount
    vat_total: Amount
    currency: str
    invoice_number: str | None = Field(description="Set when the order has a cash part.")
    invoice_url: str | None = Field(description="The invoice PDF (`GET`, scope read).")
    payment_due: PaymentDueOut | None = Field(description="The cash part awaiting payment, if any.")
    address: str
    created_at: datetime
    paid_at: datetime | None
    lines: list[OrderLineOut]
    replayed: bool = Field(default=False, description="True: an earlier call with this key answered.")


class ShopOrdersOut(_BaseModel):
    orders: list[ShopOrderOut]
