"""Validated requests for the hot operations, shared by the Python path and the PostgreSQL fast path.

Both paths must refuse the same input and compute the same idempotency fingerprint, or a retry
that happened to take the other path would look like a different request. Building the intent is
where that is decided, once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bonusbridge import errors
from bonusbridge.ledger.records import MovementRecord
from bonusbridge.models import MovementKind, Origin
from bonusbridge.types import CENT

#: 1C's bonus register is NUMERIC(15,2): anything larger cannot be stored on either side.
MAX_AMOUNT = Decimal("9999999999999.99")
#: The most points a card may hold (its ``total``, in the same NUMERIC(15,2) column): a credit that
#: would take a card above it is refused with ``BalanceLimitExceeded`` on every path that credits
#: (accrual, positive adjustment, reversal of a debit, transfer in), never left to overflow.
MAX_BALANCE = MAX_AMOUNT
MAX_KEY_LENGTH = 200


def parse_amount(value: Decimal | int | str, *, allow_negative: bool = False) -> Decimal:
    """Validate an amount of points: exact, at most two decimals, non-zero, positive unless allowed."""
    if isinstance(value, float | bool):
        raise errors.InvalidAmount(f"amount {value!r} must be a Decimal, an int or a string, never a float")
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise errors.InvalidAmount(f"amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise errors.InvalidAmount(f"amount {value!r} is not a finite number")
    if amount != amount.quantize(CENT):
        raise errors.InvalidAmount(f"amount {value} has more than 2 decimals")
    if amount == 0:
        raise errors.InvalidAmount("amount must not be zero")
    if amount < 0 and not allow_negative:
        raise errors.InvalidAmount(f"amount {value} must be positive")
    if abs(amount) > MAX_AMOUNT:
        raise errors.InvalidAmount(f"amount {value} exceeds the largest storable amount {MAX_AMOUNT}")
    return amount.quantize(CENT)


def check_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise errors.InvalidKey(f"an idempotency key of 1 to {MAX_KEY_LENGTH} characters is required")
    return key


def fingerprint(kind: str, args: Mapping[str, Any]) -> str:
    """A stable digest of an operation's arguments: equal requests, equal fingerprints."""
    canonical = json.dumps({"kind": kind, **args}, sort_keys=True, default=_canonical)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class Accrual:
    card_id: int
    points: Decimal
    key: str
    origin: Origin
    document: str | None
    actor: str | None
    reason: str | None
    occurred_at: datetime | None
    available_from: datetime | None
    expires_at: datetime | None
    occurred: datetime
    spendable_from: datetime
    fingerprint: str
    date_problem: str | None

    @classmethod
    def build(
        cls,
        card_id: int,
        amount: Decimal | int | str,
        *,
        key: str,
        origin: Origin,
        now: datetime,
        document: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
        occurred_at: datetime | None = None,
        available_from: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> Accrual:
        points = parse_amount(amount)
        check_key(key)
        occurred = occurred_at or now
        spendable_from = available_from or occurred
        # Checked only for a new operation (``check_dates``): a replay returns the first result even
        # once its expiry date has passed, and "now" may have moved since.
        date_problem = None
        if expires_at is not None and expires_at <= spendable_from:
            date_problem = f"points expiring at {expires_at} would never be spendable"
        digest = fingerprint(
            "accrue",
            {
                "actor": actor,
                "card_id": card_id,
                "amount": points,
                "document": document,
                "reason": reason,
                "occurred_at": occurred_at,
                "available_from": available_from,
                "expires_at": expires_at,
            },
        )
        return cls(
            card_id,
            points,
            key,
            origin,
            document,
            actor,
            reason,
            occurred_at,
            available_from,
            expires_at,
            occurred,
            spendable_from,
            digest,
            date_problem,
        )

    def check_dates(self) -> None:
        """Refuse a new accrual whose points would never be spendable."""
        if self.date_problem:
            raise errors.InvalidDates(self.date_problem)

    def record(self, movement_id: int) -> MovementRecord:
        return MovementRecord(
            id=movement_id,
            card_id=self.card_id,
            kind=MovementKind.ACCRUAL,
            amount=self.points,
            origin=self.origin,
            external_id=self.key,
            document=self.document,
            actor=self.actor,
            reason=self.reason,
            occurred_at=self.occurred,
            available_from=self.spendable_from,
            expires_at=self.expires_at,
            reverses_id=None,
            counterpart_card_id=None,
        )


@dataclass(frozen=True)
class Redemption:
    card_id: int
    points: Decimal
    key: str
    origin: Origin
    document: str | None
    actor: str | None
    reason: str | None
    fingerprint: str

    @classmethod
    def build(
        cls,
        card_id: int,
        amount: Decimal | int | str,
        *,
        key: str,
        origin: Origin,
        document: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Redemption:
        points = parse_amount(amount)
        check_key(key)
        digest = fingerprint(
            "redeem",
            {"actor": actor, "card_id": card_id, "amount": points, "document": document, "reason": reason},
        )
        return cls(card_id, points, key, origin, document, actor, reason, digest)

    def record(self, movement_id: int, occurred: datetime) -> MovementRecord:
        return MovementRecord(
            id=movement_id,
            card_id=self.card_id,
            kind=MovementKind.REDEMPTION,
            amount=-self.points,
            origin=self.origin,
            external_id=self.key,
            document=self.document,
            actor=self.actor,
            reason=self.reason,
            occurred_at=occurred,
            available_from=None,
            expires_at=None,
            reverses_id=None,
            counterpart_card_id=None,
        )
