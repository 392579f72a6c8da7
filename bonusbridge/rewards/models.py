"""The rewards shop's tables (issue 21): suppliers, rewards, e-voucher codes, carts, orders, invoices.

Stock and limits are counters on the reward's row, changed by one conditional ``UPDATE`` each
(``stock >= :q``), so two checkouts racing for the last item cannot both win; e-voucher codes are
claimed row by row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL). Prices are ``Points`` (two decimals:
points are whole cents, and so is money).
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bonusbridge.models import Base, _enum, utcnow
from bonusbridge.types import Points, UTCDateTime


class RewardKind(enum.StrEnum):
    PHYSICAL = "physical"  # shipped by its supplier
    E_VOUCHER = "e_voucher"  # a third party's code, uploaded in advance, each issued once
    COUPON = "coupon"  # a discount coupon for the website's checkout, made at issue


class OrderState(enum.StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"  # points held, the cash part's invoice not yet paid
    PAID = "paid"  # points captured, cash paid: the supplier's to fulfil
    FULFILLED = "fulfilled"  # every line processed (or shipped) by its supplier
    CANCELLED = "cancelled"  # hold voided or points refunded, stock restored


class LineState(enum.StrEnum):
    OPEN = "open"
    PROCESSED = "processed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class RewardSupplier(Base):
    """Who fulfils rewards; logs in by a signed e-mail link, never a password."""

    __tablename__ = "reward_suppliers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    locale: Mapped[str] = mapped_column(String(5), default="ru")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reward(Base):
    """One catalog item. ``stock`` None: unlimited; ``issued`` counts units sold (global limit)."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("issued >= 0", name="issued_not_negative"),
        CheckConstraint("global_limit IS NULL OR issued <= global_limit", name="within_global_limit"),
        CheckConstraint("points_price >= 0", name="points_price_not_negative"),
        CheckConstraint("cash_price IS NULL OR cash_price > 0", name="cash_price_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[RewardKind] = mapped_column(_enum(RewardKind, "reward_kind"))
    category: Mapped[str] = mapped_column(String(100))
    names: Mapped[str] = mapped_column(Text)  # JSON {"ru": ..., "en": ...}
    descriptions: Mapped[str] = mapped_column(Text)  # JSON, same languages
    points_price: Mapped[Decimal] = mapped_column(Points)
    cash_price: Mapped[Decimal | None] = mapped_column(Points)  # gross, in the program's currency
    vat_rate: Mapped[Decimal] = mapped_column(Points, default=Decimal("0"))  # percent, e.g. 20.00
    coupon_value: Mapped[Decimal | None] = mapped_column(Points)  # a coupon's discount, in currency
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("reward_suppliers.id"))
    stock: Mapped[int | None] = mapped_column(Integer)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    per_member_limit: Mapped[int | None] = mapped_column(Integer)
    global_limit: Mapped[int | None] = mapped_column(Integer)
    active_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    visible_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    visible_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    min_tier: Mapped[str | None] = mapped_column(String(64))
    min_balance: Mapped[Decimal | None] = mapped_column(Points)
    min_lifetime_points: Mapped[Decimal | None] = mapped_column(Points)
    countries: Mapped[str] = mapped_column(String(200), default="")  # "FR,BE"; empty: everywhere
    languages: Mapped[str] = mapped_column(String(200), default="")  # "fr,nl"; empty: every language
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RewardImage(Base):
    """A reward's picture (``bonusbridge.rewards.images``): checked and re-encoded by Pillow, kept in
    the database (every worker serves it), addressed by its content hash so it can be cached for good."""

    __tablename__ = "reward_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RewardVoucherCode(Base):
    """An e-voucher code uploaded in advance; ``order_line_id`` set: issued (reserved) once."""

    __tablename__ = "reward_voucher_codes"
    __table_args__ = (
        UniqueConstraint("reward_id", "code"),
        Index("ix_reward_voucher_codes_free", "reward_id", "order_line_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    code: Mapped[str] = mapped_column(String(200))
    batch: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("reward_order_lines.id"))


class RewardCartItem(Base):
    """A line of a member's cart, with the points price they saw when adding it."""

    __tablename__ = "reward_cart_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    seen_points: Mapped[Decimal] = mapped_column(Points)
    seen_cash: Mapped[Decimal | None] = mapped_column(Points)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RewardOrder(Base):
    """A member's order: its points held (``hold_id``), then captured (``capture_movement_id``)."""

    __tablename__ = "reward_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # the placement's idempotency key
    fingerprint: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    state: Mapped[OrderState] = mapped_column(_enum(OrderState, "reward_order_state"))
    points_total: Mapped[Decimal] = mapped_column(Points)
    cash_total: Mapped[Decimal] = mapped_column(Points)
    vat_total: Mapped[Decimal] = mapped_column(Points)
    currency: Mapped[str] = mapped_column(String(3))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id"))
    capture_movement_id: Mapped[int | None] = mapped_column(ForeignKey("movements.id"))
    cashback_movement_id: Mapped[int | None] = mapped_column(ForeignKey("movements.id"))
    invoice_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    address: Mapped[str] = mapped_column(Text, default="")
    locale: Mapped[str] = mapped_column(String(5), default="ru")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)


class RewardOrderLine(Base):
    __tablename__ = "reward_order_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("reward_orders.id"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("reward_suppliers.id"), index=True)
    kind: Mapped[RewardKind] = mapped_column(_enum(RewardKind, "reward_kind"))
    name: Mapped[str] = mapped_column(String(300))  # in the order's language, as bought
    quantity: Mapped[int] = mapped_column(Integer)
    unit_points: Mapped[Decimal] = mapped_column(Points)
    unit_cash: Mapped[Decimal] = mapped_column(Points)
    vat_rate: Mapped[Decimal] = mapped_column(Points)
    coupon_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    state: Mapped[LineState] = mapped_column(_enum(LineState, "reward_line_state"))
    tracking: Mapped[str | None] = mapped_column(String(100))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RewardInvoiceCounter(Base):
    """The last invoice number of a year: taken in the order's transaction, so numbers have no gaps."""

    __tablename__ = "reward_invoice_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class MailMessage(Base):
    """The e-mail outbox: a message is queued in the transaction that asks for it (idempotent by its
    key), rendered and sent at most once by ``mail/`` (which registers with the hub like ``sms/``)."""

    __tablename__ = "mail_messages"
    __table_args__ = (Index("ix_mail_messages_status", "status", "not_before"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(200), unique=True)
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(5))
    to_address: Mapped[str] = mapped_column(String(254))
    params: Mapped[str] = mapped_column(Text)  # JSON
    status: Mapped[str] = mapped_column(String(16))  # queued | sending | sent | unconfirmed | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
