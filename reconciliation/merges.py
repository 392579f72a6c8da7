"""Duplicate cards merged by staff, undone by staff, and the merge log every path writes.

One engine: ``bonusbridge.services.cards.merge_locked`` moves the points (one ledger transfer per
absorbed card, each lot keeping its expiry date), blocks the absorbed cards, moves the primary flag
and records the decision (``CardMerge`` + ``CardMergeItem``, with each card's state before). The
cabinet's ``choose_primary`` (the customer, ``origin=website``) and ``merge_cards`` here (staff,
``origin=admin``) both go through it, so both are logged with actor and origin. Every row written
reaches 1C through the outbox triggers, like any hub change.

``unmerge`` restores the state before a merge, for staff mistakes:

- the points still on the primary card that came from an absorbed card go back to it, *the same
  lots*: each transfer-in lot the merge created on the primary card is moved back with its own
  ``available_from`` and ``expires_at`` (a transfer back through ``LedgerBook.transfer`` would take
  the primary card's earliest-expiring lots, whatever their origin, and lose the dates);
- each absorbed card gets back its status (recomputed from the profile if it was not blocked: the
  profile may have been completed since), ``status_reason``, ``merged_into_id``, primary flag, and
  owner (a card staff bound for the merge is unbound again); the primary card gets back its flag;
- **points already spent.** If the primary card spent (or moved on) points that came from an
  absorbed card, the unmerge is refused with ``MergedPointsSpent``, naming each card, what was
  moved and what is gone — nothing is written. Staff may then call again with
  ``allow_partial=True``: what is left goes back, and the result reports the shortfall per card
  (``UnmergeResult.cards[i].spent``). Points that merely *expired* on the primary card would have
  expired on the absorbed card too: they do not block an unmerge and are reported as ``expired``.
  Points of the merge reserved by a checkout in progress refuse the unmerge (``CardHasPendingHold``)
  until the checkout ends, as a merge does;
- idempotent by ``key``: the same key again returns the first result (``replayed=True``); another
  key for a merge already undone is ``AlreadyUnmerged``.

The transfer back is written with the ledger's own building blocks (a ``LedgerBook`` subclass, so
idempotency claim, card locks in id order, lot allocations and totals are the ledger's); it belongs
in ``bonusbridge.ledger`` as ``LedgerBook.transfer_lots`` and is kept here only until it moves.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, type_coerce
from sqlalchemy.orm import Session

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.ledger import accounts
from bonusbridge.ledger.book import LedgerBook, LotPart
from bonusbridge.ledger.intents import check_key, fingerprint
from bonusbridge.ledger.statements import POINTS, hold_allocations, holds, lot_allocations, lots, movements
from bonusbridge.models import (
    Card,
    CardClaim,
    CardMerge,
    CardMergeItem,
    CardStatus,
    Customer,
    FormUse,
    HoldStatus,
    LegacyCard,
    MovementKind,
    Origin,
    Program,
    ProgramMember,
    SmsMessage,
    SyncLink,
    utcnow,
)
from bonusbridge.privacy import mask_card_number, mask_name
from bonusbridge.services import queries
from bonusbridge.services.cards import (
    claim_operation,
    find_operation,
    lock_status,
    merge_locked,
    required_or_default,
)
from bonusbridge.settings import get_settings
from bonusbridge.unit_of_work import UnitOfWork, normalize_card_number
from reconciliation.legacy.guards import Person, refusals

ZERO = Decimal("0.00")
MERGE_CARDS = "merge_cards"
UNMERGE = "unmerge"
STAFF_ORIGIN = Origin.ADMIN


# --------------------------------------------------------------------------- errors


class MergeError(errors.BonusBridgeError):
    code = "merge_error"


class InvalidMergeRequest(MergeError):
    """Nothing to merge, the primary card among the absorbed ones, an empty reason."""

    code = "invalid_merge_request"


class NotSamePhone(MergeError):
    """Staff may bind an unowned card for a merge only when it carries the customer's phone."""

    code = "not_same_phone"

    def __init__(self, card_id: int, customer_id: int) -> None:
        super().__init__(
            f"card {card_id} has no owner and does not carry the phone of customer {customer_id}; "
            "bind it through support first"
        )
        self.card_id = card_id
        self.customer_id = customer_id


class UnknownMerge(MergeError):
    code = "unknown_merge"

    def __init__(self, merge_id: int) -> None:
        super().__init__(f"merge {merge_id} does not exist")
        self.merge_id = merge_id


class AlreadyUnmerged(MergeError):
    code = "already_unmerged"

    def __init__(self, merge_id: int, when: datetime | None, by: str | None) -> None:
        at = when.isoformat() if when is not None else "earlier"
        super().__init__(f"merge {merge_id} was already undone ({at}, by {by or 'unknown'})")
        self.merge_id = merge_id


class PrimaryCardBlocked(MergeError):
    code = "primary_card_blocked"

    def __init__(self, merge_id: int, card_id: int) -> None:
        super().__init__(
            f"merge {merge_id}: its primary card {card_id} is blocked since (merged on, or blocked by "
            "support); undo that first"
        )
        self.merge_id = merge_id
        self.card_id = card_id


@dataclass(frozen=True)
class SpentPoints:
    card_id: int
    moved: Decimal
    spent: Decimal


class MergedPointsSpent(MergeError):
    """Points a merge moved to the primary card were spent since: an exact undo is impossible."""

    code = "merged_points_spent"

    def __init__(self, merge_id: int, spent: Sequence[SpentPoints]) -> None:
        parts = "; ".join(f"card {s.card_id}: {s.spent} of the {s.moved} moved" for s in spent)
        super().__init__(
            f"merge {merge_id} cannot be undone exactly: the primary card already spent points that "
            f"came from absorbed cards ({parts}). Unmerge with allow_partial to give back what is "
            "left, or correct the balances by adjustment"
        )
        self.merge_id = merge_id
        self.spent = tuple(spent)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class MergeResult:
    merge_id: int
    customer_id: int
    primary_card_id: int
    absorbed_card_ids: tuple[int, ...]
    points_moved: Decimal
    bound_card_ids: tuple[int, ...] = ()
    replayed: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class RestoredCard:
    card_id: int
    moved: Decimal  # what the merge moved from this card
    restored: Decimal  # what went back now
    spent: Decimal  # gone through spending (only with allow_partial)
    expired: Decimal  # expired meanwhile: would have expired on this card too


@dataclass(frozen=True)
class UnmergeResult:
    merge_id: int
    primary_card_id: int
    cards: tuple[RestoredCard, ...]
    points_restored: Decimal
    partial: bool  # some points could not be given back (spent)
    customer_removed: bool = False  # the customer the merge created was deleted (nothing used it)
    replayed: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class MergeLogCard:
    card_id: int
    number_masked: str
    points_moved: Decimal
    points_restored: Decimal | None


@dataclass(frozen=True)
class MergeLogEntry:
    """One line of the staff merge log. Personal data is masked."""

    id: int
    customer_id: int | None  # None: the customer the merge created was removed by its unmerge
    customer_masked: str
    primary_card_id: int
    primary_card_masked: str
    absorbed: tuple[MergeLogCard, ...]
    points_moved: Decimal
    actor: str  # "customer" when the customer chose in the cabinet
    origin: str
    reason: str | None
    decided_at: datetime
    unmerged: bool
    unmerged_at: datetime | None
    unmerged_by: str | None
    unmerge_reason: str | None


# --------------------------------------------------------------------------- merge (staff)


def merge_cards(
    uow: UnitOfWork,
    customer_id: int,
    primary_card_id: int,
    absorbed_card_ids: Sequence[int],
    *,
    actor: Actor,
    reason: str,
    key: str,
) -> MergeResult:
    """Staff merge a duplicate group into ``primary_card_id``: only the cards named are absorbed.

    A named card with no owner that carries the customer's phone (a legacy duplicate) is bound to
    the customer first (an unmerge unbinds it again); one with no owner and another phone is
    refused (``NotSamePhone``), one of another customer too (``CardOfAnotherCustomer``). Needs the
    merge permission and a reason. Idempotent per key (origin ``admin``). The caller commits.
    Other refusals: ``InvalidMergeRequest``, ``UnknownCustomer``, ``UnknownCard``, ``CardBlocked``
    (a blocked card named), ``CardHasPendingHold``, ``IdempotencyConflict``, ``InvalidKey``.
    """
    check_key(key)
    if not actor.may(Permission.MERGE):
        raise errors.PermissionDenied(f"{actor.name} may not merge cards")
    note = reason.strip() if isinstance(reason, str) else ""
    if not note:
        raise errors.MissingReason("a staff merge needs a reason")
    absorbed_ids = sorted(set(absorbed_card_ids))
    if not absorbed_ids:
        raise InvalidMergeRequest("name at least one card to merge into the primary card")
    if primary_card_id in absorbed_ids:
        raise InvalidMergeRequest(f"card {primary_card_id} cannot be merged into itself")
    for card_id in absorbed_ids:
        check_key(f"{key}/merge/{card_id}")
    digest = fingerprint(
        MERGE_CARDS,
        {
            "customer_id": customer_id,
            "card_id": primary_card_id,
            "absorbed": absorbed_ids,
            "actor": actor.name,
            "reason": note,
        },
    )
    session = uow.session
    earlier = find_operation(session, STAFF_ORIGIN, key)
    if earlier is not None:
        return _replay_merge(session, earlier, digest, key)

    customer = queries.lock_customer(session, customer_id)
    if customer is None:
        raise errors.UnknownCustomer(customer_id)
    bound: list[int] = []
    primary_before: tuple[CardStatus, str | None] | None = None
    for card_id in sorted({primary_card_id, *absorbed_ids}):
        card = queries.lock_card(session, card_id)
        if card is None:
            raise errors.UnknownCard(card_id)
        if card_id == primary_card_id:
            primary_before = (card.status, card.status_reason)
        if card.customer_id is None:
            if not card.phone_e164 or card.phone_e164 != customer.phone_e164:
                raise NotSamePhone(card_id, customer_id)
            if card.status is CardStatus.BLOCKED:
                raise errors.CardBlocked(card_id)
            bound.append(card_id)
        elif card.customer_id != customer_id:
            raise errors.CardOfAnotherCustomer(card_id, customer_id)
        elif card.status is CardStatus.BLOCKED:
            raise errors.CardBlocked(card_id)
    queries.lock_balances(session, [primary_card_id, *absorbed_ids])
    held = queries.live_holds(session, absorbed_ids, now=uow.clock())
    if held:
        raise errors.CardHasPendingHold(held[0].card_id, held[0].amount, held[0].until)

    if not claim_operation(uow, STAFF_ORIGIN, key, digest, actor.name, kind=MERGE_CARDS):
        earlier = find_operation(session, STAFF_ORIGIN, key)
        assert earlier is not None
        return _replay_merge(session, earlier, digest, key)

    # Bind the unowned duplicates (one write per card, credited to staff) before the merge locks
    # and writes the customer's cards.
    for card_id in bound:
        card = session.get(Card, card_id)
        assert card is not None
        card.customer_id = customer_id
        card.changed_by = STAFF_ORIGIN
    session.flush()
    cards = queries.lock_cards_of_customer(session, customer_id)
    by_id = {card.id: card for card in cards}
    chosen = by_id[primary_card_id]
    absorbed = [by_id[card_id] for card_id in absorbed_ids]
    record = merge_locked(
        uow,
        customer_id,
        chosen,
        absorbed,
        cards,
        key=key,
        origin=STAFF_ORIGIN,
        actor=actor.name,
        note=note,
        bound_for_merge=bound,
    )
    assert record is not None  # the merge engine settled the spending lock of the cards left usable
    assert primary_before is not None
    # What an unmerge gives back to a primary card it unbinds (an owned one follows its owner).
    record.primary_status_before = primary_before[0].value
    record.primary_status_reason_before = primary_before[1]
    session.flush()
    return MergeResult(
        record.id, customer_id, primary_card_id, tuple(absorbed_ids), record.points_moved, tuple(bound)
    )


def _replay_merge(session: Session, earlier: tuple[str, ...], digest: str, key: str) -> MergeResult:
    kind, first_digest = earlier
    if kind != MERGE_CARDS or first_digest != digest:
        raise errors.IdempotencyConflict(key, kind)
    record = session.scalars(
        select(CardMerge).where(CardMerge.origin == STAFF_ORIGIN, CardMerge.key == key)
    ).one()
    items = _items(session, record.id)
    return MergeResult(
        record.id,
        record.customer_id or 0,  # 0: the customer it created was removed by an unmerge since
        record.primary_card_id,
        tuple(item.card_id for item in items),
        record.points_moved,
        tuple(item.card_id for item in items if item.customer_before is None),
        replayed=True,
    )


def _items(session: Session, merge_id: int) -> list[CardMergeItem]:
    return list(
        session.scalars(
            select(CardMergeItem).where(CardMergeItem.merge_id == merge_id).order_by(CardMergeItem.card_id)
        )
    )


# --------------------------------------------------------------------------- unmerge


@dataclass
class _Plan:
    item: CardMergeItem
    parts: list[LotPart]
    restorable: Decimal
    spent: Decimal
    expired: Decimal
    held: Decimal


def unmerge(
    uow: UnitOfWork,
    merge_id: int,
    *,
    actor: str,
    reason: str,
    key: str,
    allow_partial: bool = False,
) -> UnmergeResult:
    """Undo merge ``merge_id``: see the module's docstring. The caller commits.

    Refusals (nothing written): ``InvalidKey``, ``MissingReason``, ``UnknownMerge``,
    ``AlreadyUnmerged`` (undone before with another key), ``IdempotencyConflict`` (the key was used
    for something else), ``PrimaryCardBlocked``, ``CardHasPendingHold``, ``MergedPointsSpent``
    (unless ``allow_partial``).
    """
    check_key(key)
    note = reason.strip() if isinstance(reason, str) else ""
    if not note:
        raise errors.MissingReason("an unmerge needs a reason")
    if not isinstance(actor, str) or not actor.strip():
        raise errors.PermissionDenied("an unmerge needs the name of the staff member doing it")
    session = uow.session
    record = session.scalars(
        select(CardMerge)
        .where(CardMerge.id == merge_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if record is None:
        raise UnknownMerge(merge_id)
    digest = fingerprint(UNMERGE, {"merge_id": merge_id, "actor": actor, "reason": note})
    if record.unmerged_at is not None:
        if record.unmerge_key == key:
            earlier = find_operation(session, STAFF_ORIGIN, key)
            if earlier is not None and earlier != (UNMERGE, digest):
                raise errors.IdempotencyConflict(key, earlier[0])
            return _result(record, _items(session, merge_id), replayed=True)
        raise AlreadyUnmerged(merge_id, record.unmerged_at, record.unmerged_by)
    earlier = find_operation(session, STAFF_ORIGIN, key)
    if earlier is not None:
        raise errors.IdempotencyConflict(key, earlier[0])
    for_transfer = [f"{key}/unmerge/{item.card_id}" for item in _items(session, merge_id)]
    for transfer_key in for_transfer:
        check_key(transfer_key)

    customer = queries.lock_customer(session, record.customer_id) if record.customer_id is not None else None
    items = _items(session, merge_id)
    card_ids = sorted({record.primary_card_id, *(item.card_id for item in items)})
    cards: dict[int, Card] = {}
    for card_id in card_ids:
        card = queries.lock_card(session, card_id)
        assert card is not None
        cards[card_id] = card
    primary = cards[record.primary_card_id]
    if primary.status is CardStatus.BLOCKED:
        raise PrimaryCardBlocked(merge_id, primary.id)
    # The card whose balance took the merged points: the primary card, or in ut11 the account card
    # of the partner it belongs to (``ledger.accounts``).
    holder = accounts.account_card(session.connection(), record.primary_card_id)
    queries.lock_balances(session, sorted({*card_ids, holder}))
    book = LedgerBook(session.connection(), now=uow.clock(), hold_ttl=uow.hold_ttl)
    plans = [_plan(session, book.now, holder, item) for item in items]
    held = sum((plan.held for plan in plans), ZERO)
    if held > 0:
        live = queries.live_holds(session, [holder], now=uow.clock())
        until = live[0].until if live else uow.clock()
        raise errors.CardHasPendingHold(primary.id, held, until)
    spent = [SpentPoints(p.item.card_id, p.item.points_moved, p.spent) for p in plans if p.spent > 0]
    if spent and not allow_partial:
        raise MergedPointsSpent(merge_id, spent)
    if not claim_operation(uow, STAFF_ORIGIN, key, digest, actor, kind=UNMERGE):
        raise AlreadyUnmerged(merge_id, None, None)  # a concurrent unmerge with this key won
    # Holds past their time to live still mark lots as held until released: release them now
    # (after every refusal, so a refused unmerge writes nothing), as the ledger would on a debit.
    book.release_expired_holds(holder)

    # The cards first (the ledger refuses a blocked card), primary flag handed back in an order the
    # unique index on (customer_id) WHERE is_primary accepts: the flag is cleared before it is set.
    required = required_or_default(None)
    if (not record.primary_was_primary or record.primary_bound_for_merge) and primary.is_primary:
        primary.is_primary = False
        primary.changed_by = STAFF_ORIGIN
    if record.primary_bound_for_merge:
        primary.customer_id = None  # staff bound it for the merge
        primary.changed_by = STAFF_ORIGIN
        if record.primary_status_before is not None:
            # Nobody owns it again: it gets back the status it had (``lock_status`` keeps an
            # unowned card's status), not the one the merge's owner called for.
            primary.status = CardStatus(record.primary_status_before)
            primary.status_reason = record.primary_status_reason_before
    primary.status, primary.status_reason = lock_status(
        primary, customer if primary.customer_id is not None else None, required
    )
    session.flush()
    for item in items:
        card = cards[item.card_id]
        card.status = item.status_before
        card.status_reason = item.status_reason_before
        # The lock follows the profile as it is now (it may have been completed since the merge).
        owner = customer if item.customer_before is not None else None
        card.status, card.status_reason = lock_status(card, owner, required)
        card.merged_into_id = item.merged_into_before
        card.customer_id = item.customer_before
        card.is_primary = item.was_primary and item.customer_before is not None
        card.changed_by = STAFF_ORIGIN
    previous = record.previous_primary_card_id
    if previous is not None and previous not in cards:
        other = queries.lock_card(session, previous)
        if other is not None and other.customer_id == record.customer_id and not other.is_primary:
            other.is_primary = True  # a primary card that was blocked before the merge
            other.changed_by = STAFF_ORIGIN
    session.flush()
    for card_id in card_ids:  # ut11: a card unbound again leaves the partner's account
        accounts.follow_owner(book, card_id)

    restored_total = ZERO
    for plan in plans:
        item = plan.item
        book.transfer_lots(
            holder,
            item.card_id,
            plan.parts,
            key=f"{key}/unmerge/{item.card_id}",
            origin=STAFF_ORIGIN,
            actor=actor,
            reason=f"unmerge of merge {merge_id}: {note}",
        )
        item.points_restored = plan.restorable
        restored_total += plan.restorable
    record.unmerged_at = uow.clock()
    record.unmerged_by = actor
    record.unmerge_reason = note
    record.unmerge_key = key
    session.flush()
    removed = _remove_created_customer(session, record)
    return _result(record, items, replayed=False, plans=plans, customer_removed=removed)


def _remove_created_customer(session: Session, record: CardMerge) -> bool:
    """Delete the customer ``record``'s merge created (the import's auto-merge) when nothing else
    uses it: no card, no other merge, no membership, SMS, card claim or form, not verified, and not
    known to 1C (a partner 1C already has is never deleted from the hub's side). True if deleted."""
    if not record.customer_created or record.customer_id is None:
        return False
    customer_id = record.customer_id
    customer = session.get(Customer, customer_id)
    if customer is None:
        return False
    if customer.phone_verified_at is not None or customer.onec_ref is not None:
        return False
    users = (
        select(Card.id).where(Card.customer_id == customer_id),
        select(CardMerge.id).where(CardMerge.customer_id == customer_id, CardMerge.id != record.id),
        select(ProgramMember.customer_id).where(ProgramMember.customer_id == customer_id),
        select(SmsMessage.id).where(SmsMessage.customer_id == customer_id),
        select(CardClaim.id).where(CardClaim.customer_id == customer_id),
        select(FormUse.form_key).where(FormUse.customer_id == customer_id),
        select(SyncLink.id).where(SyncLink.kind == "customer", SyncLink.entity_id == customer_id),
    )
    if any(session.execute(query.limit(1)).first() is not None for query in users):
        return False
    record.customer_id = None
    session.flush()
    session.delete(customer)
    session.flush()
    return True


def _plan(session: Session, now: datetime, primary_id: int, item: CardMergeItem) -> _Plan:
    """What of the points ``item``'s card gave is still on the primary card, in which lots."""
    if item.transfer_operation_id is None:
        return _Plan(item, [], ZERO, ZERO, ZERO, ZERO)
    incoming = session.execute(
        select(movements.c.id).where(
            movements.c.operation_id == item.transfer_operation_id,
            movements.c.card_id == primary_id,
            movements.c.kind == MovementKind.TRANSFER_IN,
        )
    ).scalar_one()
    rows = session.execute(
        select(
            lots.c.id,
            lots.c.amount,
            lots.c.remaining,
            lots.c.held,
            lots.c.available_from,
            lots.c.expires_at,
        )
        .where(lots.c.movement_id == incoming, lots.c.card_id == primary_id)
        .order_by(lots.c.id)
    ).all()
    lot_ids = [row.id for row in rows]
    written_off = ZERO
    if lot_ids:
        written_off = Decimal(
            session.execute(
                select(type_coerce(func.coalesce(func.sum(lot_allocations.c.amount), 0), POINTS))
                .join(movements, movements.c.id == lot_allocations.c.movement_id)
                .where(lot_allocations.c.lot_id.in_(lot_ids), movements.c.kind == MovementKind.EXPIRY)
            ).scalar_one()
        )
    # Reserved by a checkout still in force (holds past their TTL are released before moving).
    live_held: dict[int, Decimal] = {}
    if lot_ids:
        live_held = {
            lot_id: Decimal(amount)
            for lot_id, amount in session.execute(
                select(hold_allocations.c.lot_id, type_coerce(func.sum(hold_allocations.c.amount), POINTS))
                .join(holds, holds.c.id == hold_allocations.c.hold_id)
                .where(
                    hold_allocations.c.lot_id.in_(lot_ids),
                    holds.c.status == HoldStatus.PENDING,
                    holds.c.expires_at > now,
                )
                .group_by(hold_allocations.c.lot_id)
            )
        }
    parts: list[LotPart] = []
    expired = written_off
    held = ZERO
    consumed = ZERO
    for row in rows:
        consumed += row.amount - row.remaining
        reserved = live_held.get(row.id, ZERO)
        held += reserved
        free = row.remaining - reserved
        if free <= 0:
            continue
        if row.expires_at is not None and row.expires_at <= now:
            expired += free
            continue
        parts.append(LotPart(row.id, free, row.available_from, row.expires_at))
    restorable = sum((part.amount for part in parts), ZERO)
    spent = consumed - written_off
    return _Plan(item, parts, restorable, spent, expired, held)


def _result(
    record: CardMerge,
    items: Sequence[CardMergeItem],
    *,
    replayed: bool,
    plans: Sequence[_Plan] = (),
    customer_removed: bool = False,
) -> UnmergeResult:
    by_card = {plan.item.card_id: plan for plan in plans}
    cards = []
    for item in items:
        restored = item.points_restored or ZERO
        plan = by_card.get(item.card_id)
        expired = plan.expired if plan is not None else ZERO
        spent = plan.spent if plan is not None else max(item.points_moved - restored - expired, ZERO)
        cards.append(RestoredCard(item.card_id, item.points_moved, restored, spent, expired))
    total = sum((card.restored for card in cards), ZERO)
    partial = any(card.spent > 0 for card in cards)
    removed = customer_removed or (record.customer_created and record.customer_id is None)
    return UnmergeResult(
        record.id, record.primary_card_id, tuple(cards), total, partial, removed, replayed=replayed
    )


# --------------------------------------------------------------------------- the merge log


def list_merges(session: Session, *, limit: int = 100, offset: int = 0) -> list[MergeLogEntry]:
    """The merge log, newest first: every merge of every path, undone ones included."""
    limit = max(1, min(int(limit), 1000))
    offset = max(0, int(offset))
    records = list(
        session.scalars(
            select(CardMerge)
            .order_by(CardMerge.decided_at.desc(), CardMerge.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    if not records:
        return []
    merge_ids = [record.id for record in records]
    items: dict[int, list[CardMergeItem]] = {merge_id: [] for merge_id in merge_ids}
    for item in session.scalars(
        select(CardMergeItem).where(CardMergeItem.merge_id.in_(merge_ids)).order_by(CardMergeItem.card_id)
    ):
        items[item.merge_id].append(item)
    card_ids = {record.primary_card_id for record in records} | {
        item.card_id for group in items.values() for item in group
    }
    numbers: dict[int, str] = {
        row.id: row.number
        for row in session.execute(select(Card.id, Card.number).where(Card.id.in_(card_ids)))
    }
    customer_ids = {record.customer_id for record in records if record.customer_id is not None}
    names: dict[int, Any] = {
        row.id: row
        for row in session.execute(
            select(Customer.id, Customer.last_name, Customer.first_name).where(Customer.id.in_(customer_ids))
        )
    }
    entries = []
    for record in records:
        person = names.get(record.customer_id) if record.customer_id is not None else None
        masked = (
            " ".join(mask_name(part) for part in (person.last_name, person.first_name) if part)
            if person is not None
            else ""
        ) or "-"
        entries.append(
            MergeLogEntry(
                id=record.id,
                customer_id=record.customer_id,
                customer_masked=masked,
                primary_card_id=record.primary_card_id,
                primary_card_masked=mask_card_number(numbers.get(record.primary_card_id)),
                absorbed=tuple(
                    MergeLogCard(
                        item.card_id,
                        mask_card_number(numbers.get(item.card_id)),
                        item.points_moved,
                        item.points_restored,
                    )
                    for item in items[record.id]
                ),
                points_moved=record.points_moved,
                actor=record.actor or "customer",
                origin=record.origin.value,
                reason=record.reason,
                decided_at=record.decided_at,
                unmerged=record.unmerged_at is not None,
                unmerged_at=record.unmerged_at,
                unmerged_by=record.unmerged_by,
                unmerge_reason=record.unmerge_reason,
            )
        )
    return entries


# --------------------------------------------------------------------------- auto-merge (legacy import)


@dataclass(frozen=True)
class AutoMergeOutcome:
    group: str  # the plan's group id (report.csv: P1, P2, …)
    merge_id: int | None
    customer_id: int | None
    primary_card_id: int | None
    absorbed_card_ids: tuple[int, ...]
    points_moved: Decimal
    skipped: str | None  # why not merged (the customer then chooses in the cabinet)
    replayed: bool = False
    #: Not merged because strangers may share the group (``reconciliation.legacy.guards``): a
    #: suggestion for staff, ``skipped`` says why.
    suggestion: bool = False


def auto_merge_groups(
    engine: Engine,
    groups: Mapping[str, Sequence[tuple[str, ...]]],
    *,
    actor: Actor,
    reason: str,
    key_prefix: str,
    clock: Callable[[], datetime] = utcnow,
    limit: int | None = None,
) -> list[AutoMergeOutcome]:
    """Merge imported duplicate groups (cards sharing a phone) without waiting for the customer.

    ``groups``: group id → the group's cards as (program code, card number, other candidate
    numbers…). One transaction per
    group, key ``<key_prefix>:<group>`` (a re-run replays). For each group:

    - only cards nobody owns yet are merged; a group with a card bound to a customer, or whose phone
      a customer has already verified, is skipped: that customer chooses in the cabinet;
    - the customer is the oldest unverified one with the phone (the one the cabinet will verify at
      login), else a new unverified customer prefilled from the legacy owner data, credited to the
      migration;
    - the primary card: the card of the current (non-legacy) bonus program if there is one, else the
      one with most points, ties to the oldest card;
    - everything else is ``merge_cards`` (staff origin, ``actor`` and ``reason`` logged), so the
      merge log shows it and staff can unmerge it.

    Never merged, whatever staff chose, and returned as a suggestion for staff with the reasons
    (``suggestion=True``): a group whose phone is not a mobile number, a group of more than
    ``limit`` cards (default ``BONUSBRIDGE_AUTO_MERGE_MAX_GROUP``), and a group whose cards name
    different people or carry different birth dates (``reconciliation.legacy.guards``).
    """
    if limit is None:
        limit = get_settings().auto_merge_max_group
    outcomes = []
    for group, members in groups.items():
        key = f"{key_prefix}:{group}"
        with UnitOfWork(engine, clock=clock) as uow:
            outcome = _auto_merge_one(uow, group, members, actor=actor, reason=reason, key=key, limit=limit)
            if outcome.merge_id is not None and not outcome.replayed:
                uow.commit()
        outcomes.append(outcome)
    return outcomes


def _auto_merge_one(
    uow: UnitOfWork,
    group: str,
    members: Sequence[tuple[str, ...]],
    *,
    actor: Actor,
    reason: str,
    key: str,
    limit: int,
) -> AutoMergeOutcome:
    session = uow.session

    def skip(why: str) -> AutoMergeOutcome:
        return AutoMergeOutcome(group, None, None, None, (), ZERO, why)

    done = session.scalars(
        select(CardMerge).where(CardMerge.origin == STAFF_ORIGIN, CardMerge.key == key)
    ).first()
    if done is not None:
        items = _items(session, done.id)
        return AutoMergeOutcome(
            group,
            done.id,
            done.customer_id,
            done.primary_card_id,
            tuple(item.card_id for item in items),
            done.points_moved,
            None,
            replayed=True,
        )
    found: list[tuple[Card, bool]] = []
    for code, *numbers in members:
        row = session.execute(
            select(Card, Program.is_legacy)
            .join(Program, Program.id == Card.program_id)
            .where(Program.code == code, Card.number.in_([normalize_card_number(n) for n in numbers]))
            .order_by(Card.id)
        ).first()
        if row is not None:
            found.append((row[0], bool(row[1])))
    if len(found) < 2:
        return skip("fewer than two of its cards are in the hub")
    if any(card.customer_id is not None for card, _ in found):
        return skip("a card of the group is already bound to a customer")
    usable = [(card, legacy) for card, legacy in found if card.status is not CardStatus.BLOCKED]
    if len(usable) < 2:
        return skip("fewer than two of its cards are usable (not blocked)")
    phones = {card.phone_e164 for card, _ in usable}
    if len(phones) != 1 or None in phones:
        return skip("its cards do not share one valid phone")
    [phone] = phones
    assert phone is not None
    if uow.customers.by_verified_phone(phone) is not None:
        return skip("a customer verified this phone: they choose in the cabinet")
    people = {
        row.card_id: Person(row.last_name, row.first_name, row.middle_name, row.birth_date)
        for row in session.scalars(
            select(LegacyCard).where(LegacyCard.card_id.in_([card.id for card, _ in found]))
        )
    }
    refused = refusals(phone, [people.get(card.id, Person()) for card, _ in found], limit=limit)
    if refused:
        return AutoMergeOutcome(
            group, None, None, None, (), ZERO, "left to staff: " + "; ".join(refused), suggestion=True
        )
    totals = uow.ledger.balances([card.id for card, _ in usable])
    ranked = sorted(usable, key=lambda pair: (pair[1], -totals[pair[0].id].total, pair[0].id))
    primary = ranked[0][0]
    absorbed = [card.id for card, _ in ranked[1:]]
    customer = session.scalars(
        select(Customer).where(Customer.phone_e164 == phone).order_by(Customer.id).limit(1)
    ).first()
    created = customer is None
    if customer is None:
        legacy = session.scalars(
            select(LegacyCard)
            .where(LegacyCard.card_id.in_([card.id for card, _ in ranked]), LegacyCard.last_name.is_not(None))
            .order_by(LegacyCard.card_id)
        ).first()
        customer = Customer(phone_e164=phone, changed_by=Origin.MIGRATION)
        if legacy is not None:
            customer.last_name = legacy.last_name
            customer.first_name = legacy.first_name
            customer.middle_name = legacy.middle_name
            customer.birth_date = legacy.birth_date
            customer.email = legacy.email
        uow.customers.add(customer)
    result = merge_cards(uow, customer.id, primary.id, absorbed, actor=actor, reason=reason, key=key)
    if created and not result.replayed:
        record = session.get(CardMerge, result.merge_id)
        assert record is not None
        record.customer_created = True  # an unmerge removes it again when nothing else uses it
        session.flush()
    return AutoMergeOutcome(
        group,
        result.merge_id,
        customer.id,
        primary.id,
        result.absorbed_card_ids,
        result.points_moved,
        None,
        replayed=result.replayed,
    )


def phone_groups_of_plan(plan_dir: Path) -> dict[str, list[tuple[str, ...]]]:
    """The plan's phone groups as listed in its ``report.csv``: group id → (program, card number)
    per card, the hub's cards in the group included (the planner compares with them)."""
    groups: dict[str, list[tuple[str, ...]]] = {}
    with (plan_dir / "report.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("kind") == "phone_group" and row.get("card_number"):
                groups.setdefault(row["group"], []).append((row["program"], row["card_number"]))
    return groups


def select_groups(
    groups: Mapping[str, Sequence[tuple[str, ...]]], choices: Sequence[str]
) -> dict[str, list[tuple[str, ...]]]:
    """The groups staff chose: ``program=<code>`` (every group with a card of that program) or
    ``group=<id>`` (one group, as numbered in the plan's report). An unknown choice is refused."""
    chosen: dict[str, list[tuple[str, ...]]] = {}
    for choice in choices:
        kind, _, value = choice.partition("=")
        value = value.strip()
        if kind == "program" and value:
            matched = {g: list(m) for g, m in groups.items() if any(card[0] == value for card in m)}
            if not matched:
                raise InvalidMergeRequest(
                    f"--auto-merge {choice}: no duplicate group has a card of {value!r}"
                )
            chosen.update(matched)
        elif kind == "group" and value:
            if value not in groups:
                raise InvalidMergeRequest(f"--auto-merge {choice}: the plan has no phone group {value!r}")
            chosen[value] = list(groups[value])
        else:
            raise InvalidMergeRequest(f"--auto-merge {choice!r}: expected program=<code> or group=<id>")
    return chosen
