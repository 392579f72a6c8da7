"""Typed errors of the hub. Each says what was wrong in words a support engineer can act on.

Raising one of these always means nothing was written: the ledger validates before it writes and
rolls the whole transaction back on any refusal.
"""

from __future__ import annotations

from decimal import Decimal


class BonusBridgeError(Exception):
    """Base of every error BonusBridge raises on purpose. ``code`` is stable for APIs."""

    code = "error"


class LedgerError(BonusBridgeError):
    code = "ledger_error"


class InvalidAmount(LedgerError):
    code = "invalid_amount"


class UnknownCard(LedgerError):
    code = "unknown_card"

    def __init__(self, card_id: int) -> None:
        super().__init__(f"card {card_id} does not exist")
        self.card_id = card_id


class CardBlocked(LedgerError):
    code = "card_blocked"

    def __init__(self, card_id: int) -> None:
        super().__init__(f"card {card_id} is blocked and accepts no operation")
        self.card_id = card_id


class AccumulationOnly(LedgerError):
    """The card's owner has not completed the profile yet: points accrue but cannot be spent."""

    code = "accumulation_only"

    def __init__(self, card_id: int) -> None:
        super().__init__(
            f"card {card_id} only accumulates points until its owner completes the profile; "
            "spending is refused"
        )
        self.card_id = card_id


class InsufficientBalance(LedgerError):
    code = "insufficient_balance"

    def __init__(self, card_id: int, requested: Decimal, available: Decimal) -> None:
        super().__init__(f"card {card_id} has {available} points available, {requested} requested")
        self.card_id = card_id
        self.requested = requested
        self.available = available


class BalanceLimitExceeded(LedgerError):
    """A credit would take a card's points above the most a balance may hold (NUMERIC(15,2), as in
    1C's bonus register: ``bonusbridge.ledger.intents.MAX_BALANCE``)."""

    code = "balance_limit_exceeded"

    def __init__(self, card_id: int, amount: Decimal, total: Decimal, limit: Decimal) -> None:
        super().__init__(
            f"card {card_id} holds {total} points; {amount} more would exceed the most a balance may "
            f"hold, {limit}"
        )
        self.card_id = card_id
        self.amount = amount
        self.total = total
        self.limit = limit


class UnknownHold(LedgerError):
    code = "unknown_hold"

    def __init__(self, hold_id: int) -> None:
        super().__init__(f"hold {hold_id} does not exist")
        self.hold_id = hold_id


class HoldExpired(LedgerError):
    code = "hold_expired"

    def __init__(self, hold_id: int) -> None:
        super().__init__(f"hold {hold_id} outlived its time to live and was (or will be) released")
        self.hold_id = hold_id


class HoldNotPending(LedgerError):
    code = "hold_not_pending"

    def __init__(self, hold_id: int, status: str) -> None:
        super().__init__(f"hold {hold_id} is already {status}")
        self.hold_id = hold_id
        self.status = status


class CaptureExceedsHold(LedgerError):
    code = "capture_exceeds_hold"

    def __init__(self, hold_id: int, requested: Decimal, held: Decimal) -> None:
        super().__init__(f"cannot capture {requested} points from hold {hold_id}, which holds {held}")
        self.hold_id = hold_id


class IdempotencyConflict(LedgerError):
    """The key was used before for a different request: a client bug, never retried away."""

    code = "idempotency_conflict"

    def __init__(self, key: str, first_kind: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for a different {first_kind} request; "
            "use a new key for a new operation"
        )
        self.key = key


class SameCardTransfer(LedgerError):
    code = "same_card_transfer"

    def __init__(self, card_id: int) -> None:
        super().__init__(f"cannot transfer points from card {card_id} to itself")


class PermissionDenied(LedgerError):
    code = "permission_denied"


class MissingReason(LedgerError):
    code = "missing_reason"


class NotReversible(LedgerError):
    code = "not_reversible"


class UnknownMovement(LedgerError):
    code = "unknown_movement"

    def __init__(self, movement_id: int) -> None:
        super().__init__(f"movement {movement_id} does not exist")
        self.movement_id = movement_id


class InvalidDates(LedgerError):
    code = "invalid_dates"


class InvalidKey(LedgerError):
    code = "invalid_key"


# --- customers and cards (bonusbridge.services) ------------------------------------------------
# Messages name fields, ids and reasons, never the values: a value may be personal data.

from datetime import datetime  # noqa: E402 - kept with the errors that need it


class UnknownCustomer(BonusBridgeError):
    code = "unknown_customer"

    def __init__(self, customer_id: int) -> None:
        super().__init__(f"customer {customer_id} does not exist")
        self.customer_id = customer_id


class PhoneOfAnotherCustomer(BonusBridgeError):
    """An edit would give a customer a phone another customer has verified by SMS: the verified
    owner keeps it, and the edit waits for staff (``profiles.change_phone``). Names no phone."""

    code = "phone_of_another_customer"

    def __init__(self, customer_id: int, owner_id: int) -> None:
        super().__init__(
            f"the new phone of customer {customer_id} is verified by customer {owner_id}: "
            "the verified owner keeps it, so the edit is not applied (staff must decide)"
        )
        self.customer_id = customer_id
        self.owner_id = owner_id


class InvalidProfileField(BonusBridgeError):
    """A profile change with a value of the wrong type or out of range; ``field`` names it."""

    code = "invalid_profile_field"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"profile field {field!r}: {reason}")
        self.field = field
        self.reason = reason


class UnknownProfileField(InvalidProfileField):
    """A change of something that is not an editable profile field (a typo, or ``version``)."""

    code = "unknown_profile_field"

    def __init__(self, field: str) -> None:
        super().__init__(field, "is not an editable profile field")


class StaleVersion(BonusBridgeError):
    """The record changed since the caller read it: show it again and let the person decide."""

    code = "stale_version"

    def __init__(self, entity: str, entity_id: int, expected: int, actual: int | None) -> None:
        now = "a newer one" if actual is None else str(actual)
        super().__init__(
            f"{entity} {entity_id} was edited meanwhile: version {expected} expected, found {now}"
        )
        self.entity = entity
        self.entity_id = entity_id
        self.expected = expected
        self.actual = actual


class CardOfAnotherCustomer(BonusBridgeError):
    """Binding a card that is already bound to someone else: support must look at it."""

    code = "card_of_another_customer"

    def __init__(self, card_id: int, customer_id: int) -> None:
        super().__init__(f"card {card_id} is bound to another customer, not to customer {customer_id}")
        self.card_id = card_id
        self.customer_id = customer_id


class CardNotOwned(BonusBridgeError):
    """An operation on a customer's cards named a card that is not (or not yet) theirs."""

    code = "card_not_owned"

    def __init__(self, card_id: int, customer_id: int) -> None:
        super().__init__(f"card {card_id} is not bound to customer {customer_id}")
        self.card_id = card_id
        self.customer_id = customer_id


class CardHasPendingHold(BonusBridgeError):
    """A card to be merged has points reserved by a checkout in progress; retry once it ends."""

    code = "card_has_pending_hold"

    def __init__(self, card_id: int, held: Decimal, until: datetime) -> None:
        super().__init__(
            f"card {card_id} has {held} points reserved by a checkout in progress; it cannot be merged "
            f"until the checkout ends (at the latest {until.isoformat()})"
        )
        self.card_id = card_id
        self.held = held
        self.until = until
