"""The hub's tables: customers, cards, and the bonus ledger (operations, movements, lots, holds).

Movements are the ledger's truth and are only ever inserted. Lots, holds and ``card_balances``
are derived state kept in the same transaction as the movements that change them, so a balance is
one indexed read; ``bonusbridge ledger check`` proves they still agree with the movements.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bonusbridge.types import Points, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """Enums are stored as their values in a VARCHAR with a CHECK: portable and readable in SQL."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [member.value for member in members],
    )


class Origin(enum.StrEnum):
    """Where a change came from. Sync uses it to never send a change back to its source."""

    WEBSITE = "website"
    ONEC = "onec"
    MIGRATION = "migration"
    ADMIN = "admin"
    RECONCILIATION = "reconciliation"
    SYSTEM = "system"


class CardStatus(enum.StrEnum):
    ACTIVE = "active"
    ACCUMULATION_ONLY = "accumulation_only"
    BLOCKED = "blocked"


class Gender(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"


class MovementKind(enum.StrEnum):
    ACCRUAL = "accrual"
    REDEMPTION = "redemption"
    EXPIRY = "expiry"
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"


class HoldStatus(enum.StrEnum):
    PENDING = "pending"
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"


class Program(Base):
    """A loyalty program that issued cards: the current bonus program or one of the legacy ones."""

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The name in English for the English pages and SMS (None: they say what kind of program it is).
    name_en: Mapped[str | None] = mapped_column(String(200))
    is_legacy: Mapped[bool] = mapped_column(Boolean, default=False)
    onec_ref: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Customer(Base):
    """A customer's profile. The verified phone identifies them in the cabinet."""

    __tablename__ = "customers"
    __table_args__ = (
        # A verified phone belongs to one customer only; unverified duplicates are legacy reality.
        Index(
            "uq_customers_verified_phone",
            "phone_e164",
            unique=True,
            sqlite_where=text("phone_verified_at IS NOT NULL"),
            postgresql_where=text("phone_verified_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone_e164: Mapped[str | None] = mapped_column(String(16), index=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_name: Mapped[str | None] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(100))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))
    gender: Mapped[Gender | None] = mapped_column(_enum(Gender, "gender"))
    city: Mapped[str | None] = mapped_column(String(100))
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA; quiet hours of SMS (default: settings)
    locale: Mapped[str | None] = mapped_column(String(5))  # ru | en: language of SMS (default ru)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    changed_by: Mapped[Origin] = mapped_column(_enum(Origin, "origin"), default=Origin.ADMIN)
    onec_ref: Mapped[str | None] = mapped_column(String(36), unique=True)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative API

    def missing_fields(self, required: list[str]) -> list[str]:
        """The required profile fields that are still empty."""
        return [field for field in required if getattr(self, field) in (None, "")]

    def is_complete(self, required: list[str]) -> bool:
        return not self.missing_fields(required)


class Card(Base):
    """A loyalty card. Its phone is what its program recorded: unverified until the owner proves it."""

    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("program_id", "number"),
        Index(
            "uq_cards_primary_per_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("is_primary"),
            postgresql_where=text("is_primary"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    number: Mapped[str] = mapped_column(String(64))
    status: Mapped[CardStatus] = mapped_column(_enum(CardStatus, "card_status"), default=CardStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    phone_raw: Mapped[str | None] = mapped_column(String(64))
    phone_e164: Mapped[str | None] = mapped_column(String(16), index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    # The card whose balance holds this card's points (``bonusbridge.ledger.accounts``): NULL, the
    # card itself (retail); in ut11 every card of a partner names the partner's account card.
    account_card_id: Mapped[int | None] = mapped_column(Integer, index=True)
    onec_ref: Mapped[str | None] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Who made the last change: a change made by 1C is not sent back to it (see sync_outbox).
    changed_by: Mapped[Origin] = mapped_column(_enum(Origin, "origin"), default=Origin.ADMIN)


class CardBalance(Base):
    """Running totals of a card: the row the ledger locks, and the one indexed balance read.

    ``total`` is the sum of the card's movements (= of its lots' remainders) and ``held`` the sum of
    its pending holds. Pending, expired-but-not-swept and spendable amounts depend on the clock,
    so they are computed from the card's open lots at read time rather than stored and left to rot.
    """

    __tablename__ = "card_balances"
    __table_args__ = (
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("held >= 0", name="held_not_negative"),
        CheckConstraint("held <= total", name="held_within_total"),
    )

    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), primary_key=True)
    total: Mapped[Decimal] = mapped_column(Points, default=Decimal("0"))
    held: Mapped[Decimal] = mapped_column(Points, default=Decimal("0"))


class LedgerOperation(Base):
    """One idempotent call to the ledger: the key, and a fingerprint of its arguments."""

    __tablename__ = "ledger_operations"
    __table_args__ = (UniqueConstraint("origin", "idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[Origin] = mapped_column(_enum(Origin, "origin"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    fingerprint: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(100))
    # The hold a capture or void acted on (no foreign key: holds already point here).
    hold_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Movement(Base):
    """An append-only change of a card's points. Never updated, never deleted."""

    __tablename__ = "movements"
    __table_args__ = (
        # The operation's key, per origin and card: the two halves of a transfer (like the rows of
        # one 1C document on two cards) share it; ledger_operations keeps keys unique per origin.
        UniqueConstraint("origin", "external_id", "card_id"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_movements_card_occurred", "card_id", "occurred_at"),
        # The movements a 1C document made, found again when it is re-posted, unposted or deleted.
        Index(
            "ix_movements_onec_document",
            "document",
            sqlite_where=text("origin = 'onec'"),
            postgresql_where=text("origin = 'onec'"),
        ),
        # Few movements are reversals: index only those, so ordinary inserts skip the index.
        Index(
            "ix_movements_reversals",
            "reverses_id",
            sqlite_where=text("reverses_id IS NOT NULL"),
            postgresql_where=text("reverses_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    operation_id: Mapped[int] = mapped_column(ForeignKey("ledger_operations.id"), index=True)
    kind: Mapped[MovementKind] = mapped_column(_enum(MovementKind, "movement_kind"))
    amount: Mapped[Decimal] = mapped_column(Points)
    origin: Mapped[Origin] = mapped_column(_enum(Origin, "origin"))
    external_id: Mapped[str] = mapped_column(String(220))
    document: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("movements.id"))
    counterpart_card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))


class Lot(Base):
    """Points credited together, spendable from ``available_from`` until ``expires_at``.

    Debits consume lots earliest expiry first, never-expiring last; ``held`` is the part reserved
    by pending holds, which redemptions and expiry leave alone.
    """

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_within_amount"),
        CheckConstraint("held >= 0 AND held <= remaining", name="held_within_remaining"),
        Index(
            "ix_lots_open_by_card",
            "card_id",
            "expires_at",
            sqlite_where=text("remaining > 0"),
            postgresql_where=text("remaining > 0"),
        ),
        Index(
            "ix_lots_open_by_expiry",
            "expires_at",
            sqlite_where=text("remaining > 0 AND expires_at IS NOT NULL"),
            postgresql_where=text("remaining > 0 AND expires_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    # Not indexed: lots are always reached through their card (ix_lots_open_by_card).
    movement_id: Mapped[int] = mapped_column(ForeignKey("movements.id"))
    amount: Mapped[Decimal] = mapped_column(Points)
    remaining: Mapped[Decimal] = mapped_column(Points)
    held: Mapped[Decimal] = mapped_column(Points, default=Decimal("0"))
    available_from: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source_lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))


class LotAllocation(Base):
    """Which lots a debit movement consumed, and how much of each: what a reversal gives back."""

    __tablename__ = "lot_allocations"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    movement_id: Mapped[int] = mapped_column(ForeignKey("movements.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Points)


class Hold(Base):
    """A two-phase redemption: points reserved at checkout, then captured (all or part) or voided."""

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("captured >= 0 AND captured <= amount", name="captured_within_amount"),
        Index(
            "ix_holds_pending_expiry",
            "expires_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("ledger_operations.id"), unique=True)
    amount: Mapped[Decimal] = mapped_column(Points)
    captured: Mapped[Decimal] = mapped_column(Points, default=Decimal("0"))
    status: Mapped[HoldStatus] = mapped_column(_enum(HoldStatus, "hold_status"), default=HoldStatus.PENDING)
    document: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    capture_movement_id: Mapped[int | None] = mapped_column(ForeignKey("movements.id"))


class HoldAllocation(Base):
    """The lots a hold reserves, so capture spends exactly them and void frees exactly them."""

    __tablename__ = "hold_allocations"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Points)


# --- two-way sync with 1C ----------------------------------------------------------------------
#
# The outbox and the inbox are how the hub and 1C tell each other about changes without losing or
# doubling any (shared/reference/ledger-and-messaging.md). Both are partitioned into SYNC_SLOTS
# slots by the key whose changes must apply in order (a card, a customer): one worker at a time
# drains a slot, oldest row first, so order per key holds with any number of workers.

#: Fixed number of ordering slots; the outbox triggers compute ``entity id % SYNC_SLOTS``.
SYNC_SLOTS = 64


class SyncState(enum.StrEnum):
    """A sync message's life: pending until done (or skipped: an echo or a stale version); parked
    when it cannot be mapped (replayable after a fix); dead after too many failed tries (the DLQ)."""

    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"
    PARKED = "parked"
    DEAD = "dead"


class OutboxMessage(Base):
    """A hub change 1C must learn. Written by database triggers on movements, customers and cards in
    the very transaction of the change, so no code path can change data and forget to tell 1C.

    Delivery sends the entity's *current* state (and a movement exactly once, by its id), so a
    message delivered twice, or after a newer one of the same key, changes nothing more.
    """

    __tablename__ = "sync_outbox"
    __table_args__ = (
        Index(
            "ix_sync_outbox_unpublished",
            "id",
            sqlite_where=text("state = 'pending' AND published_at IS NULL"),
            postgresql_where=text("state = 'pending' AND published_at IS NULL"),
        ),
        Index(
            "ix_sync_outbox_pending_slot",
            "slot",
            "id",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(16))  # customer | card | movement
    entity_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(40))  # customer:<id> | card:<id>
    slot: Mapped[int] = mapped_column(Integer)
    origin: Mapped[Origin] = mapped_column(_enum(Origin, "origin"))
    state: Mapped[SyncState] = mapped_column(_enum(SyncState, "sync_state"), default=SyncState.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class InboxMessage(Base):
    """A change read from 1C's feed, stored before 1C is told it was received.

    Unique per object version: 1C re-sends an unacknowledged change, and the same version arriving
    twice (SelectChanges and AMQP, or a redelivery) is stored once and applied once.
    """

    __tablename__ = "sync_inbox"
    __table_args__ = (
        UniqueConstraint("entity_set", "onec_ref", "data_version"),
        Index(
            "ix_sync_inbox_pending_slot",
            "slot",
            "id",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # select_changes | amqp | pull | replay
    entity_set: Mapped[str] = mapped_column(String(200))
    onec_ref: Mapped[str] = mapped_column(String(36))
    data_version: Mapped[str] = mapped_column(String(40))
    message_no: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str | None] = mapped_column(String(16))  # customer | card | movement | receipt
    key: Mapped[str] = mapped_column(String(60))
    slot: Mapped[int] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[SyncState] = mapped_column(_enum(SyncState, "sync_state"), default=SyncState.PENDING)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class SyncLink(Base):
    """The last common version of a customer or card: what both sides agreed on at the last sync.

    A field differs from ``base`` on a side that changed it since; both sides changed it → conflict.
    ``onec_version`` is the DataVersion the hub last wrote or applied: that version coming back on
    1C's feed is the hub's own echo.
    """

    __tablename__ = "sync_links"
    __table_args__ = (UniqueConstraint("kind", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # customer | card
    entity_id: Mapped[int] = mapped_column(Integer)
    onec_ref: Mapped[str | None] = mapped_column(String(36))
    onec_version: Mapped[str | None] = mapped_column(String(40))
    base: Mapped[str] = mapped_column(Text, default="{}")
    # Initial load: 1C documents dated before this instant are already in the card's opening balance.
    opening_as_of: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncConflict(Base):
    """A field both sides changed since their last common version, and how the policy decided."""

    __tablename__ = "sync_conflicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[int] = mapped_column(Integer)
    onec_ref: Mapped[str | None] = mapped_column(String(36))
    field: Mapped[str] = mapped_column(String(40))
    base_value: Mapped[str | None] = mapped_column(Text)
    hub_value: Mapped[str | None] = mapped_column(Text)
    onec_value: Mapped[str | None] = mapped_column(Text)
    policy: Mapped[str] = mapped_column(String(16))
    winner: Mapped[str] = mapped_column(String(16))  # onec | website
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncCursor(Base):
    """Small named facts the sync keeps durable: feed position, last success per direction, the
    circuit breaker, the initial load's progress. One row each, ``value`` is JSON."""

    __tablename__ = "sync_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# --- SMS and one-time codes -------------------------------------------------------------------------


class SmsStatus(enum.StrEnum):
    """An SMS's life. ``sending`` is claimed by one worker; ``unconfirmed`` means the gateway may have
    sent it (a timeout after the request left, a worker lost mid-call) — it is never sent again, since
    a second SMS is worse than a missing one, and a status poll or callback may still settle it."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


class SmsMessage(Base):
    """One SMS, queued in the transaction of whatever asked for it and sent by a task. ``message_key``
    makes asking twice harmless. The text of a one-time code is erased once the SMS is settled."""

    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_due", "status", "not_before"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # otp | transactional | marketing
    template: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(5), default="ru")
    phone_e164: Mapped[str] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[SmsStatus] = mapped_column(_enum(SmsStatus, "sms_status"), default=SmsStatus.QUEUED)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)  # quiet hours, retry backoff
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    gateway: Mapped[str | None] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OtpChallenge(Base):
    """One code sent to one phone: only its HMAC is kept. Rows are the rate limiter's memory too:
    sends per phone, IP and session are counted from them."""

    __tablename__ = "otp_challenges"
    __table_args__ = (
        Index("ix_otp_challenges_phone_created", "phone_e164", "created_at"),
        Index("ix_otp_challenges_ip_created", "client_ip", "created_at"),
        Index("ix_otp_challenges_session_created", "session_hash", "created_at"),
        Index("ix_otp_challenges_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(24))
    code_hmac: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(45))
    session_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sms_message_id: Mapped[int | None] = mapped_column(Integer)


class OtpPhoneGuard(Base):
    """Per phone: failures across codes (a new code does not reset them), the lock they lead to, and
    the resend cooldown that grows with each code asked for in a row."""

    __tablename__ = "otp_phone_guards"

    phone_e164: Mapped[str] = mapped_column(String(16), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    streak: Mapped[int] = mapped_column(Integer, default=0)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Shop API clients -----------------------------------------------------------------------------


class ApiClient(Base):
    """A system that calls the shop API (the website's checkout, a mobile app), with its scopes.

    Only a SHA-256 of the key is kept: keys are long random strings, so a plain hash cannot be
    reversed, and a leaked table opens nothing. ``key_prefix`` (the key's first characters, shown
    to staff) finds the row without scanning; a revoked client is refused but kept for the audit.
    """

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(Text, default="")  # space-separated, e.g. "read quote checkout"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiOrder(Base):
    """A shop order as the API knows it: whose card, its total, and how much of it was refunded.

    Refunds are proportional to the order total, so the total must be remembered; the points it
    earned and spent are the ledger's (``accrual_movement_id``, and the captured holds whose
    ``document`` is ``shop-order:<id>``).
    """

    __tablename__ = "api_orders"
    __table_args__ = (
        UniqueConstraint("client_id", "reference"),
        # A card's rolling 12-month spend (quotes, tier reviews) reads one index range.
        Index("ix_api_orders_card_created", "card_id", "created_at"),
        CheckConstraint("refunded >= 0", name="refunded_not_negative"),
        CheckConstraint("total IS NULL OR refunded <= total", name="refunded_within_total"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    reference: Mapped[str] = mapped_column(String(64))  # the shop's own order number
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    total: Mapped[Decimal | None] = mapped_column(Points)  # set by the accrual for the paid order
    refunded: Mapped[Decimal] = mapped_column(Points, default=Decimal("0"))
    accrual_movement_id: Mapped[int | None] = mapped_column(ForeignKey("movements.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The order total its holds were made against (the spend share's base); None: no hold yet.
    spend_total: Mapped[Decimal | None] = mapped_column(Points)
    # Money refunded by amount (``/refunds``), apart from the returned lines' money the receipt
    # keeps: together they say what a mix of refunds and returns reverses.
    refunded_by_amount: Mapped[Decimal] = mapped_column(Points, default=Decimal("0"), server_default="0")


class ApiIdempotencyKey(Base):
    """An API write that took effect, by its client's ``Idempotency-Key``: what it asked, what it got.

    A retry with the same key and body gets the stored answer back; the same key with another body
    is refused. Refused writes are not stored: they changed nothing and may be retried as they are.
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    key: Mapped[str] = mapped_column(String(120))
    operation: Mapped[str] = mapped_column(String(40))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)  # the JSON body as first sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- Web cabinet ----------------------------------------------------------------------------------


class CardClaim(Base):
    """One attempt in the cabinet to add a card by its number and a receipt's points (the proof).

    Failures are the rate limiter's memory, per customer and per card number, so that the proof
    cannot be guessed by trying amounts; successes are kept for support ("who added this card").
    """

    __tablename__ = "cabinet_card_claims"
    __table_args__ = (
        Index("ix_cabinet_card_claims_customer_created", "customer_id", "created_at"),
        Index("ix_cabinet_card_claims_number_created", "card_number", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    card_number: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # bound | mismatch | taken | blocked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonalDataConsent(Base):
    """A customer's consent to the processing of their personal data (152-ФЗ), given on the
    cabinet's profile form: which version of the consent's text they agreed to, and when. Only
    inserted; a new version of the text is agreed to anew. Separate from ``marketing_consent``."""

    __tablename__ = "personal_data_consents"
    __table_args__ = (UniqueConstraint("customer_id", "text_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    text_version: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    origin: Mapped[Origin] = mapped_column(_enum(Origin, "origin"))


class FormUse(Base):
    """A cabinet form that was submitted and took effect: a second submission of it is a replay."""

    __tablename__ = "cabinet_form_uses"

    form_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- Legacy import ----------------------------------------------------------------------------------


class LegacyImportRun(Base):
    """A legacy-import plan being or having been applied (``bonusbridge migrate apply``)."""

    __tablename__ = "legacy_import_runs"

    plan_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    cards: Mapped[int] = mapped_column(Integer)
    batches: Mapped[int] = mapped_column(Integer)
    sources: Mapped[str] = mapped_column(Text)  # JSON: file, program, sha256 per source index
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LegacyImportBatch(Base):
    """A batch of a plan that is applied: written in the batch's own transaction, so a re-run after
    a crash skips exactly the batches that landed."""

    __tablename__ = "legacy_import_batches"

    plan_hash: Mapped[str] = mapped_column(ForeignKey("legacy_import_runs.plan_hash"), primary_key=True)
    batch_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    cards: Mapped[int] = mapped_column(Integer)
    created: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LegacyImportIssue(Base):
    """A planned card apply did not create: it exists already (imported before, or created since
    the plan was made with other data). Never overwritten; listed for staff."""

    __tablename__ = "legacy_import_issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_hash: Mapped[str] = mapped_column(String(64), index=True)
    batch_no: Mapped[int] = mapped_column(Integer)
    program_code: Mapped[str] = mapped_column(String(64))
    card_number: Mapped[str] = mapped_column(String(64))
    source: Mapped[int] = mapped_column(Integer)
    line: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))  # already_imported | changed_since_plan
    card_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class LegacyCard(Base):
    """Where an imported card came from (plan, source file index, line) and the owner data and tier
    its legacy program had: the cabinet's profile pre-fill and the staff's duplicate review."""

    __tablename__ = "legacy_cards"

    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), primary_key=True)
    plan_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[int] = mapped_column(Integer)
    line: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str | None] = mapped_column(String(40))
    last_name: Mapped[str | None] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(100))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(254))


# --- Merges and drift -------------------------------------------------------------------------------


class CardMerge(Base):
    """A decision to merge cards into one: whose, which card absorbed which, who decided, and
    whether (and by whom) it was undone. Written in the transaction of the merge by every path
    (the cabinet's ``choose_primary``, staff's ``reconciliation.merges.merge_cards``)."""

    __tablename__ = "card_merges"
    __table_args__ = (UniqueConstraint("origin", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None: the customer the merge created was removed by its unmerge (nothing else used it).
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    primary_card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    # The card that was primary before (None: none was), so an unmerge gives the flag back.
    previous_primary_card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    primary_was_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    # The primary card had no owner and staff bound it for the merge: an unmerge unbinds it.
    primary_bound_for_merge: Mapped[bool] = mapped_column(Boolean, default=False)
    # The primary card's status and reason before the merge (a ``CardStatus`` value), restored when
    # an unmerge unbinds a card bound for the merge (None: merges recorded before migration 0014).
    primary_status_before: Mapped[str | None] = mapped_column(String(24))
    primary_status_reason_before: Mapped[str | None] = mapped_column(Text)
    # The merge created its customer (the import's auto-merge): an unmerge removes it if unused.
    customer_created: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    origin: Mapped[Origin] = mapped_column(_enum(Origin, "origin"))
    key: Mapped[str] = mapped_column(String(200))  # the merge's idempotency key (per origin)
    actor: Mapped[str | None] = mapped_column(String(100))  # None: the customer in the cabinet
    reason: Mapped[str | None] = mapped_column(Text)
    points_moved: Mapped[Decimal] = mapped_column(Points, default=Decimal("0"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    unmerged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unmerged_by: Mapped[str | None] = mapped_column(String(100))
    unmerge_reason: Mapped[str | None] = mapped_column(Text)
    unmerge_key: Mapped[str | None] = mapped_column(String(200))


class CardMergeItem(Base):
    """One card a merge absorbed: the points moved and the card's state before, to restore it."""

    __tablename__ = "card_merge_items"
    __table_args__ = (UniqueConstraint("merge_id", "card_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merge_id: Mapped[int] = mapped_column(ForeignKey("card_merges.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    points_moved: Mapped[Decimal] = mapped_column(Points, default=Decimal("0"))
    # The ledger operation of the transfer (None: the card had nothing to move).
    transfer_operation_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_operations.id"))
    transfer_key: Mapped[str] = mapped_column(String(220))
    status_before: Mapped[CardStatus] = mapped_column(_enum(CardStatus, "card_status"))
    status_reason_before: Mapped[str | None] = mapped_column(Text)
    merged_into_before: Mapped[int | None] = mapped_column(Integer)
    was_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_before: Mapped[int | None] = mapped_column(Integer)  # None: staff bound it for the merge
    points_restored: Mapped[Decimal | None] = mapped_column(Points)


class DriftReport(Base):
    """One comparison of the hub with 1C (``bonusbridge reconcile balances`` or the nightly task),
    kept with its findings; ``repaired_*`` says whether correcting movements were posted, and who
    confirmed them."""

    __tablename__ = "drift_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(16))  # cli | nightly | staff
    profile: Mapped[str] = mapped_column(String(16))
    checked_cards: Mapped[int] = mapped_column(Integer, default=0)
    checked_customers: Mapped[int] = mapped_column(Integer, default=0)
    differences: Mapped[int] = mapped_column(Integer, default=0)
    missing_in_onec: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[str | None] = mapped_column(Text)  # JSON list: what could not be compared
    summary: Mapped[str] = mapped_column(Text, default="")  # personal data masked
    repaired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    repaired_by: Mapped[str | None] = mapped_column(String(100))
    repaired_items: Mapped[int] = mapped_column(Integer, default=0)


class DriftItem(Base):
    """One thing a drift report found: the entity, the field, the hub's value and 1C's (as text),
    and the correcting movement posted for it, if any."""

    __tablename__ = "drift_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("drift_reports.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # card_balance | partner_balance | card_field | …
    entity: Mapped[str] = mapped_column(String(16))  # card | customer
    hub_id: Mapped[int] = mapped_column(Integer)
    onec_ref: Mapped[str | None] = mapped_column(String(36))
    field: Mapped[str] = mapped_column(String(40))
    hub_value: Mapped[str | None] = mapped_column(Text)
    onec_value: Mapped[str | None] = mapped_column(Text)
    repair_movement_id: Mapped[int | None] = mapped_column(ForeignKey("movements.id"))


# --- Staff ------------------------------------------------------------------------------------------


class StaffUser(Base):
    """A member of staff who may open the staff pages (``bonusbridge staff create``). The password
    is kept only as scrypt with a salt of its own; ``roles`` is a comma-separated subset of
    ``viewer``, ``migration``, ``admin``, ``marketing`` (edits the points program). A disabled user
    is kept for the audit, never deleted."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[str] = mapped_column(String(100))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffLoginAttempt(Base):
    """One staff login attempt: the login limiter's memory (failures per login and per IP)."""

    __tablename__ = "staff_login_attempts"
    __table_args__ = (
        Index("ix_staff_login_attempts_login_at", "login", "at"),
        Index("ix_staff_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginSession(Base):
    """A logged-in session of the cabinet (``kind`` ``cabinet``, ``subject_id`` a customer) or of
    the staff pages (``staff``, a staff user), kept so that logout, disabling a staff user and a
    password change end it at once, and so that it ends ``expires_at`` (an absolute lifetime) however
    active it is. ``id`` is a SHA-256 of the session's random id (the cookie's ``sid``), never the id
    itself. Used when ``session_store_url`` is empty; with Redis the same records live there."""

    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_subject", "kind", "subject_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProgressSnapshot(Base):
    """Seed 004's goal, one row a day: active cards and how many of them are bound to a customer
    with a verified phone (``reconciliation.progress.record_progress``)."""

    __tablename__ = "progress_snapshots"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    active_cards: Mapped[int] = mapped_column(Integer)
    bound_verified: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- Points engine ----------------------------------------------------------------------------------


class PointsProgramVersion(Base):
    """One version of the points program's rules (``bonusbridge.points.program.ProgramRules`` as
    JSON), in force from ``effective_from`` until the next version's: a receipt is computed with
    the version in force at its date. Versions are only added, never edited."""

    __tablename__ = "points_program_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)
    rules: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)


class PointsCampaign(Base):
    """A campaign multiplying earned points (``bonusbridge.points.program.Campaign`` as JSON) over
    ``[starts_at, ends_at)``, on some weekdays and hours, for some items and customers."""

    __tablename__ = "points_campaigns"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="period_not_empty"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rules: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class PointsReceipt(Base):
    """A receipt the engine accrued for (one per shop order): the rules' version, and each line's
    net amount and exact points, so a return reverses the returned lines' points in proportion."""

    __tablename__ = "points_receipts"

    order_id: Mapped[int] = mapped_column(ForeignKey("api_orders.id"), primary_key=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("points_program_versions.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lines: Mapped[str] = mapped_column(Text)  # JSON: [{sku, quantity, net, points, returned}]


class PointsReminder(Base):
    """When a card's owner was last reminded of usable points about to expire: the next reminder
    waits a whole period after it, even if the threshold is reached again meanwhile (seed 003)."""

    __tablename__ = "points_reminders"

    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), primary_key=True)
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CardTier(Base):
    """A card's current tier (card status of seed 004), as the last review left it: reviews run on
    every purchase and nightly (``bonusbridge.points.tiers``). ``qualified_at`` is the last review at
    which the rolling 12-month spend still reached this tier: the downgrade policy counts from it."""

    __tablename__ = "card_tiers"

    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), primary_key=True)
    tier: Mapped[str | None] = mapped_column(String(64))  # None: below the first tier
    spend_12m: Mapped[Decimal] = mapped_column(Points)
    qualified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CardTierChange(Base):
    """One change of a card's tier, kept for good (only added): what the card and 1C were told."""

    __tablename__ = "card_tier_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    from_tier: Mapped[str | None] = mapped_column(String(64))
    to_tier: Mapped[str | None] = mapped_column(String(64))
    spend_12m: Mapped[Decimal] = mapped_column(Points)
    reason: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffAudit(Base):
    """One change made by staff (program rules, campaigns, members files): who, when, what, why.
    Only added, never edited; ``details`` is JSON with the values before and after."""

    __tablename__ = "staff_audit"
    __table_args__ = (Index("ix_staff_audit_subject_at", "subject", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text)  # JSON
    reason: Mapped[str | None] = mapped_column(Text)


class ProgramMember(Base):
    """A customer who joined the loyalty program (seed 001: at checkout, in the cabinet, or enrolled
    by staff through a members file). ``left_at`` set: they left; joining again clears it."""

    __tablename__ = "program_members"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    joined_via: Mapped[str] = mapped_column(String(20))  # checkout | cabinet | staff | card
    joined_by: Mapped[str | None] = mapped_column(String(100))
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The rewards shop's tables live with their domain; imported here so ``Base.metadata`` holds them.
from bonusbridge.rewards import models as _rewards_models  # noqa: E402, F401
