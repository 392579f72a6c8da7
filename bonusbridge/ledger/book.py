"""Ledger operations inside one database transaction.

A ``LedgerBook`` is bound to a connection whose transaction the caller owns, so a ledger operation
can be part of a larger change (a card merge blocks cards and transfers points atomically; sync
writes its outbox row beside the movement). ``LedgerService`` wraps each call in its own
transaction with retries; use the book directly only inside a unit of work.

Every operation follows the same steps, and every refusal happens before anything is written
(the caller rolls back on any exception anyway):

1. *claim* the idempotency key: insert the operation row, or find the earlier one and replay it;
2. *lock* the card's balance row (``FOR UPDATE`` on PostgreSQL; SQLite runs ``BEGIN IMMEDIATE``);
3. check the card's status, pick the lots to consume, and write movements, lots and totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, bindparam, case, func, select, type_coerce

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.db import sql_constant
from bonusbridge.ledger import accounts, fastpath
from bonusbridge.ledger import statements as sql
from bonusbridge.ledger.intents import (
    MAX_BALANCE,
    Accrual,
    Redemption,
    check_key,
    fingerprint,
    parse_amount,
)
from bonusbridge.ledger.records import BalanceView, HoldRecord, MovementRecord, TransferRecord
from bonusbridge.ledger.statements import (
    OPEN,
    POINTS,
    balances,
    cards,
    hold_allocations,
    holds,
    lot_allocations,
    lots,
    movements,
    operations,
)
from bonusbridge.models import CardStatus, HoldStatus, MovementKind, Origin
from bonusbridge.types import UTCDateTime

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class _Claim:
    operation_id: int
    replayed: bool


@dataclass(frozen=True)
class LotPart:
    """A part of one lot: chosen for a debit or a hold, or named to be moved as it is."""

    lot_id: int
    amount: Decimal
    available_from: datetime
    expires_at: datetime | None


#: Cards per query in ``LedgerBook.balances``: each is a bound parameter.
BALANCES_PER_QUERY = 10_000


def stale_held(now: Any) -> Any:
    """Per lot, what holds past their time to live at ``now`` (a value or a bound parameter) still
    hold of it: points those holds no longer reserve, though the sweeper (or the card's next debit)
    has not released them yet. Only a lot something holds (``held > 0``, rare) looks its holds up,
    through the allocation index."""
    of_lot = (
        select(func.sum(hold_allocations.c.amount))
        .select_from(hold_allocations.join(holds, holds.c.id == hold_allocations.c.hold_id))
        .where(
            hold_allocations.c.lot_id == lots.c.id,
            holds.c.status == sql_constant(HoldStatus.PENDING.value),
            holds.c.expires_at <= now,
        )
        .correlate(lots)
        .scalar_subquery()
    )
    return case((lots.c.held > OPEN, func.coalesce(of_lot, OPEN)), else_=OPEN)


def free_points(now: Any) -> Any:
    """Per lot, the points nothing holds at ``now``: its ``remaining`` less what live holds
    reserve. A hold past its time to live reserves nothing, even before it is swept: its points
    read as they will once released — available, expiring soon, or expired with their lot — and
    reading writes nothing."""
    return lots.c.remaining - lots.c.held + stale_held(now)


def _balance_columns() -> list[Any]:
    """Per card: total, held, pending, expired (not yet swept), expiring soon, next expiry — the
    columns both balance statements select, over ``balances`` outer-joined to the card's live lots.
    Holds past their time to live count as released (``free_points``): out of ``held``, back in
    their lots.

    Parameters: ``now`` and ``horizon`` (now + the "expiring soon" window)."""
    now = bindparam("now", type_=UTCDateTime())
    horizon = bindparam("horizon", type_=UTCDateTime())
    stale = stale_held(now)
    free = lots.c.remaining - lots.c.held + stale
    is_pending = lots.c.available_from > now
    is_expired = (lots.c.available_from <= now) & (lots.c.expires_at <= now)
    is_expiring = (lots.c.available_from <= now) & (lots.c.expires_at > now) & (lots.c.expires_at <= horizon)

    def total_of(condition: Any) -> Any:
        return type_coerce(func.coalesce(func.sum(free).filter(condition), 0), POINTS)

    return [
        balances.c.total,
        type_coerce(balances.c.held - func.coalesce(func.sum(stale), 0), POINTS),
        total_of(is_pending),
        total_of(is_expired),
        total_of(is_expiring),
        type_coerce(func.min(lots.c.expires_at).filter(lots.c.expires_at > now), UTCDateTime()),
    ]


#: The card whose balance row holds a card's points (``ledger.accounts``): itself, or in ``ut11``
#: its partner's account card.
_ACCOUNT = func.coalesce(cards.c.account_card_id, cards.c.id)


def _balances_statement() -> Any:
    """The balance query, built once: constructing it per call cost more than running it. Each
    card asked for reads its account's balance (``ledger.accounts``: in ``ut11`` every card of a
    partner shows the partner's points), keyed by the card asked for.

    Parameters: ``now``, ``horizon`` and ``card_ids``."""
    return (
        select(cards.c.id, *_balance_columns())
        .select_from(
            cards.join(balances, balances.c.card_id == _ACCOUNT).outerjoin(
                lots, (lots.c.card_id == balances.c.card_id) & (lots.c.remaining > OPEN)
            )
        )
        .where(cards.c.id.in_(bindparam("card_ids", expanding=True)))
        .group_by(cards.c.id, balances.c.total, balances.c.held)
    )


def card_balance_statement() -> Any:
    """One card's status and balance in one statement (the shop API's awaited read): the card's
    row, then ``balance_views``' columns (its account's, ``ledger.accounts``), NULL when the ledger
    has no balance for it.

    Parameters: ``card``, ``now`` and ``horizon``."""
    return (
        select(cards.c.status, balances.c.card_id, *_balance_columns())
        .select_from(
            cards.outerjoin(balances, balances.c.card_id == _ACCOUNT).outerjoin(
                lots, (lots.c.card_id == balances.c.card_id) & (lots.c.remaining > OPEN)
            )
        )
        .where(cards.c.id == bindparam("card"))
        .group_by(cards.c.id, cards.c.status, balances.c.card_id, balances.c.total, balances.c.held)
    )


_BALANCES = _balances_statement()


def balance_query(
    card_ids: list[int], *, now: datetime, expiring_within: timedelta
) -> tuple[Any, dict[str, Any]]:
    """The balance statement and its parameters, for callers running it on a connection of their
    own (the shop API awaits it on an async connection); ``balance_views`` reads its rows."""
    return _BALANCES, {"now": now, "horizon": now + expiring_within, "card_ids": sorted(set(card_ids))}


def balance_views(rows: Iterable[Any], *, now: datetime, horizon: datetime) -> dict[int, BalanceView]:
    """Balance views from the balance statement's rows (cards the ledger does not know are absent)."""
    views = {}
    for card_id, total, held, pending, expired, expiring, next_expiry in rows:
        views[card_id] = BalanceView(
            card_id=card_id,
            total=total,
            available=total - held - pending - expired,
            pending=pending,
            held=held,
            expired_unswept=expired,
            expiring_soon=expiring,
            expiring_horizon=horizon,
            next_expiry=next_expiry,
            as_of=now,
        )
    return views


class LedgerBook:
    """The ledger's operations on one connection, at one instant ``now``."""

    def __init__(
        self,
        conn: Connection,
        *,
        now: datetime,
        hold_ttl: timedelta = timedelta(minutes=15),
        in_sql: bool = False,
    ):
        """``in_sql``: run accruals and redemptions as one call of their PostgreSQL function each
        (``fastpath``), for a caller that applies many in one transaction. When the function
        declines, ``TakePythonPath`` is raised and the transaction is aborted: the caller rolls
        back and does the work again with a book without ``in_sql``."""
        if now.tzinfo is None:
            raise ValueError("now must be time-zone aware")
        self.conn = conn
        self.now = now
        self.hold_ttl = hold_ttl
        self.in_sql = in_sql

    # ------------------------------------------------------------------ credits and debits

    def accrue(
        self,
        card_id: int,
        amount: Decimal | int | str,
        *,
        key: str,
        origin: Origin,
        document: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
        occurred_at: datetime | None = None,
        available_from: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> MovementRecord:
        """Credit points as a new lot, spendable from ``available_from`` until ``expires_at``."""
        return self.apply_accrual(
            Accrual.build(
                card_id,
                amount,
                key=key,
                origin=origin,
                now=self.now,
                document=document,
                actor=actor,
                reason=reason,
                occurred_at=occurred_at,
                available_from=available_from,
                expires_at=expires_at,
            )
        )

    def apply_accrual(self, accrual: Accrual) -> MovementRecord:
        if self.in_sql and accrual.date_problem is None:
            # A card whose points live on another card's account declines (migration 0018).
            operation_id, movement_id, replayed = fastpath.call_in_transaction(
                self.conn, fastpath.ACCRUE_SQL, fastpath.accrue_params(accrual, self.now), accrual.key
            )
            return self._replayed_movement(operation_id) if replayed else accrual.record(movement_id)
        account, gate = self._account(accrual.card_id, accrual.origin)
        if account != accrual.card_id:
            accrual = replace(accrual, card_id=account)  # the fingerprint stays the call's own
        claim = self._claim_digest("accrue", accrual.key, accrual.origin, accrual.actor, accrual.fingerprint)
        if claim.replayed:
            return self._replayed_movement(claim.operation_id)
        accrual.check_dates()
        self._credit(accrual.card_id, accrual.points, gate=gate)
        record = self._insert_movement(
            claim.operation_id,
            accrual.card_id,
            MovementKind.ACCRUAL,
            accrual.points,
            accrual.origin,
            accrual.key,
            document=accrual.document,
            actor=accrual.actor,
            reason=accrual.reason,
            occurred_at=accrual.occurred,
            available_from=accrual.spendable_from,
            expires_at=accrual.expires_at,
        )
        self._insert_lots(
            accrual.card_id, record.id, [(accrual.points, accrual.spendable_from, accrual.expires_at, None)]
        )
        return record

    def redeem(
        self,
        card_id: int,
        amount: Decimal | int | str,
        *,
        key: str,
        origin: Origin,
        document: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> MovementRecord:
        """Spend points at once (a till receipt, an order paid without a hold)."""
        return self.apply_redemption(
            Redemption.build(
                card_id, amount, key=key, origin=origin, document=document, actor=actor, reason=reason
            )
        )

    def apply_redemption(self, redemption: Redemption) -> MovementRecord:
        if self.in_sql:  # an alias of another card's account declines (migration 0018)
            operation_id, movement_id, replayed = fastpath.call_in_transaction(
                self.conn, fastpath.REDEEM_SQL, fastpath.redeem_params(redemption, self.now), redemption.key
            )
            if replayed:
                return self._replayed_movement(operation_id)
            return redemption.record(movement_id, self.now)
        account, gate = self._account(redemption.card_id, redemption.origin)
        if account != redemption.card_id:
            redemption = replace(redemption, card_id=account)  # the fingerprint stays the call's own
        claim = self._claim_digest(
            "redeem", redemption.key, redemption.origin, redemption.actor, redemption.fingerprint
        )
        if claim.replayed:
            return self._replayed_movement(claim.operation_id)
        card_id, points = redemption.card_id, redemption.points
        # A till's receipt that 1C already posted is a fact, not a request: the lock on spending is
        # enforced where the spending is asked for (1C's tills, the hub's quote, checkout), and
        # refusing to record it would only leave the hub disagreeing with 1C's register.
        self._debit(card_id, points, spending=redemption.origin is not Origin.ONEC, gate=gate)
        picks = self._pick_lots(card_id, points)
        record = self._insert_movement(
            claim.operation_id,
            card_id,
            MovementKind.REDEMPTION,
            -points,
            redemption.origin,
            redemption.key,
            document=redemption.document,
            actor=redemption.actor,
            reason=redemption.reason,
        )
        self._consume(card_id, record.id, picks, totals_done=True)
        return record

    # ------------------------------------------------------------------ two-phase redemption

    def hold(
        self,
        card_id: int,
        amount: Decimal | int | str,
        *,
        key: str,
        origin: Origin,
        document: str | None = None,
        ttl: timedelta | None = None,
    ) -> HoldRecord:
        """Reserve points for a checkout. They stay in the balance as ``held`` until capture or void."""
        points = parse_amount(amount)
        claim = self._claim("hold", key, origin, None, card_id=card_id, amount=points, document=document)
        if claim.replayed:
            return self._replayed_hold(claim.operation_id)
        card_id, gate = self._account(card_id, origin)
        self._debit(card_id, points, spending=True, statement=sql.RESERVE, gate=gate)
        picks = self._pick_lots(card_id, points)
        expires_at = self.now + (ttl or self.hold_ttl)
        hold_id = self.conn.execute(
            holds.insert()
            .values(
                card_id=card_id,
                operation_id=claim.operation_id,
                amount=points,
                captured=ZERO,
                status=HoldStatus.PENDING,
                document=document,
                created_at=self.now,
                expires_at=expires_at,
            )
            .returning(holds.c.id)
        ).scalar_one()
        self.conn.execute(
            hold_allocations.insert(),
            [{"hold_id": hold_id, "lot_id": pick.lot_id, "amount": pick.amount} for pick in picks],
        )
        self._change_lots(picks, held=+1)
        return HoldRecord(hold_id, card_id, points, ZERO, HoldStatus.PENDING, document, expires_at, None)

    def capture(
        self,
        hold_id: int,
        amount: Decimal | int | str | None = None,
        *,
        key: str,
        origin: Origin,
        actor: str | None = None,
    ) -> MovementRecord:
        """Spend all or part of a hold; the rest is released in the same step."""
        points = None if amount is None else parse_amount(amount)
        claim = self._claim("capture", key, origin, actor, hold_id=hold_id, amount=points)
        if claim.replayed:
            return self._replayed_movement(claim.operation_id)
        hold, status = self._lock_hold(hold_id)
        if hold.expires_at <= self.now:
            raise errors.HoldExpired(hold_id)
        if not self._shared(hold.card_id):  # a shared account's card was checked when it was held
            self._refuse_blocked(hold.card_id, status)
        points = hold.amount if points is None else points
        if points > hold.amount:
            raise errors.CaptureExceedsHold(hold_id, points, hold.amount)
        reserved = self._hold_picks(hold_id)
        spent = _take(reserved, points)
        record = self._insert_movement(
            claim.operation_id,
            hold.card_id,
            MovementKind.REDEMPTION,
            -points,
            origin,
            key,
            document=hold.document,
            actor=actor,
        )
        self._change_lots(reserved, held=-1)
        self._consume(hold.card_id, record.id, spent, release_held=hold.amount)
        self._resolve_hold(hold_id, HoldStatus.CAPTURED, captured=points, movement_id=record.id)
        return record

    def void(self, hold_id: int, *, key: str, origin: Origin) -> HoldRecord:
        """Release a hold entirely. Allowed on a blocked card: it only gives reserved points back."""
        claim = self._claim("void", key, origin, None, hold_id=hold_id)
        if claim.replayed:
            return self._replayed_hold(claim.operation_id)
        hold, _ = self._lock_hold(hold_id)
        self._release_hold(hold_id, hold.card_id, hold.amount, HoldStatus.VOIDED)
        return self._read_hold(hold_id)

    # ------------------------------------------------------------------ transfers and merges

    def transfer(
        self,
        from_card_id: int,
        to_card_id: int,
        amount: Decimal | int | str | None = None,
        *,
        key: str,
        origin: Origin,
        actor: str | None = None,
        reason: str | None = None,
    ) -> TransferRecord | None:
        """Move points between cards, each consumed lot keeping its expiry date on the target.

        ``amount=None`` moves everything that can move (all unexpired, unheld points, pending ones
        included) and returns ``None`` when there is nothing. Transfers are not spending: an
        accumulation-only card may send and receive them.
        """
        points = None if amount is None else parse_amount(amount)
        if from_card_id == to_card_id:
            raise errors.SameCardTransfer(from_card_id)
        claim = self._claim(
            "transfer",
            key,
            origin,
            actor,
            from_card_id=from_card_id,
            to_card_id=to_card_id,
            amount=points,
            reason=reason,
        )
        if claim.replayed:
            return self._replayed_transfer(claim.operation_id)
        from_card_id, from_gate = self._account(from_card_id, origin)
        to_card_id, to_gate = self._account(to_card_id, origin)
        if from_card_id == to_card_id:
            return None  # two cards of one account (ut11: one partner): the points are already there
        return self._transfer(
            claim.operation_id,
            from_card_id,
            to_card_id,
            points,
            key=key,
            origin=origin,
            actor=actor,
            reason=reason,
            gates=(from_gate, to_gate),
        )

    def transfer_own_points(self, card_id: int, account_card_id: int, *, key: str, origin: Origin) -> None:
        """Move everything a card holds on its own balance (unheld; pending included, each lot with
        its expiry date) onto the account it joins (``accounts.share_customer_account``). Not a
        spending nor a status change: a blocked card's points are its partner's too."""
        if card_id == account_card_id:
            return
        claim = self._claim(
            "transfer",
            key,
            origin,
            None,
            from_card_id=card_id,
            to_card_id=account_card_id,
            amount=None,
            reason=accounts.JOIN_REASON,
        )
        if claim.replayed:
            return
        self._transfer(
            claim.operation_id,
            card_id,
            account_card_id,
            None,
            key=key,
            origin=origin,
            actor=None,
            reason=accounts.JOIN_REASON,
            gates=(CardStatus.ACTIVE, CardStatus.ACTIVE),
        )

    def _transfer(
        self,
        operation_id: int,
        from_card_id: int,
        to_card_id: int,
        points: Decimal | None,
        *,
        key: str,
        origin: Origin,
        actor: str | None,
        reason: str | None,
        gates: tuple[CardStatus | None, CardStatus | None],
    ) -> TransferRecord | None:
        states = self._lock_cards(from_card_id, to_card_id)
        self._refuse_blocked(from_card_id, gates[0] or states[from_card_id])
        self._refuse_blocked(to_card_id, gates[1] or states[to_card_id])
        if points is None:
            self._release_expired_holds_locked(from_card_id)
            picks = self._open_lots(from_card_id, include_pending=True)
            points = sum((pick.amount for pick in picks), ZERO)
            if points == 0:
                return None
        else:
            picks = self._pick_lots(from_card_id, points, include_pending=True)
        self._refuse_above_limit(to_card_id, points)
        outgoing = self._insert_movement(
            operation_id,
            from_card_id,
            MovementKind.TRANSFER_OUT,
            -points,
            origin,
            key,
            actor=actor,
            reason=reason,
            counterpart_card_id=to_card_id,
        )
        incoming = self._insert_movement(
            operation_id,
            to_card_id,
            MovementKind.TRANSFER_IN,
            points,
            origin,
            key,
            actor=actor,
            reason=reason,
            counterpart_card_id=from_card_id,
        )
        self._consume(from_card_id, outgoing.id, picks)
        self._insert_lots(
            to_card_id,
            incoming.id,
            [(pick.amount, pick.available_from, pick.expires_at, pick.lot_id) for pick in picks],
        )
        self._change_totals(to_card_id, total=points)
        return TransferRecord(outgoing, incoming)

    # ------------------------------------------------------------------ corrections

    def adjust(
        self,
        card_id: int,
        amount: Decimal | int | str,
        *,
        key: str,
        origin: Origin,
        actor: Actor,
        reason: str,
        expires_at: datetime | None = None,
    ) -> MovementRecord:
        """A staff correction, positive or negative. Needs the adjust permission and a reason."""
        points = parse_amount(amount, allow_negative=True)
        if not actor.may(Permission.ADJUST):
            raise errors.PermissionDenied(f"{actor.name} may not adjust balances")
        if not reason or not reason.strip():
            raise errors.MissingReason("an adjustment needs a reason")
        if expires_at is not None and points < 0:
            raise errors.InvalidDates("only a positive adjustment takes an expiry date")
        claim = self._claim(
            "adjust",
            key,
            origin,
            actor.name,
            card_id=card_id,
            amount=points,
            reason=reason,
            expires_at=expires_at,
        )
        if claim.replayed:
            return self._replayed_movement(claim.operation_id)
        if expires_at is not None and expires_at <= self.now:
            # After the claim: a replay stays a replay once the date has passed.
            raise errors.InvalidDates("an adjustment's expiry date must be in the future")
        card_id, gate = self._account(card_id, origin)
        if points > 0:
            self._credit(card_id, points, gate=gate)
        else:
            self._debit(card_id, -points, spending=False, gate=gate)
        record = self._insert_movement(
            claim.operation_id,
            card_id,
            MovementKind.ADJUSTMENT,
            points,
            origin,
            key,
            actor=actor.name,
            reason=reason,
            available_from=self.now if points > 0 else None,
            expires_at=expires_at,
        )
        if points > 0:
            self._insert_lots(card_id, record.id, [(points, self.now, expires_at, None)])
        else:
            self._consume(card_id, record.id, self._pick_lots(card_id, -points), totals_done=True)
        return record

    def reverse(
        self,
        movement_id: int,
        amount: Decimal | int | str | None = None,
        *,
        key: str,
        origin: Origin,
        actor: str | None = None,
        reason: str | None = None,
        on_card: int | None = None,
    ) -> MovementRecord:
        """Undo all or part of an accrual, redemption or adjustment with a new, opposite movement.

        ``on_card``: the card that holds the movement's points now, when it is not the movement's
        own (a card merged away: its points moved to the card it was merged into, so a refund takes
        back or gives back there, with the consumed lots' expiry dates).

        Reversing a credit takes the points back from the lot it created first (even if still
        pending), then from the card's other spendable points; if the customer already spent them,
        the refusal is ``InsufficientBalance``. Reversing a debit restores the points into new lots
        with the expiry dates of the lots it consumed.
        """
        points = None if amount is None else parse_amount(amount)
        args: dict[str, Any] = {"movement_id": movement_id, "amount": points, "reason": reason}
        if on_card is not None:
            args["on_card"] = on_card
        claim = self._claim("reverse", key, origin, actor, **args)
        if claim.replayed:
            return self._replayed_movement(claim.operation_id)
        original = self.conn.execute(select(movements).where(movements.c.id == movement_id)).first()
        if original is None:
            raise errors.UnknownMovement(movement_id)
        if original.kind not in (MovementKind.ACCRUAL, MovementKind.REDEMPTION, MovementKind.ADJUSTMENT):
            raise errors.NotReversible(
                f"movement {movement_id} is a {original.kind.value}; only accruals, redemptions and "
                "adjustments are reversed (transfers are undone by a transfer back)"
            )
        card_id, gate = self._account(original.card_id if on_card is None else on_card, Origin.ONEC)
        status = self._lock_card(card_id)  # a shared account takes a correction whatever its card's status
        self._refuse_blocked(card_id, gate or status)
        already = self.reversed_so_far(movement_id)
        left = abs(original.amount) - already
        if left == 0:
            raise errors.NotReversible(f"movement {movement_id} is already fully reversed")
        points = left if points is None else points
        if points > left:
            raise errors.InvalidAmount(
                f"only {left} of movement {movement_id} is left to reverse, not {points}"
            )
        signed = -points if original.amount > 0 else points
        if signed > 0:
            self._refuse_above_limit(card_id, points)
        record = self._insert_movement(
            claim.operation_id,
            card_id,
            MovementKind.REVERSAL,
            signed,
            origin,
            key,
            document=original.document,
            actor=actor,
            reason=reason,
            reverses_id=movement_id,
        )
        if original.amount > 0:
            picks = self._pick_lots(card_id, points, prefer_movement_id=movement_id)
            self._consume(card_id, record.id, picks)
        else:
            restored = _take(_skip(self._allocation_picks(movement_id), already), points)
            self._insert_lots(
                card_id,
                record.id,
                [(pick.amount, pick.available_from, pick.expires_at, pick.lot_id) for pick in restored],
            )
            self._change_totals(card_id, total=points)
        return record

    # ------------------------------------------------------------------ time-driven work

    def expire_card(self, card_id: int, *, key: str, as_of: datetime) -> MovementRecord | None:
        """Write off the card's points whose expiry date is ``as_of`` or earlier.

        The part of an expired lot still reserved by a hold is left to that hold; once the hold is
        voided or swept, a later run expires it.
        """
        claim = self._claim("expire", key, Origin.SYSTEM, None, card_id=card_id, as_of=as_of)
        if claim.replayed:
            return self._replayed_optional_movement(claim.operation_id)
        self._lock_card(card_id)
        rows = self.conn.execute(
            select(lots.c.id, _free(), lots.c.available_from, lots.c.expires_at)
            .where(
                lots.c.card_id == card_id,
                lots.c.remaining > OPEN,
                lots.c.remaining > lots.c.held,
                lots.c.expires_at <= as_of,
            )
            .order_by(lots.c.expires_at, lots.c.id)
        ).all()
        picks = [LotPart(row[0], row[1], row[2], row[3]) for row in rows]
        total = sum((pick.amount for pick in picks), ZERO)
        if total == 0:
            return None
        record = self._insert_movement(
            claim.operation_id,
            card_id,
            MovementKind.EXPIRY,
            -total,
            Origin.SYSTEM,
            key,
            reason=f"points expired as of {as_of.isoformat()}",
        )
        self._consume(card_id, record.id, picks)
        return record

    def release_expired_holds(self, card_id: int) -> Decimal:
        """Release the card's holds whose time to live is over. Returns the points given back."""
        self._lock_card(card_id)
        return self._release_expired_holds_locked(card_id)

    def transfer_lots(
        self,
        from_card_id: int,
        to_card_id: int,
        parts: Sequence[LotPart],
        *,
        key: str,
        origin: Origin,
        actor: str | None,
        reason: str | None,
    ) -> int | None:
        """Move exactly ``parts`` (lot id, amount, dates) from one card to another as one transfer;
        the target gets one lot per part with the same ``available_from`` and ``expires_at``.

        ``transfer`` takes the soonest-expiring points; an unmerge must send back the very lots a
        merge moved, whatever their dates. Returns the incoming movement's id (None: nothing to
        move). Idempotent per (origin, key)."""
        total = sum((part.amount for part in parts), ZERO)
        claim = self._claim(
            "transfer_lots",
            key,
            origin,
            actor,
            from_card_id=from_card_id,
            to_card_id=to_card_id,
            lots=[[part.lot_id, str(part.amount)] for part in parts],
            reason=reason,
        )
        if claim.replayed:
            found = self._movement_rows(claim.operation_id)
            return found[1].id if found else None
        if total == 0:
            return None
        states = self._lock_cards(from_card_id, to_card_id)
        self._refuse_blocked(from_card_id, states[from_card_id])
        self._refuse_blocked(to_card_id, states[to_card_id])
        self._refuse_above_limit(to_card_id, total)
        outgoing = self._insert_movement(
            claim.operation_id,
            from_card_id,
            MovementKind.TRANSFER_OUT,
            -total,
            origin,
            key,
            actor=actor,
            reason=reason,
            counterpart_card_id=to_card_id,
        )
        incoming = self._insert_movement(
            claim.operation_id,
            to_card_id,
            MovementKind.TRANSFER_IN,
            total,
            origin,
            key,
            actor=actor,
            reason=reason,
            counterpart_card_id=from_card_id,
        )
        self._consume(from_card_id, outgoing.id, list(parts))
        self._insert_lots(
            to_card_id,
            incoming.id,
            [(part.amount, part.available_from, part.expires_at, part.lot_id) for part in parts],
        )
        self._change_totals(to_card_id, total=total)
        return incoming.id

    # ------------------------------------------------------------------ reading

    def read_hold(self, hold_id: int) -> HoldRecord:
        """A hold as it stands now (``HoldRecord.read_at``): past its time to live, a pending hold
        reads as expired though the sweeper has not released it yet. Writes nothing."""
        row = self.conn.execute(select(holds).where(holds.c.id == hold_id)).first()
        if row is None:
            raise errors.UnknownHold(hold_id)
        return hold_record(row).read_at(self.now)

    def balance(self, card_id: int, *, expiring_within: timedelta = timedelta(days=30)) -> BalanceView:
        """The card's balance now: one query on its balance row and its open lots."""
        found = self.balances([card_id], expiring_within=expiring_within)
        if card_id not in found:
            raise errors.UnknownCard(card_id)
        return found[card_id]

    def balances(
        self, card_ids: Iterable[int], *, expiring_within: timedelta = timedelta(days=30)
    ) -> dict[int, BalanceView]:
        """Several cards' balances now, in one query per ``BALANCES_PER_QUERY`` cards (a
        customer's cards on one page, a watcher of many cards); a card the ledger does not know is
        left out."""
        wanted = sorted(set(card_ids))
        if len(wanted) > BALANCES_PER_QUERY:  # PostgreSQL takes at most 65,535 parameters
            found: dict[int, BalanceView] = {}
            for at in range(0, len(wanted), BALANCES_PER_QUERY):
                found.update(
                    self.balances(wanted[at : at + BALANCES_PER_QUERY], expiring_within=expiring_within)
                )
            return found
        if not wanted:
            return {}
        now = self.now
        horizon = now + expiring_within
        rows = self.conn.execute(_BALANCES, {"now": now, "horizon": horizon, "card_ids": wanted})
        return balance_views(rows, now=now, horizon=horizon)

    # ================================================================== internals

    def _claim(self, kind: str, key: str, origin: Origin, actor: str | None, **args: Any) -> _Claim:
        check_key(key)
        args["actor"] = actor
        return self._claim_digest(
            kind, key, origin, actor, fingerprint(kind, args), hold_id=args.get("hold_id")
        )

    def _claim_digest(
        self,
        kind: str,
        key: str,
        origin: Origin,
        actor: str | None,
        digest: str,
        *,
        hold_id: int | None = None,
    ) -> _Claim:
        """Insert the operation row, or find the earlier one with this key and check it is the same."""
        operation_id = self.conn.execute(
            sql.claim_statement(self.conn.dialect.name),
            {
                "origin": origin,
                "idempotency_key": key,
                "kind": kind,
                "fingerprint": digest,
                "actor": actor,
                "created_at": self.now,
                "hold_id": hold_id,
            },
        ).scalar()
        if operation_id is not None:
            return _Claim(operation_id, replayed=False)
        first = self.conn.execute(sql.FIND_OPERATION, {"b_origin": origin, "b_key": key}).one()
        if first.kind != kind or first.fingerprint != digest:
            raise errors.IdempotencyConflict(key, first.kind)
        return _Claim(first.id, replayed=True)

    def _lock_card(self, card_id: int) -> CardStatus:
        """Lock the card's balance row and return its status."""
        status = self.conn.execute(sql.LOCK_CARD, {"b_card": card_id}).scalar()
        if status is None:
            raise errors.UnknownCard(card_id)
        return CardStatus(status)

    def _account(self, card_id: int, origin: Origin) -> tuple[int, CardStatus | None]:
        """The account card holding ``card_id``'s points (``accounts.resolve``) and the status that
        gates the operation: None — the account's own, as the balance statements return it (a card
        that is its own account, every card in retail); for a card of a shared account (ut11) the
        presented card's status, or for 1C's own postings ``active`` (its register is the partner's:
        a till receipt on a merged card of the partner is recorded, not refused)."""
        account, status, shared = accounts.resolve(self.conn, card_id)
        if not shared:
            return account, None
        return account, CardStatus.ACTIVE if origin is Origin.ONEC else status

    def _shared(self, card_id: int) -> bool:
        return accounts.resolve(self.conn, card_id)[2]

    def _credit(self, card_id: int, amount: Decimal, *, gate: CardStatus | None = None) -> None:
        """Raise the card's total, taking its lock; refuse an unknown or blocked card, or a credit
        that would take the card above the most a balance may hold. ``gate``: the status deciding
        instead of the card's own (``_account``)."""
        params = {"b_card": card_id, "b_amount": amount, "b_room": MAX_BALANCE - amount}
        status = self.conn.execute(sql.CREDIT, params).scalar()
        if status is None:
            self._refuse(card_id, gate or self._lock_card(card_id), spending=False)
            self._refuse_above_limit(card_id, amount)
            raise AssertionError(f"card {card_id}: a credit found no row yet the card has room")
        self._refuse(card_id, gate or status, spending=False)

    def _refuse_above_limit(self, card_id: int, amount: Decimal) -> None:
        """Refuse crediting ``amount`` to a card (locked by the caller) whose total would then
        exceed ``MAX_BALANCE``: a typed refusal rather than a numeric overflow of the column."""
        total = self.conn.execute(sql.CARD_TOTAL, {"b_card": card_id}).scalar_one()
        if total + amount > MAX_BALANCE:
            raise errors.BalanceLimitExceeded(card_id, amount, total, MAX_BALANCE)

    def _debit(
        self,
        card_id: int,
        amount: Decimal,
        *,
        spending: bool,
        statement: Any = sql.DEBIT,
        gate: CardStatus | None = None,
    ) -> None:
        """Lower the card's free points (``DEBIT``: the total; ``RESERVE``: raise ``held``), taking
        its lock. When the conditional update finds too little, look closer: unknown card, refused
        status, or stale holds to release before refusing for lack of points."""
        params = {"b_card": card_id, "b_amount": amount}
        status = self.conn.execute(statement, params).scalar()
        if status is None:
            locked = self._lock_card(card_id)
            self._refuse(card_id, gate or locked, spending=spending)
            if self._release_expired_holds_locked(card_id) > 0:
                status = self.conn.execute(statement, params).scalar()
            if status is None:
                spendable = sum((pick.amount for pick in self._open_lots(card_id)), ZERO)
                raise errors.InsufficientBalance(card_id, amount, spendable)
        self._refuse(card_id, gate or status, spending=spending)

    @staticmethod
    def refuse_spending(card_id: int, status: CardStatus) -> None:
        """Who may spend — the rule every spending path asks (holds, captures, redemptions, the
        order service): a blocked card nothing, an accumulation-only card no spending."""
        LedgerBook._refuse(card_id, status, spending=True)

    @staticmethod
    def _refuse(card_id: int, status: CardStatus, *, spending: bool) -> None:
        if status is CardStatus.BLOCKED:
            raise errors.CardBlocked(card_id)
        if spending and status is CardStatus.ACCUMULATION_ONLY:
            raise errors.AccumulationOnly(card_id)

    def _lock_cards(self, *card_ids: int) -> dict[int, CardStatus]:
        """Lock several cards in id order, so two transfers between the same cards cannot deadlock."""
        return {card_id: self._lock_card(card_id) for card_id in sorted(set(card_ids))}

    def _refuse_blocked(self, card_id: int, status: CardStatus) -> None:
        self._refuse(card_id, status, spending=False)

    def _open_lots(
        self, card_id: int, *, include_pending: bool = False, prefer_movement_id: int | None = None
    ) -> list[LotPart]:
        """Unreserved, unexpired lots in spending order: earliest expiry first, never-expiring last.

        With ``prefer_movement_id`` (reversing a credit) the lot that credit created comes first,
        even while still pending."""
        params: dict[str, Any] = {"b_card": card_id, "b_now": self.now}
        if prefer_movement_id is not None:
            statement = sql.REVERSIBLE_LOTS
            params["b_movement"] = prefer_movement_id
        else:
            statement = sql.TRANSFERABLE_LOTS if include_pending else sql.SPENDABLE_LOTS
        return [
            LotPart(lot_id, remaining - held, available_from, expires_at)
            for lot_id, remaining, held, available_from, expires_at in self.conn.execute(statement, params)
        ]

    def _pick_lots(
        self,
        card_id: int,
        amount: Decimal,
        *,
        include_pending: bool = False,
        prefer_movement_id: int | None = None,
    ) -> list[LotPart]:
        """Choose lots covering ``amount`` or refuse. Expired holds are released before refusing."""
        for attempt in (1, 2):
            picks = self._open_lots(
                card_id, include_pending=include_pending, prefer_movement_id=prefer_movement_id
            )
            available = sum((pick.amount for pick in picks), ZERO)
            if available >= amount:
                return _take(picks, amount)
            if attempt == 1 and self._release_expired_holds_locked(card_id) == 0:
                break
        raise errors.InsufficientBalance(card_id, amount, available)

    def _consume(
        self,
        card_id: int,
        movement_id: int,
        picks: list[LotPart],
        *,
        release_held: Decimal = ZERO,
        totals_done: bool = False,
    ) -> None:
        """Apply a debit: shrink the lots, record which lots paid, and lower the card's total (and
        its held amount, when the debit captures a hold) in one update, unless ``_debit`` did."""
        self._change_lots(picks, remaining=-1)
        self.conn.execute(
            sql.INSERT_LOT_ALLOCATIONS,
            [{"movement_id": movement_id, "lot_id": pick.lot_id, "amount": pick.amount} for pick in picks],
        )
        if not totals_done:
            self._change_totals(
                card_id, total=-sum((pick.amount for pick in picks), ZERO), held=-release_held
            )

    def _change_lots(self, picks: list[LotPart], *, remaining: int = 0, held: int = 0) -> None:
        """Add (sign +1) or subtract (-1) each pick's amount to its lot's ``remaining`` and/or ``held``."""
        self.conn.execute(
            sql.CHANGE_LOT,
            [
                {
                    "b_lot": pick.lot_id,
                    "b_remaining": remaining * pick.amount,
                    "b_lot_held": held * pick.amount,
                }
                for pick in picks
            ],
        )

    def _change_totals(self, card_id: int, *, total: Decimal = ZERO, held: Decimal = ZERO) -> None:
        if total or held:
            self.conn.execute(sql.CHANGE_TOTALS, {"b_card": card_id, "b_total": total, "b_held": held})

    def _insert_lots(
        self,
        card_id: int,
        movement_id: int,
        parts: Iterable[tuple[Decimal, datetime, datetime | None, int | None]],
    ) -> None:
        self.conn.execute(
            sql.INSERT_LOTS,
            [
                {
                    "card_id": card_id,
                    "movement_id": movement_id,
                    "amount": amount,
                    "remaining": amount,
                    "held": ZERO,
                    "available_from": available_from,
                    "expires_at": expires_at,
                    "source_lot_id": source_lot_id,
                }
                for amount, available_from, expires_at, source_lot_id in parts
            ],
        )

    def _insert_movement(
        self,
        operation_id: int,
        card_id: int,
        kind: MovementKind,
        amount: Decimal,
        origin: Origin,
        external_id: str,
        *,
        document: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
        occurred_at: datetime | None = None,
        available_from: datetime | None = None,
        expires_at: datetime | None = None,
        reverses_id: int | None = None,
        counterpart_card_id: int | None = None,
    ) -> MovementRecord:
        values: dict[str, Any] = {
            "card_id": card_id,
            "kind": kind,
            "amount": amount,
            "origin": origin,
            "external_id": external_id,
            "document": document,
            "actor": actor,
            "reason": reason,
            "occurred_at": occurred_at or self.now,
            "available_from": available_from,
            "expires_at": expires_at,
            "reverses_id": reverses_id,
            "counterpart_card_id": counterpart_card_id,
        }
        movement_id = self.conn.execute(
            sql.INSERT_MOVEMENT, {"operation_id": operation_id, "recorded_at": self.now, **values}
        ).scalar_one()
        return MovementRecord(id=movement_id, **values)

    def _lock_hold(self, hold_id: int) -> tuple[Row[Any], CardStatus]:
        """Find a pending hold and lock its card; refuse unknown or already resolved holds."""
        hold = self.conn.execute(select(holds).where(holds.c.id == hold_id)).first()
        if hold is None:
            raise errors.UnknownHold(hold_id)
        status = self._lock_card(hold.card_id)
        # Re-read under the card lock: a concurrent capture or void may have resolved it meanwhile.
        hold = self.conn.execute(select(holds).where(holds.c.id == hold_id)).one()
        if hold.status is not HoldStatus.PENDING:
            raise errors.HoldNotPending(hold_id, hold.status.value)
        return hold, status

    def _hold_picks(self, hold_id: int) -> list[LotPart]:
        rows = self.conn.execute(
            select(
                hold_allocations.c.lot_id, hold_allocations.c.amount, lots.c.available_from, lots.c.expires_at
            )
            .join(lots, lots.c.id == hold_allocations.c.lot_id)
            .where(hold_allocations.c.hold_id == hold_id)
            .order_by(hold_allocations.c.id)
        ).all()
        return [LotPart(row[0], row[1], row[2], row[3]) for row in rows]

    def _allocation_picks(self, movement_id: int) -> list[LotPart]:
        rows = self.conn.execute(
            select(
                lot_allocations.c.lot_id, lot_allocations.c.amount, lots.c.available_from, lots.c.expires_at
            )
            .join(lots, lots.c.id == lot_allocations.c.lot_id)
            .where(lot_allocations.c.movement_id == movement_id)
            .order_by(lot_allocations.c.id)
        ).all()
        return [LotPart(row[0], row[1], row[2], row[3]) for row in rows]

    def reversed_so_far(self, movement_id: int) -> Decimal:
        """Points of the movement already undone by its reversals."""
        value = self.conn.execute(
            select(type_coerce(func.coalesce(func.sum(movements.c.amount), 0), POINTS)).where(
                movements.c.reverses_id == movement_id
            )
        ).scalar_one()
        return abs(Decimal(value))

    def _release_hold(self, hold_id: int, card_id: int, amount: Decimal, status: HoldStatus) -> None:
        self._change_lots(self._hold_picks(hold_id), held=-1)
        self._change_totals(card_id, held=-amount)
        self._resolve_hold(hold_id, status)

    def _release_expired_holds_locked(self, card_id: int) -> Decimal:
        expired = self.conn.execute(
            select(holds.c.id, holds.c.amount).where(
                holds.c.card_id == card_id,
                holds.c.status == HoldStatus.PENDING,
                holds.c.expires_at <= self.now,
            )
        ).all()
        for hold_id, amount in expired:
            self._release_hold(hold_id, card_id, amount, HoldStatus.EXPIRED)
        return sum((amount for _, amount in expired), ZERO)

    def _resolve_hold(
        self,
        hold_id: int,
        status: HoldStatus,
        *,
        captured: Decimal = ZERO,
        movement_id: int | None = None,
    ) -> None:
        self.conn.execute(
            holds.update()
            .where(holds.c.id == hold_id)
            .values(status=status, captured=captured, resolved_at=self.now, capture_movement_id=movement_id)
        )

    def _read_hold(self, hold_id: int, *, replayed: bool = False) -> HoldRecord:
        row = self.conn.execute(select(holds).where(holds.c.id == hold_id)).one()
        return hold_record(row, replayed=replayed)

    # ------------------------------------------------------------------ replays

    def _movement_rows(self, operation_id: int) -> list[MovementRecord]:
        rows = self.conn.execute(
            select(movements).where(movements.c.operation_id == operation_id).order_by(movements.c.id)
        ).all()
        return [
            MovementRecord(
                id=row.id,
                card_id=row.card_id,
                kind=row.kind,
                amount=row.amount,
                origin=row.origin,
                external_id=row.external_id,
                document=row.document,
                actor=row.actor,
                reason=row.reason,
                occurred_at=row.occurred_at,
                available_from=row.available_from,
                expires_at=row.expires_at,
                reverses_id=row.reverses_id,
                counterpart_card_id=row.counterpart_card_id,
                replayed=True,
            )
            for row in rows
        ]

    def _replayed_movement(self, operation_id: int) -> MovementRecord:
        return self._movement_rows(operation_id)[0]

    def replay_movement(self, operation_id: int) -> MovementRecord:
        """The movement an earlier operation wrote, marked as replayed (used by the fast path)."""
        return self._replayed_movement(operation_id)

    def _replayed_optional_movement(self, operation_id: int) -> MovementRecord | None:
        found = self._movement_rows(operation_id)
        return found[0] if found else None

    def _replayed_transfer(self, operation_id: int) -> TransferRecord | None:
        found = self._movement_rows(operation_id)
        if not found:
            return None
        outgoing, incoming = found
        return TransferRecord(outgoing, incoming, replayed=True)

    def _replayed_hold(self, operation_id: int) -> HoldRecord:
        """A repeated ``hold`` returns the hold as first created (pending), whatever became of it
        since; a repeated ``void`` returns it voided, as the void left it."""
        row = self.conn.execute(
            select(operations.c.hold_id, holds.c.id)
            .select_from(operations.outerjoin(holds, holds.c.operation_id == operations.c.id))
            .where(operations.c.id == operation_id)
        ).one()
        voided_hold, created_hold = row
        if voided_hold is not None:
            return self._read_hold(voided_hold, replayed=True)
        current = self._read_hold(created_hold, replayed=True)
        return replace(current, status=HoldStatus.PENDING, captured=ZERO, capture_movement_id=None)


def hold_record(row: Any, *, replayed: bool = False) -> HoldRecord:
    """A ``holds`` row as a record, with its stored status (``HoldRecord.read_at`` for a reader's)."""
    return HoldRecord(
        id=row.id,
        card_id=row.card_id,
        amount=row.amount,
        captured=row.captured,
        status=row.status,
        document=row.document,
        expires_at=row.expires_at,
        capture_movement_id=row.capture_movement_id,
        replayed=replayed,
    )


def _free() -> Any:
    return type_coerce(lots.c.remaining - lots.c.held, POINTS)


def _take(picks: list[LotPart], amount: Decimal) -> list[LotPart]:
    """The first picks covering ``amount``, the last one cut to fit."""
    taken: list[LotPart] = []
    left = amount
    for pick in picks:
        if left <= 0:
            break
        part = min(pick.amount, left)
        taken.append(LotPart(pick.lot_id, part, pick.available_from, pick.expires_at))
        left -= part
    return taken


def _skip(picks: list[LotPart], amount: Decimal) -> list[LotPart]:
    """The picks that remain after the first ``amount`` points (already restored by earlier reversals)."""
    rest: list[LotPart] = []
    left = amount
    for pick in picks:
        if left >= pick.amount:
            left -= pick.amount
            continue
        rest.append(LotPart(pick.lot_id, pick.amount - left, pick.available_from, pick.expires_at))
        left = ZERO
    return rest
