"""Adding a card in the cabinet by its number, with a proof that a thief would not have.

The proof: the points accrued or spent by one of the card's last ``PROOF_MOVEMENTS`` purchases
(printed on the till receipt), to within ``PROOF_TOLERANCE``. A card number alone is printed on a
plastic card anyone may have held; the receipt is in the owner's pocket.

Why the limits: the amount has few digits, so guessing must be bounded. Failed attempts are rows of
``cabinet_card_claims`` and are counted per customer (``MAX_FAILURES_PER_CUSTOMER_DAY`` a day) and
per card number (``MAX_FAILURES_PER_CARD_DAY`` a day, ``MAX_FAILURES_PER_CARD_MONTH`` in 30 days,
after which the card can only be added at a service desk). With amounts given to the kopeck, one
guess hits one of 3 amounts among ~10⁵ plausible values: ≤ 10 guesses a month make ~3·10⁻⁴. A
card's limit also stops many phones guessing one card together. Per-customer counts are exact
(the customer row is locked first); per-card counts may overshoot by the attempts in flight.

Refused whatever the proof says (seed 004: a cashier knows a customer's receipt): a card bound to
another customer, and a card whose program recorded another phone: its owner logs in with that
phone. Unknown numbers and wrong proofs get the same answer, so numbers cannot be probed.

Card numbers are typed with spaces, dashes, lower case and Cyrillic letters that look like Latin
ones (А/A, В/B …): ``normalize_typed_card_number`` turns them into the stored form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from sqlalchemy import func, select

from bonusbridge.models import Card, CardClaim, CardStatus, Movement, MovementKind, Origin
from bonusbridge.services import queries
from bonusbridge.services.cards import bind_card
from bonusbridge.unit_of_work import UnitOfWork, normalize_card_number

PROOF_MOVEMENTS = 3
PROOF_TOLERANCE = Decimal("0.01")
MAX_FAILURES_PER_CUSTOMER_DAY = 5
MAX_FAILURES_PER_CARD_DAY = 5
MAX_FAILURES_PER_CARD_MONTH = 10
DAY = timedelta(days=1)
MONTH = timedelta(days=30)
MAX_NUMBER_LENGTH = 64
MAX_POINTS = Decimal(10) ** 9  # beyond any receipt; also keeps quantize() in range

#: Cyrillic capitals that look like Latin ones, as people type them on a Russian keyboard.
_LOOKALIKES = str.maketrans("АВЕКМНОРСТХУЁ", "ABEKMHOPCTXYE")


class ClaimOutcome(StrEnum):
    BOUND = "bound"  # the card is now the customer's
    ALREADY_YOURS = "already_yours"
    MISMATCH = "mismatch"  # unknown number or wrong proof (one answer for both)
    TAKEN = "taken"  # another customer's card, or another phone recorded on it
    BLOCKED = "blocked"
    LIMITED = "limited"  # too many failures: wait ``retry_after`` seconds


@dataclass(frozen=True)
class ClaimResult:
    outcome: ClaimOutcome
    card_id: int | None = None
    retry_after: int | None = None


def normalize_typed_card_number(raw: str) -> str:
    """The stored form of a number as a person typed it; empty when nothing usable was typed."""
    return normalize_card_number(raw.upper().translate(_LOOKALIKES))[:MAX_NUMBER_LENGTH]


def parse_points(raw: str) -> Decimal | None:
    """Points as typed ("45,60", "45.6", "1 045"): a positive amount with at most 2 decimals."""
    text = raw.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value >= MAX_POINTS:
        return None
    return value if value == value.quantize(Decimal("0.01")) else None


def claim_card(uow: UnitOfWork, customer_id: int, number: str, points: Decimal) -> ClaimResult:
    """Bind the card ``number`` to the customer if ``points`` proves it; record the attempt.

    ``number`` is normalized already. The attempt row is written in the unit of work: the caller
    commits whatever the outcome (a failure must stay counted).
    """
    session = uow.session
    now = uow.clock()
    customer = queries.lock_customer(session, customer_id)
    if customer is None:
        raise ValueError(f"unknown customer {customer_id}")
    cards = list(session.scalars(select(Card).where(Card.number == number).order_by(Card.id)))
    mine = next((card for card in cards if card.customer_id == customer_id), None)
    if mine is not None:
        return ClaimResult(ClaimOutcome.ALREADY_YOURS, mine.id)
    wait = _wait(uow, customer_id, number, now)
    if wait is not None:
        return ClaimResult(ClaimOutcome.LIMITED, retry_after=wait)

    proven = next((card for card in cards if _proof_matches(uow, card.id, points)), None)
    if proven is None:
        return _record(uow, customer_id, number, ClaimOutcome.MISMATCH, None)
    recorded_phone = proven.phone_e164
    if (proven.customer_id is not None) or (recorded_phone and recorded_phone != customer.phone_e164):
        return _record(uow, customer_id, number, ClaimOutcome.TAKEN, None)
    if proven.status is CardStatus.BLOCKED:
        return _record(uow, customer_id, number, ClaimOutcome.BLOCKED, None)
    bind_card(uow, customer_id, proven.id, origin=Origin.WEBSITE)
    return _record(uow, customer_id, number, ClaimOutcome.BOUND, proven.id)


def _proof_matches(uow: UnitOfWork, card_id: int, points: Decimal) -> bool:
    amounts = uow.session.scalars(
        select(Movement.amount)
        .where(
            Movement.card_id == card_id,
            Movement.kind.in_([MovementKind.ACCRUAL, MovementKind.REDEMPTION]),
        )
        .order_by(Movement.occurred_at.desc(), Movement.id.desc())
        .limit(PROOF_MOVEMENTS)
    )
    return any(abs(abs(amount) - points) <= PROOF_TOLERANCE for amount in amounts)


def _record(
    uow: UnitOfWork, customer_id: int, number: str, outcome: ClaimOutcome, card_id: int | None
) -> ClaimResult:
    uow.session.add(
        CardClaim(customer_id=customer_id, card_number=number, outcome=outcome.value, created_at=uow.clock())
    )
    uow.session.flush()
    return ClaimResult(outcome, card_id)


def _wait(uow: UnitOfWork, customer_id: int, number: str, now: datetime) -> int | None:
    """Seconds until another attempt is allowed, or None when one is allowed now."""
    failed = CardClaim.outcome != ClaimOutcome.BOUND.value
    limits = [
        (CardClaim.customer_id == customer_id, DAY, MAX_FAILURES_PER_CUSTOMER_DAY),
        (CardClaim.card_number == number, DAY, MAX_FAILURES_PER_CARD_DAY),
        (CardClaim.card_number == number, MONTH, MAX_FAILURES_PER_CARD_MONTH),
    ]
    waits: list[timedelta] = []
    for where, window, limit in limits:
        oldest = uow.session.scalars(
            select(CardClaim.created_at)
            .where(where, failed, CardClaim.created_at > now - window)
            .order_by(CardClaim.created_at.desc())
            .offset(limit - 1)
            .limit(1)
        ).first()
        if oldest is not None:
            waits.append(oldest + window - now)
    if not waits:
        return None
    return max(1, math.ceil(max(waits).total_seconds()))


def failures_count(uow: UnitOfWork, customer_id: int) -> int:
    """Failed attempts of the customer in the last day (the page says how many are left)."""
    since = uow.clock() - DAY
    return int(
        uow.session.scalar(
            select(func.count())
            .select_from(CardClaim)
            .where(
                CardClaim.customer_id == customer_id,
                CardClaim.outcome != ClaimOutcome.BOUND.value,
                CardClaim.created_at > since,
            )
        )
        or 0
    )
