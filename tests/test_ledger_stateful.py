"""A stateful property test of the ledger: random sequences of every operation, checked after each step.

Hypothesis drives accrue / redeem / hold / capture / void / transfer / adjust / reverse / expiry /
hold release / clock moves / card blocking across four cards, repeats idempotency keys with the
same and with different arguments, and after every step proves:

* ``check_ledger`` finds nothing: each balance equals the sum of its movements and of its lots'
  remainders, holds agree with the lots they reserve;
* no card shows a negative available balance, and ``total = available + pending + held +
  expired_unswept`` with every part non-negative;
* all points in the ledger equal what the model says entered (accruals, positive adjustments,
  reversed debits) less what left (redemptions, expiries, negative adjustments, reversed credits);
  transfers net to zero and leave the total unchanged;
* a refused call and a repeated key change nothing; a repeated key returns the first result.

Beside those invariants a small in-memory model of the ledger (cards, lots, holds, movements)
predicts every outcome: which calls are refused and with which error, every returned record, every
lot, hold and balance. Lots are spent earliest expiry first, never-expiring last, then oldest; that
is what the model follows. Where the code and its documented contract could disagree, the model
states the contract:

* a repeated key with the same arguments is a replay, whatever the clock says now: an accrual or
  adjustment whose expiry date has passed since still replays (it is not re-validated);
* a replay returns the first result (``records.py``: "a replay compares equal to the first
  result"), for a hold too, even after it was captured, voided or expired;
* idempotency keys are opaque: ``<key>/in`` is a key of its own, even when ``<key>`` was a transfer
  (both halves of a transfer carry the transfer's own key, unique per origin and card);
* reversing a credit takes back the lot that credit created first, even pending and even expired
  but not swept yet (only then the card's other spendable points).

The machine needs the database, which a ``RuleBasedStateMachine`` cannot take as a fixture: the
test function stashes the session's engine on the class and runs the machine itself. Each example
starts from empty tables. ``HYPOTHESIS_PROFILE=long`` runs many more and longer examples.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, cast

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, Table, select, text

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.ledger.audit import check_ledger, total_points
from bonusbridge.ledger.records import HoldRecord, MovementRecord, TransferRecord
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import (
    Base,
    Card,
    CardBalance,
    CardStatus,
    Hold,
    HoldStatus,
    LedgerOperation,
    Lot,
    Movement,
    MovementKind,
    Origin,
)
from bonusbridge.unit_of_work import UnitOfWork
from tests.conftest import FakeClock

balances = cast(Table, CardBalance.__table__)
holds = cast(Table, Hold.__table__)
lots = cast(Table, Lot.__table__)
movements = cast(Table, Movement.__table__)
operations = cast(Table, LedgerOperation.__table__)

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
START = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
HOLD_TTL = timedelta(minutes=15)
EXPIRING_WITHIN = timedelta(days=30)
STAFF = Actor("staff", frozenset({Permission.ADJUST}))
CLERK = Actor("clerk")
ORIGINS = (Origin.WEBSITE, Origin.ONEC)
CARD_STATUSES = (CardStatus.ACTIVE, CardStatus.ACTIVE, CardStatus.ACCUMULATION_ONLY, CardStatus.ACTIVE)
REVERSIBLE = (MovementKind.ACCRUAL, MovementKind.REDEMPTION, MovementKind.ADJUSTMENT)
UNKNOWN_ID = 1_000_000  # no hold or movement has this id
ALL = "all"  # an amount meaning "exactly what the model says the card can spend (or move)"

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"

SETTINGS = settings(
    max_examples=300 if LONG else 40,
    stateful_step_count=60 if LONG else 30,
    deadline=None,
    # One failure, shrunk to its shortest steps: several at once would take many minutes to shrink.
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Times are drawn from small sets, so that expiry dates, hold TTLs and clock moves often coincide.
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
clock_moves = st.sampled_from([MINUTE, 5 * MINUTE, 14 * MINUTE, HOLD_TTL, HOUR, DAY, 7 * DAY, 30 * DAY])
backdated_by = st.sampled_from([None, None, None, HOUR, 7 * DAY])
pending_for = st.sampled_from([None, None, None, timedelta(0), HOUR, DAY, 7 * DAY])
valid_for = st.sampled_from([None, None, HOLD_TTL, HOUR, DAY, 7 * DAY, 30 * DAY])


def _points(low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Amounts from ``low`` to ``high`` hundredths of a point."""
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


amounts = st.one_of(_points(1, 5_000), _points(1, 50_000))  # 0.01 .. 500.00, mostly small
spend_amounts = st.one_of(_points(1, 5_000), st.just(ALL), _points(1, 50_000))  # often more than there is
opening_amounts = _points(1_000, 50_000)
card_indexes = st.integers(0, len(CARD_STATUSES) - 1)
documents = st.sampled_from([None, "order-1", "ЧК-7"])


def _draw_weighted(data: st.DataObject, *choices: tuple[int, st.SearchStrategy[Any]]) -> Any:
    """Draw from one of ``(weight, strategy)``: ``st.one_of`` would give each strategy an equal chance."""
    branches = [index for index, (weight, _) in enumerate(choices) for _ in range(weight)]
    return data.draw(choices[data.draw(st.sampled_from(branches))][1])


class Refusal(Exception):
    """The model's prediction that the ledger refuses a call with ``error``."""

    def __init__(self, error: type[errors.LedgerError]) -> None:
        super().__init__(error.__name__)
        self.error = error


# --------------------------------------------------------------------------- the model


@dataclass
class MLot:
    seq: int  # creation order: the database's lot ids grow in the same order
    card: int
    movement_id: int
    remaining: Decimal
    held: Decimal
    available_from: datetime
    expires_at: datetime | None

    @property
    def free(self) -> Decimal:
        return self.remaining - self.held


Part = tuple[MLot, Decimal]


@dataclass
class MHold:
    id: int
    card: int
    amount: Decimal
    document: str | None
    expires_at: datetime
    parts: list[tuple[int, Decimal]]  # (lot seq, amount)
    status: HoldStatus = HoldStatus.PENDING
    captured: Decimal = ZERO
    capture_movement_id: int | None = None


@dataclass
class MMovement:
    id: int
    card: int
    kind: MovementKind
    amount: Decimal
    document: str | None
    reverses_id: int | None
    paid_by: list[tuple[int, Decimal]] = field(default_factory=list)  # (lot seq, amount)
    reversed: Decimal = ZERO


@dataclass(frozen=True)
class Claimed:
    signature: tuple[Any, ...]
    result: Any


def _take(parts: list[Part], amount: Decimal) -> list[Part]:
    taken: list[Part] = []
    left = amount
    for lot, available in parts:
        if left <= 0:
            break
        part = min(available, left)
        taken.append((lot, part))
        left -= part
    return taken


def _skip(parts: list[Part], amount: Decimal) -> list[Part]:
    rest: list[Part] = []
    left = amount
    for lot, part in parts:
        if left >= part:
            left -= part
            continue
        rest.append((lot, part - left))
        left = ZERO
    return rest


def _new_id(actual: Any, attribute: str = "id") -> int:
    """The id the database gave a new row (the model cannot guess ids; -1 when the call failed)."""
    value = actual
    for name in attribute.split("."):
        value = getattr(value, name, None)
    return value if isinstance(value, int) else -1


class Model:
    """What the ledger should contain. Every operation takes the clock's ``at`` and the ledger's
    ``actual`` result (for the ids of new rows), applies itself and returns ``(expected result,
    replayed)``, or raises ``Refusal``. The caller runs it on a copy and keeps the copy on success."""

    def __init__(self, statuses: dict[int, CardStatus]) -> None:
        self.status = dict(statuses)
        self.total = dict.fromkeys(statuses, ZERO)
        self.held = dict.fromkeys(statuses, ZERO)
        self.lots: list[MLot] = []
        self.holds: dict[int, MHold] = {}
        self.movements: dict[int, MMovement] = {}
        self.claimed: dict[tuple[Origin, str], Claimed] = {}

    # --- helpers ---------------------------------------------------------------------------------

    def _replay(self, origin: Origin, key: str, *signature: Any) -> Claimed | None:
        found = self.claimed.get((origin, key))
        if found is not None and found.signature != signature:
            raise Refusal(errors.IdempotencyConflict)
        return found

    def replay_result(self, origin: Origin, key: str) -> Any:
        """What repeating a used key returns: the first call's result."""
        return self.claimed[(origin, key)].result

    def _remember(self, origin: Origin, key: str, signature: tuple[Any, ...], result: Any) -> None:
        self.claimed[(origin, key)] = Claimed(signature, result)

    def _refuse_blocked(self, card: int) -> None:
        if self.status[card] is CardStatus.BLOCKED:
            raise Refusal(errors.CardBlocked)

    def _refuse_spending(self, card: int) -> None:
        self._refuse_blocked(card)
        if self.status[card] is CardStatus.ACCUMULATION_ONLY:
            raise Refusal(errors.AccumulationOnly)

    def _movement(
        self,
        at: datetime,
        movement_id: int,
        card: int,
        kind: MovementKind,
        amount: Decimal,
        origin: Origin,
        external_id: str,
        **extra: Any,
    ) -> MovementRecord:
        record = MovementRecord(
            id=movement_id,
            card_id=card,
            kind=kind,
            amount=amount,
            origin=origin,
            external_id=external_id,
            document=extra.get("document"),
            actor=extra.get("actor"),
            reason=extra.get("reason"),
            occurred_at=extra.get("occurred_at") or at,
            available_from=extra.get("available_from"),
            expires_at=extra.get("expires_at"),
            reverses_id=extra.get("reverses_id"),
            counterpart_card_id=extra.get("counterpart_card_id"),
        )
        self.movements[movement_id] = MMovement(
            movement_id, card, kind, amount, record.document, record.reverses_id
        )
        return record

    def _add_lot(
        self,
        card: int,
        movement_id: int,
        amount: Decimal,
        available_from: datetime,
        expires_at: datetime | None,
    ) -> None:
        self.lots.append(MLot(len(self.lots), card, movement_id, amount, ZERO, available_from, expires_at))
        self.total[card] += amount

    def _open(
        self, card: int, at: datetime, *, include_pending: bool = False, prefer: int | None = None
    ) -> list[Part]:
        """Free lots in spending order: spendable (or pending, if included) and unexpired ones.

        A reversal of a credit (``prefer``) takes back the lot its credit created first, whatever
        that lot's dates: even pending points, and even expired points not swept yet. Those are
        still the very points being reversed (taking others instead would leave them to expire
        too, costing the customer twice the reversed amount).
        """

        def usable(lot: MLot) -> bool:
            if lot.card != card or lot.free <= 0:
                return False
            if prefer is not None and lot.movement_id == prefer:
                return True
            if lot.expires_at is not None and lot.expires_at <= at:
                return False
            return include_pending or lot.available_from <= at

        found = [lot for lot in self.lots if usable(lot)]
        found.sort(
            key=lambda lot: (
                prefer is not None and lot.movement_id != prefer,
                lot.expires_at is None,
                lot.expires_at or at,
                lot.seq,
            )
        )
        return [(lot, lot.free) for lot in found]

    def _pick(
        self,
        card: int,
        amount: Decimal,
        at: datetime,
        *,
        include_pending: bool = False,
        prefer: int | None = None,
    ) -> list[Part]:
        """Lots covering ``amount``; expired holds of the card are released before refusing."""
        for attempt in (1, 2):
            parts = self._open(card, at, include_pending=include_pending, prefer=prefer)
            if sum((part for _, part in parts), ZERO) >= amount:
                return _take(parts, amount)
            if attempt == 1 and self._release_expired(card, at) == 0:
                break
        raise Refusal(errors.InsufficientBalance)

    def _consume(self, card: int, movement_id: int, parts: list[Part]) -> None:
        for lot, part in parts:
            lot.remaining -= part
            self.movements[movement_id].paid_by.append((lot.seq, part))
            self.total[card] -= part

    def _release(self, hold: MHold, status: HoldStatus) -> Decimal:
        for seq, part in hold.parts:
            self.lots[seq].held -= part
        self.held[hold.card] -= hold.amount
        hold.status = status
        return hold.amount

    def _release_expired(self, card: int, at: datetime) -> Decimal:
        return sum(
            (
                self._release(hold, HoldStatus.EXPIRED)
                for hold in self.holds.values()
                if hold.card == card and hold.status is HoldStatus.PENDING and hold.expires_at <= at
            ),
            ZERO,
        )

    @staticmethod
    def _hold_record(hold: MHold) -> HoldRecord:
        return HoldRecord(
            hold.id,
            hold.card,
            hold.amount,
            hold.captured,
            hold.status,
            hold.document,
            hold.expires_at,
            hold.capture_movement_id,
        )

    # --- what a card shows -------------------------------------------------------------------------

    def spendable(self, card: int, at: datetime, *, include_pending: bool = False) -> Decimal:
        return sum((part for _, part in self._open(card, at, include_pending=include_pending)), ZERO)

    def balance(self, card: int, at: datetime) -> dict[str, Any]:
        """What ``LedgerService.balance`` should show, from the lots alone. A hold past its time to
        live reserves nothing at read time, before any sweep: its parts read as free points of
        their lots (issue 15, item 6)."""
        stale: dict[int, Decimal] = {}
        for hold in self.holds.values():
            if hold.card == card and hold.status is HoldStatus.PENDING and hold.expires_at <= at:
                for seq, part in hold.parts:
                    stale[seq] = stale.get(seq, ZERO) + part
        open_lots = [lot for lot in self.lots if lot.card == card and lot.remaining > 0]

        def free(lot: MLot) -> Decimal:
            return lot.free + stale.get(lot.seq, ZERO)

        started = [lot for lot in open_lots if lot.available_from <= at]
        expired = [lot for lot in started if lot.expires_at is not None and lot.expires_at <= at]
        horizon = at + EXPIRING_WITHIN
        expiring = sum(
            (free(lot) for lot in started if lot.expires_at is not None and at < lot.expires_at <= horizon),
            ZERO,
        )
        future = [lot.expires_at for lot in open_lots if lot.expires_at is not None and lot.expires_at > at]
        return {
            "total": sum((lot.remaining for lot in open_lots), ZERO),
            "available": sum((free(lot) for lot in started if lot not in expired), ZERO),
            "pending": sum((free(lot) for lot in open_lots if lot.available_from > at), ZERO),
            "held": sum((lot.held - stale.get(lot.seq, ZERO) for lot in open_lots), ZERO),
            "expired_unswept": sum((free(lot) for lot in expired), ZERO),
            "expiring_soon": expiring,
            "next_expiry": min(future, default=None),
        }

    def points(self) -> Decimal:
        """All points in the ledger: what entered less what left; transfers only move points."""
        moved = [(movement.kind, movement.amount) for movement in self.movements.values()]

        def total(*kinds: MovementKind, sign: int) -> Decimal:
            return sum((abs(amount) for kind, amount in moved if kind in kinds and amount * sign > 0), ZERO)

        transferred_in = total(MovementKind.TRANSFER_IN, sign=+1)
        assert transferred_in == total(MovementKind.TRANSFER_OUT, sign=-1), "transfers must net to zero"
        entered = total(MovementKind.ACCRUAL, MovementKind.ADJUSTMENT, MovementKind.REVERSAL, sign=+1)
        left = total(
            MovementKind.REDEMPTION,
            MovementKind.EXPIRY,
            MovementKind.ADJUSTMENT,
            MovementKind.REVERSAL,
            sign=-1,
        )
        return entered - left

    # --- operations: the same keyword arguments as LedgerService -----------------------------------

    def accrue(
        self,
        at: datetime,
        actual: Any,
        *,
        card_id: int,
        amount: Decimal,
        key: str,
        origin: Origin,
        document: str | None = None,
        occurred_at: datetime | None = None,
        available_from: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[Any, bool]:
        signature = ("accrue", card_id, amount, document, occurred_at, available_from, expires_at)
        if self._replay(origin, key, *signature):
            return self.replay_result(origin, key), True
        spendable_from = available_from or occurred_at or at
        if expires_at is not None and expires_at <= spendable_from:
            raise Refusal(errors.InvalidDates)
        self._refuse_blocked(card_id)
        record = self._movement(
            at,
            _new_id(actual),
            card_id,
            MovementKind.ACCRUAL,
            amount,
            origin,
            key,
            document=document,
            occurred_at=occurred_at,
            available_from=spendable_from,
            expires_at=expires_at,
        )
        self._add_lot(card_id, record.id, amount, spendable_from, expires_at)
        self._remember(origin, key, signature, record)
        return record, False

    def redeem(
        self,
        at: datetime,
        actual: Any,
        *,
        card_id: int,
        amount: Decimal,
        key: str,
        origin: Origin,
        document: str | None = None,
    ) -> tuple[Any, bool]:
        signature = ("redeem", card_id, amount, document)
        if self._replay(origin, key, *signature):
            return self.replay_result(origin, key), True
        if origin is Origin.ONEC:  # a till's receipt 1C already posted: recorded on a locked card too
            self._refuse_blocked(card_id)
        else:
            self._refuse_spending(card_id)
        parts = self._pick(card_id, amount, at)
        record = self._movement(
            at, _new_id(actual), card_id, MovementKind.REDEMPTION, -amount, origin, key, document=document
        )
        self._consume(card_id, record.id, parts)
        self._remember(origin, key, signature, record)
        return record, False

    def hold(
        self,
        at: datetime,
        actual: Any,
        *,
        card_id: int,
        amount: Decimal,
        key: str,
        origin: Origin,
        document: str | None = None,
    ) -> tuple[Any, bool]:
        signature = ("hold", card_id, amount, document)
        if self._replay(origin, key, *signature):
            return self.replay_result(origin, key), True
        self._refuse_spending(card_id)
        parts = self._pick(card_id, amount, at)
        hold = MHold(
            _new_id(actual),
            card_id,
            amount,
            document,
            at + HOLD_TTL,
            [(lot.seq, part) for lot, part in parts],
        )
        for lot, part in parts:
            lot.held += part
        self.held[card_id] += amount
        self.holds[hold.id] = hold
        record = self._hold_record(hold)
        self._remember(origin, key, signature, record)
        return record, False

    def capture(
        self,
        at: datetime,
        actual: Any,
        *,
        hold_id: int,
        amount: Decimal | None = None,
        key: str,
        origin: Origin,
    ) -> tuple[Any, bool]:
        signature = ("capture", hold_id, amount)
        if self._replay(origin, key, *signature):
            return self.replay_result(origin, key), True
        hold = self.holds.get(hold_id)
        if hold is None:
            raise Refusal(errors.UnknownHold)
        if hold.status is not HoldStatus.PENDING:
            raise Refusal(errors.HoldNotPending)
        if hold.expires_at <= at:
            raise Refusal(errors.HoldExpired)
        self._refuse_blocked(hold.card)
        points = hold.amount if amount is None else amount
        if points > hold.amount:
            raise Refusal(errors.CaptureExceedsHold)
        reserved = [(self.lots[seq], part) for seq, part in hold.parts]
        record = self._movement(
            at,
            _new_id(actual),
            hold.card,
            MovementKind.REDEMPTION,
            -points,
            origin,
            key,
            document=hold.document,
        )
        self._release(hold, HoldStatus.CAPTURED)
        self._consume(hold.card, record.id, _take(reserved, points))
        hold.captured, hold.capture_movement_id = points, record.id
        self._remember(origin, key, signature, record)
        return record, False

    def void(self, at: datetime, actual: Any, *, hold_id: int, key: str, origin: Origin) -> tuple[Any, bool]:
        signature = ("void", hold_id)
        if self._replay(origin, key, *signature):
            return self.replay_result(origin, key), True
        hold = self.holds.get(hold_id)
        if hold is None:
            raise Refusal(errors.UnknownHold)
        if hold.status is not HoldStatus.PENDING:
            raise Refusal(errors.HoldNotPending)
        self._release(hold, HoldStatus.VOIDED)
        record = self._hold_record(hold)
        self._remember(origin, key, signature, record)
        return record, False

    def transfer(
        self,
        at: datetime,
        actual: Any,
        *,
        from_card_id: int,
        to_card_id: int,
        amount: Decimal | None = None,
        key: str,
        origin: Origin,
    ) -> tuple[Any, bool]:
        if from_card_id == to_card_id:
            raise Refusal(errors.SameCardTransfer)
        signature = ("transfer", from_card_id, to_card_id, amount)
        if self._replay(origin, key, *signature):
            return self.replay_result(origin, key), True
        self._refuse_blocked(from_card_id)
        self._refuse_blocked(to_card_id)
        if amount is None:
            # "everything that can move" includes points an abandoned checkout still reserves
            self._release_expired(from_card_id, at)
            parts = self._open(from_card_id, at, include_pending=True)
            points = sum((part for _, part in parts), ZERO)
            if points == 0:
                self._remember(origin, key, signature, None)
                return None, False
        else:
            parts, points = self._pick(from_card_id, amount, at, include_pending=True), amount
        outgoing = self._movement(
            at,
            _new_id(actual, "outgoing.id"),
            from_card_id,
            MovementKind.TRANSFER_OUT,
            -points,
            origin,
            key,
            counterpart_card_id=to_card_id,
        )
        incoming = self._movement(
            at,
            _new_id(actual, "incoming.id"),
            to_card_id,
            MovementKind.TRANSFER_IN,
            points,
            origin,
            key,  # both halves of a transfer carry the operation's key
            counterpart_card_id=from_card_id,
        )
        self._consume(from_card_id, outgoing.id, parts)
        for lot, part in parts:
            self._add_lot(to_card_id, incoming.id, part, lot.available_from, lot.expires_at)
        record = TransferRecord(outgoing, incoming)
        self._remember(origin, key, signature, record)
        return record, False

    def adjust(
        self,
        at: datetime,
        actual: Any,
        *,
        card_id: int,
        amount: Decimal,
        actor: Actor,
        reason: str,
        key: str,
        origin: Origin,
        expires_at: datetime | None = None,
    ) -> tuple[Any, bool]:
        if not actor.may(Permission.ADJUST):
            raise Refusal(errors.PermissionDenied)
        if not reason.strip():
            raise Refusal(errors.MissingReason)
        signature = ("adjust", card_id, amount, reason, expires_at)
        if self._replay(origin, key, *signature):
            return self.replay_result(origin, key), True
        if expires_at is not None and (amount < 0 or expires_at <= at):
            raise Refusal(errors.InvalidDates)
        self._refuse_blocked(card_id)
        record = self._movement(
            at,
            _new_id(actual),
            card_id,
            MovementKind.ADJUSTMENT,
            amount,
            origin,
            key,
            actor=actor.name,
            reason=reason,
            available_from=at if amount > 0 else None,
            expires_at=expires_at,
        )
        if amount > 0:
            self._add_lot(card_id, record.id, amount, at, expires_at)
        else:
            self._consume(card_id, record.id, self._pick(card_id, -amount, at))
        self._remember(origin, key, signature, record)
        return record, False

    def reverse(
        self,
        at: datetime,
        actual: Any,
        *,
        movement_id: int,
        amount: Decimal | None = None,
        key: str,
        origin: Origin,
    ) -> tuple[Any, bool]:
        signature = ("reverse", movement_id, amount)
        if self._replay(origin, key, *signature):
            return self.replay_result(origin, key), True
        original = self.movements.get(movement_id)
        if original is None:
            raise Refusal(errors.UnknownMovement)
        if original.kind not in REVERSIBLE:
            raise Refusal(errors.NotReversible)
        self._refuse_blocked(original.card)
        already = original.reversed
        left = abs(original.amount) - already
        if left == 0:
            raise Refusal(errors.NotReversible)
        points = left if amount is None else amount
        if points > left:
            raise Refusal(errors.InvalidAmount)
        record = self._movement(
            at,
            _new_id(actual),
            original.card,
            MovementKind.REVERSAL,
            -points if original.amount > 0 else points,
            origin,
            key,
            document=original.document,
            reverses_id=movement_id,
        )
        original.reversed += points
        if original.amount > 0:
            self._consume(original.card, record.id, self._pick(original.card, points, at, prefer=movement_id))
        else:
            paid = [(self.lots[seq], part) for seq, part in original.paid_by]
            for lot, part in _take(_skip(paid, already), points):
                self._add_lot(original.card, record.id, part, lot.available_from, lot.expires_at)
        self._remember(origin, key, signature, record)
        return record, False

    def expire_due(
        self, at: datetime, actual: Any, *, now: datetime, key: str | None = None, batch: int = 500
    ) -> tuple[Any, bool]:
        run_key = key or f"expire_due:{now.isoformat()}"
        written: list[MovementRecord] = []
        for card in sorted(self.status):
            due = sorted(
                (
                    lot
                    for lot in self.lots
                    if lot.card == card
                    and lot.free > 0
                    and lot.expires_at is not None
                    and lot.expires_at <= now
                ),
                key=lambda lot: (lot.expires_at, lot.seq),
            )
            card_key = f"{run_key}/card/{card}"
            signature = ("expire", card, now)
            if not due or self._replay(Origin.SYSTEM, card_key, *signature):
                continue
            parts = [(lot, lot.free) for lot in due]
            points = sum((part for _, part in parts), ZERO)
            movement_id = (
                actual[len(written)].id if isinstance(actual, list) and len(actual) > len(written) else -1
            )
            record = self._movement(
                at,
                movement_id,
                card,
                MovementKind.EXPIRY,
                -points,
                Origin.SYSTEM,
                card_key,
                reason=f"points expired as of {now.isoformat()}",
            )
            self._consume(card, record.id, parts)
            self._remember(Origin.SYSTEM, card_key, signature, record)
            written.append(record)
        return written, False

    def release_expired_holds(self, at: datetime, actual: Any) -> tuple[Any, bool]:
        return sum((self._release_expired(card, at) for card in sorted(self.status)), ZERO), False


# --------------------------------------------------------------------------- the machine


def _empty_tables(engine: Engine) -> None:
    """The ``db`` fixture's reset, once per example."""
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@dataclass(frozen=True)
class Call:
    method: str
    kwargs: dict[str, Any]


class LedgerMachine(RuleBasedStateMachine):
    """Four cards (active, active, accumulation-only, active) on empty tables, and a fake clock.

    Cards 3 and 4 change status (active / accumulation-only / blocked) through a unit of work.
    """

    engine: ClassVar[Engine | None] = None

    def __init__(self) -> None:
        super().__init__()
        assert self.engine is not None, "run through test_ledger_state_machine"
        self.db: Engine = self.engine
        _empty_tables(self.db)
        self.clock = FakeClock(START)
        self.ledger = LedgerService(
            self.db, clock=self.clock, hold_ttl=HOLD_TTL, expiring_within=EXPIRING_WITHIN
        )
        with UnitOfWork(self.db, clock=self.clock) as uow:
            program = uow.programs.get_or_create("dobrostroy", "Dobrostroy")
            self.cards = [
                uow.cards.add(Card(program_id=program.id, number=f"2000-{n:08d}", status=status)).id
                for n, status in enumerate(CARD_STATUSES, start=1)
            ]
            uow.commit()
        self.model = Model(dict(zip(self.cards, CARD_STATUSES, strict=True)))
        self.counters = dict.fromkeys(ORIGINS, 0)
        self.done: list[Call] = []  # successful calls whose keys may be repeated
        self.expire_runs: list[Call] = []

    # --- plumbing ------------------------------------------------------------------------------

    def _key(self, origin: Origin) -> str:
        """A new key; counted per origin, so the same key is reused by the other origin."""
        self.counters[origin] += 1
        return f"k{self.counters[origin]}"

    def _amount(self, amount: Decimal | str, card: int, *, include_pending: bool = False) -> Decimal:
        if amount != ALL:
            return Decimal(amount)
        return self.model.spendable(card, self.clock.now, include_pending=include_pending) or CENT

    def _draw_hold(self, data: st.DataObject) -> int:
        """Mostly a pending hold (if any), sometimes any hold: resolved ones must be refused."""
        pending = sorted(h.id for h in self.model.holds.values() if h.status is HoldStatus.PENDING)
        every = st.sampled_from(sorted(self.model.holds))
        pending_weight = 6 if pending else 0
        hold_id: int = _draw_weighted(
            data, (pending_weight, st.sampled_from(pending)), (3, every), (1, st.just(UNKNOWN_ID))
        )
        return hold_id

    def _draw_call(self, data: st.DataObject, *methods: str) -> Call:
        """A successful call: its kind of operation first, so that rare kinds are drawn too."""
        done = [call for call in self.done if not methods or call.method in methods]
        method = data.draw(st.sampled_from(sorted({call.method for call in done})), label="method")
        return data.draw(st.sampled_from([call for call in done if call.method == method]), label="call")

    def _snapshot(self) -> tuple[Any, ...]:
        """Everything a call may change: compared before and after a refusal or a replay."""
        with self.db.connect() as conn:
            return tuple(
                [tuple(row) for row in conn.execute(query)]
                for query in (
                    select(operations.c.id, operations.c.origin, operations.c.idempotency_key).order_by(
                        operations.c.id
                    ),
                    select(movements.c.id, movements.c.card_id, movements.c.amount).order_by(movements.c.id),
                    select(balances.c.card_id, balances.c.total, balances.c.held).order_by(
                        balances.c.card_id
                    ),
                    select(holds.c.id, holds.c.status, holds.c.captured, holds.c.resolved_at).order_by(
                        holds.c.id
                    ),
                    select(lots.c.id, lots.c.remaining, lots.c.held).order_by(lots.c.id),
                    select(Card.id, Card.status).order_by(Card.id),
                )
            )

    def _call(self, method: str, **kwargs: Any) -> Any:
        """Call the ledger and the model alike; assert they agree. Returns the ledger's result."""
        label = f"{method}({', '.join(f'{name}={value!r}' for name, value in kwargs.items())})"
        before = self._snapshot()
        raised: errors.LedgerError | None = None
        try:
            actual = getattr(self.ledger, method)(**kwargs)
        except errors.LedgerError as exc:
            actual, raised = None, exc
        trial = copy.deepcopy(self.model)
        operation: Callable[..., tuple[Any, bool]] = getattr(trial, method)
        try:
            expected, replayed = operation(self.clock.now, actual, **kwargs)
        except Refusal as refusal:
            assert raised is not None, f"{label} returned {actual!r}, expected {refusal.error.__name__}"
            assert type(raised) is refusal.error, (
                f"{label} raised {raised!r}, expected {refusal.error.__name__}"
            )
            assert self._snapshot() == before, f"the refused {label} changed the ledger"
            return None
        assert raised is None, f"{label} raised {raised!r}, expected {expected!r}"
        assert actual == expected, f"{label} returned {actual!r}, expected {expected!r}"
        if replayed:
            assert actual is None or actual.replayed, f"{label} repeated a key but is not marked replayed"
            assert self._snapshot() == before, f"{label} repeated a key and changed the ledger"
        else:
            assert not getattr(actual, "replayed", False), f"{label} is marked replayed but was new"
            if "key" in kwargs and method != "expire_due":
                self.done.append(Call(method, kwargs))
        self.model = trial
        return actual

    # --- setup ---------------------------------------------------------------------------------

    @initialize(
        first=st.lists(opening_amounts, min_size=len(CARD_STATUSES), max_size=len(CARD_STATUSES)),
        expiry=valid_for,
    )
    def opening_balances(self, first: list[Decimal], expiry: timedelta | None) -> None:
        for card, amount in zip(self.cards, first, strict=True):
            expires_at = None if expiry is None else self.clock.now + expiry
            key = self._key(Origin.ONEC)
            self._call(
                "accrue", card_id=card, amount=amount, key=key, origin=Origin.ONEC, expires_at=expires_at
            )

    # --- credits and debits ---------------------------------------------------------------------

    @rule(
        card=card_indexes,
        amount=amounts,
        backdated=backdated_by,
        pending=pending_for,
        valid=valid_for,
        origin=st.sampled_from(ORIGINS),
        document=documents,
    )
    def accrue(
        self,
        card: int,
        amount: Decimal,
        backdated: timedelta | None,
        pending: timedelta | None,
        valid: timedelta | None,
        origin: Origin,
        document: str | None,
    ) -> None:
        """A credit: a till receipt (maybe days late), spendable later or at once, maybe expiring."""
        now = self.clock.now
        occurred_at = None if backdated is None else now - backdated
        available_from = None if pending is None else now + pending
        expires_at = None if valid is None else (available_from or occurred_at or now) + valid
        self._call(
            "accrue",
            card_id=self.cards[card],
            amount=amount,
            key=self._key(origin),
            origin=origin,
            document=document,
            occurred_at=occurred_at,
            available_from=available_from,
            expires_at=expires_at,
        )

    @rule(card=card_indexes, amount=spend_amounts, origin=st.sampled_from(ORIGINS), document=documents)
    def redeem(self, card: int, amount: Decimal | str, origin: Origin, document: str | None) -> None:
        card_id = self.cards[card]
        self._call(
            "redeem",
            card_id=card_id,
            amount=self._amount(amount, card_id),
            key=self._key(origin),
            origin=origin,
            document=document,
        )

    @rule(card=card_indexes, amount=spend_amounts, origin=st.sampled_from(ORIGINS), document=documents)
    def hold(self, card: int, amount: Decimal | str, origin: Origin, document: str | None) -> None:
        card_id = self.cards[card]
        self._call(
            "hold",
            card_id=card_id,
            amount=self._amount(amount, card_id),
            key=self._key(origin),
            origin=origin,
            document=document,
        )

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data(), origin=st.sampled_from(ORIGINS))
    def capture(self, data: st.DataObject, origin: Origin) -> None:
        hold_id = self._draw_hold(data)
        held = self.model.holds[hold_id].amount if hold_id in self.model.holds else CENT
        part_of_hold = _points(1, int(held / CENT))
        amount = data.draw(st.one_of(st.none(), st.just(held), part_of_hold, amounts), label="amount")
        self._call("capture", hold_id=hold_id, amount=amount, key=self._key(origin), origin=origin)

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data(), origin=st.sampled_from(ORIGINS))
    def void(self, data: st.DataObject, origin: Origin) -> None:
        hold_id = self._draw_hold(data)
        self._call("void", hold_id=hold_id, key=self._key(origin), origin=origin)

    @rule(
        giver=card_indexes,
        receiver=card_indexes,
        amount=st.one_of(st.none(), spend_amounts),
        origin=st.sampled_from(ORIGINS),
    )
    def transfer(self, giver: int, receiver: int, amount: Decimal | str | None, origin: Origin) -> None:
        from_card, to_card = self.cards[giver], self.cards[receiver]
        points = None if amount is None else self._amount(amount, from_card, include_pending=True)
        total_before = self._total_points()
        moved = self._call(
            "transfer",
            from_card_id=from_card,
            to_card_id=to_card,
            amount=points,
            key=self._key(origin),
            origin=origin,
        )
        assert self._total_points() == total_before, "a transfer changed the points in the ledger"
        if moved is not None:
            assert moved.outgoing.amount == -moved.incoming.amount
            assert (moved.outgoing.card_id, moved.incoming.card_id) == (from_card, to_card)

    # --- corrections ----------------------------------------------------------------------------

    @rule(
        card=card_indexes,
        amount=amounts,
        negative=st.booleans(),
        valid=st.sampled_from([None, None, None, timedelta(0), DAY, 7 * DAY]),
        actor=st.sampled_from([STAFF] * 7 + [CLERK]),
        reason=st.sampled_from(["goodwill", "till error"] * 4 + ["  "]),
        origin=st.sampled_from(ORIGINS),
    )
    def adjust(
        self,
        card: int,
        amount: Decimal,
        negative: bool,
        valid: timedelta | None,
        actor: Actor,
        reason: str,
        origin: Origin,
    ) -> None:
        self._call(
            "adjust",
            card_id=self.cards[card],
            amount=-amount if negative else amount,
            actor=actor,
            reason=reason,
            key=self._key(origin),
            origin=origin,
            expires_at=None if valid is None else self.clock.now + valid,
        )

    @precondition(lambda self: self.model.movements)
    @rule(data=st.data(), origin=st.sampled_from(ORIGINS))
    def reverse(self, data: st.DataObject, origin: Origin) -> None:
        reversible = sorted(
            movement.id
            for movement in self.model.movements.values()
            if movement.kind in REVERSIBLE and movement.reversed < abs(movement.amount)
        )
        movement_id = _draw_weighted(
            data,
            (12 if reversible else 0, st.sampled_from(reversible)),
            (4, st.sampled_from(sorted(self.model.movements))),
            (1, st.just(UNKNOWN_ID)),
        )
        movement = self.model.movements.get(movement_id)
        left = CENT if movement is None else abs(movement.amount) - movement.reversed
        exactly_left = st.just(left) if left > 0 else st.none()
        amount = data.draw(st.one_of(st.none(), exactly_left, amounts), label="amount")
        self._call("reverse", movement_id=movement_id, amount=amount, key=self._key(origin), origin=origin)

    # --- time -------------------------------------------------------------------------------------

    @rule(by=clock_moves)
    def advance_clock(self, by: timedelta) -> None:
        self.clock.advance(by)

    @rule(
        job=st.sampled_from(["expire_due", "expire_due", "expire_due again", "release_expired_holds"]),
        named=st.booleans(),
        late=st.sampled_from([timedelta(0), timedelta(0), DAY]),
        batch=st.sampled_from([1, 2, 500]),
        data=st.data(),
    )
    def sweep(self, job: str, named: bool, late: timedelta, batch: int, data: st.DataObject) -> None:
        """The periodic jobs (one rule, so that they do not crowd out the rest).

        ``expire_due``: the nightly expiry (maybe for yesterday's cut-off), keyed by its cut-off by
        default; ``again``: an earlier run restarted with its key, which must not expire anything
        twice; ``release_expired_holds``: abandoned checkouts give their points back.
        """
        if job == "release_expired_holds":
            self._call(job)
        elif job == "expire_due again" and self.expire_runs:
            call = data.draw(st.sampled_from(self.expire_runs), label="run")
            self._call(call.method, **call.kwargs)
        else:
            key = f"expiry-run-{len(self.expire_runs)}" if named else None
            call = Call("expire_due", {"now": self.clock.now - late, "key": key, "batch": batch})
            self._call(call.method, **call.kwargs)
            self.expire_runs.append(call)

    # --- cards ------------------------------------------------------------------------------------

    @rule(card=st.sampled_from([2, 3]), status=st.sampled_from(list(CardStatus)))
    def set_card_status(self, card: int, status: CardStatus) -> None:
        card_id = self.cards[card]
        with UnitOfWork(self.db, clock=self.clock) as uow:
            row = uow.cards.get(card_id)
            assert row is not None
            row.status = status
            uow.commit()
        self.model.status[card_id] = status

    # --- idempotency ------------------------------------------------------------------------------

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def repeat_key(self, data: st.DataObject) -> None:
        """The same call again: the first result, marked replayed, and nothing written."""
        call = self._draw_call(data)
        self._call(call.method, **call.kwargs)

    @precondition(lambda self: self.done)
    @rule()
    def repeat_every_key(self) -> None:
        """Every key used so far, again: each returns its first result, and nothing is written."""
        before = self._snapshot()
        for call in self.done:
            label = f"repeating {call.method}({call.kwargs})"
            try:
                actual = getattr(self.ledger, call.method)(**call.kwargs)
            except errors.LedgerError as exc:
                raise AssertionError(f"{label} raised {exc!r}") from exc
            expected = self.model.replay_result(call.kwargs["origin"], call.kwargs["key"])
            assert actual == expected, f"{label} returned {actual!r}, not the first result {expected!r}"
            assert actual is None or actual.replayed, f"{label} is not marked replayed"
        assert self._snapshot() == before, "repeating every key changed the ledger"

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def reuse_key_differently(self, data: st.DataObject) -> None:
        """A used key with other arguments: IdempotencyConflict, and nothing written."""
        call = self._draw_call(data)
        kwargs = dict(call.kwargs)
        amount: Decimal | None = kwargs.get("amount")
        varies_amount = amount is not None and (
            call.method in ("redeem", "hold", "capture", "transfer", "reverse")
            or (call.method == "adjust" and kwargs["expires_at"] is None)
        )
        if amount is not None and varies_amount:  # the same operation, one hundredth more (or less)
            kwargs["amount"] = amount - CENT if amount < 0 else amount + CENT
            self._call(call.method, **kwargs)
        else:  # another kind of operation under the same key
            self._call(
                "redeem",
                card_id=self.cards[0],
                amount=Decimal("1.00"),
                key=kwargs["key"],
                origin=kwargs["origin"],
            )
        assert self.model.claimed[(kwargs["origin"], kwargs["key"])].signature[0] == call.method

    @precondition(lambda self: any(call.method == "transfer" for call in self.done))
    @rule(data=st.data(), card=card_indexes)
    def accrue_under_a_key_like_a_transfer_leg(self, data: st.DataObject, card: int) -> None:
        """Keys are opaque: ``<key>/in`` is a new key even when ``<key>`` was a transfer."""
        call = self._draw_call(data, "transfer")
        origin = call.kwargs["origin"]
        self._call(
            "accrue",
            card_id=self.cards[card],
            amount=Decimal("1.00"),
            key=f"{call.kwargs['key']}/in",
            origin=origin,
        )

    # --- invariants -------------------------------------------------------------------------------

    def _total_points(self) -> Decimal:
        with self.db.connect() as conn:
            return total_points(conn)

    @invariant()
    def ledger_is_consistent(self) -> None:
        with self.db.connect() as conn:
            assert check_ledger(conn) == []
            points = total_points(conn)
            stored_lots = conn.execute(
                select(
                    lots.c.card_id,
                    lots.c.movement_id,
                    lots.c.remaining,
                    lots.c.held,
                    lots.c.available_from,
                    lots.c.expires_at,
                ).order_by(lots.c.id)
            ).all()
            stored_holds = conn.execute(
                select(
                    holds.c.id,
                    holds.c.card_id,
                    holds.c.amount,
                    holds.c.captured,
                    holds.c.status,
                    holds.c.expires_at,
                    holds.c.capture_movement_id,
                ).order_by(holds.c.id)
            ).all()
            stored_balances = conn.execute(
                select(balances.c.card_id, balances.c.total, balances.c.held).order_by(balances.c.card_id)
            ).all()
            stored_movements = conn.execute(
                select(
                    movements.c.id,
                    movements.c.card_id,
                    movements.c.kind,
                    movements.c.amount,
                    movements.c.reverses_id,
                ).order_by(movements.c.id)
            ).all()
        assert points == self.model.points(), f"{points} points in the ledger, {self.model.points()} expected"
        assert [tuple(row) for row in stored_balances] == [
            (card, self.model.total[card], self.model.held[card]) for card in sorted(self.model.status)
        ]
        assert [tuple(row) for row in stored_movements] == [
            (m.id, m.card, m.kind, m.amount, m.reverses_id) for m in self.model.movements.values()
        ]
        assert [tuple(row) for row in stored_lots] == [
            (lot.card, lot.movement_id, lot.remaining, lot.held, lot.available_from, lot.expires_at)
            for lot in self.model.lots
        ]
        assert [tuple(row) for row in stored_holds] == [
            (h.id, h.card, h.amount, h.captured, h.status, h.expires_at, h.capture_movement_id)
            for h in self.model.holds.values()
        ]

    @invariant()
    def balances_add_up(self) -> None:
        now = self.clock.now
        for card in self.cards:
            view = self.ledger.balance(card)
            parts = (view.available, view.pending, view.held, view.expired_unswept)
            assert all(part >= 0 for part in parts), f"card {card}: a negative part in {view}"
            assert view.total == sum(parts), f"card {card}: {view}"
            shown = {name: getattr(view, name) for name in self.model.balance(card, now)}
            assert shown == self.model.balance(card, now), f"card {card} at {now}"


# Passing takes well under a minute per database; a failure is shrunk for up to five more minutes.
@pytest.mark.timeout(900)
def test_ledger_state_machine(engine: Engine) -> None:
    LedgerMachine.engine = engine
    try:
        run_state_machine_as_test(LedgerMachine, settings=SETTINGS)
    finally:
        LedgerMachine.engine = None
