"""What ledger operations return: plain frozen values, detached from any database session.

``replayed`` tells the caller that the idempotency key had been seen and nothing was written; it
is left out of equality so that a replay compares equal to the first result.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from bonusbridge.models import HoldStatus, MovementKind, Origin


@dataclass(frozen=True)
class MovementRecord:
    id: int
    card_id: int
    kind: MovementKind
    amount: Decimal
    origin: Origin
    external_id: str
    document: str | None
    actor: str | None
    reason: str | None
    occurred_at: datetime
    available_from: datetime | None
    expires_at: datetime | None
    reverses_id: int | None
    counterpart_card_id: int | None
    replayed: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class HoldRecord:
    id: int
    card_id: int
    amount: Decimal
    captured: Decimal
    status: HoldStatus
    document: str | None
    expires_at: datetime
    capture_movement_id: int | None
    replayed: bool = field(default=False, compare=False)

    def read_at(self, now: datetime) -> HoldRecord:
        """The hold as it stands at ``now``: a pending hold past its time to live reads as
        ``expired`` — it can no longer be captured and reserves nothing — even before the sweeper
        (or the card's next debit) records that. Reading writes nothing."""
        if self.status is HoldStatus.PENDING and self.expires_at <= now:
            return replace(self, status=HoldStatus.EXPIRED)
        return self


@dataclass(frozen=True)
class TransferRecord:
    outgoing: MovementRecord
    incoming: MovementRecord
    replayed: bool = field(default=False, compare=False)

    @property
    def amount(self) -> Decimal:
        return self.incoming.amount


@dataclass(frozen=True)
class BalanceView:
    """A card's balance at one instant.

    ``total`` = ``available`` + ``pending`` + ``held`` + ``expired_unswept``: points not yet
    spendable, reserved by checkouts, or past their expiry date but not yet written off are never
    shown as available.
    """

    card_id: int
    total: Decimal
    available: Decimal
    pending: Decimal
    held: Decimal
    expired_unswept: Decimal
    expiring_soon: Decimal
    expiring_horizon: datetime
    next_expiry: datetime | None
    as_of: datetime
