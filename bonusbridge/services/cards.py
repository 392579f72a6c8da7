"""A customer's cards: binding one, choosing the primary card (merging the others into it), the
spending status that follows the profile, and blocking.

Why a service and not code in each caller: the cabinet, staff screens and the 1C sync all do these
things, and each one changes several rows that must stay in agreement (a merge moves points, blocks
cards and moves the primary flag; a profile edit flips card statuses). The rules live here once, on
a unit of work the caller commits.

Conventions, as in every service of this package:

- functions take a ``UnitOfWork`` and never commit: the caller commits, or leaves the block and
  everything is rolled back;
- every refusal is one typed error from ``bonusbridge.errors``, raised *before* anything is written,
  so even a caller that catches it and commits has changed nothing;
- every customer or card row written gets ``changed_by`` = the origin of the change, and rows that
  would not change are not written at all: the database triggers queue one ``sync_outbox`` message
  per written row (none for ``Origin.ONEC``), and an unchanged row must not make noise towards 1C;
- rows are locked before they are read for a decision (see ``queries``), so concurrent calls
  serialize instead of overwriting each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select, type_coerce
from sqlalchemy.orm import Session

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.ledger import accounts
from bonusbridge.ledger import statements as sql
from bonusbridge.ledger.intents import check_key, fingerprint
from bonusbridge.ledger.statements import POINTS, movements, operations
from bonusbridge.models import Card, CardMerge, CardMergeItem, CardStatus, Customer, Origin
from bonusbridge.services import queries
from bonusbridge.settings import get_settings
from bonusbridge.unit_of_work import UnitOfWork

ZERO = Decimal("0.00")
CHOOSE_PRIMARY = "choose_primary"  # the kind of its idempotency record in ledger_operations


@dataclass(frozen=True)
class PrimaryChoice:
    """What ``choose_primary`` did: the primary card, the cards merged into it, the points moved.

    ``replayed`` says the key had been used before and nothing was done now; like the ledger's
    records, it is left out of equality, so a replay compares equal to the first result.
    """

    customer_id: int
    primary_card_id: int
    merged_card_ids: tuple[int, ...]
    points_moved: Decimal
    replayed: bool = field(default=False, compare=False)


# --------------------------------------------------------------------------- the spending lock
#
# The lock is a derived invariant: a card's ``active`` / ``accumulation_only`` status is never set
# by hand, it follows from the card and its owner's profile through ``lock_status`` and nothing
# else, and every event that changes one of its inputs settles it again through
# ``settle_card_status`` (one card) or ``refresh_spending_status`` (a customer's cards):
#
# - the owner's profile: a save in the cabinet, a staff edit, 1C's partner update
#   (``profiles.update_profile``, ``connectors.sync.inbound.apply_customer``);
# - the owner: a binding (``bind_card``), a merge and an unmerge (``merge_locked``,
#   ``reconciliation.merges``), 1C's card update and the initial load (``apply_card``), a verified
#   phone at login (``cabinet.customer_for_verified_phone``), the demo seeds;
# - the rule itself, ``BONUSBRIDGE_PROFILE_REQUIRED_FIELDS``: ``recheck_all_cards``
#   (``bonusbridge cards recheck``, and Celery beat every night).


def spending_status(customer: Customer, required_fields: Sequence[str]) -> tuple[CardStatus, str | None]:
    """The status an owned, usable card of ``customer`` has, and why: spending waits for the profile.

    The profile half of ``lock_status``; ask ``lock_status`` about a card."""
    missing = customer.missing_fields(list(required_fields))
    if not missing:
        return CardStatus.ACTIVE, None
    return CardStatus.ACCUMULATION_ONLY, "profile incomplete, missing: " + ", ".join(missing)


def lock_status(
    card: Card, owner: Customer | None, required_fields: Sequence[str]
) -> tuple[CardStatus, str | None]:
    """The one rule: the status (and its reason) ``card`` must have, given its owner's profile.

    A blocked card stays blocked, and a card nobody owns keeps the status it has (its program's;
    binding it decides). An owned card is ``active`` when the owner's profile has every required
    field, else ``accumulation_only`` with ``status_reason`` naming the missing fields."""
    if card.status is CardStatus.BLOCKED or owner is None:
        return card.status, card.status_reason
    return spending_status(owner, required_fields)


def status_change_origin(origin: Origin) -> Origin:
    """Whom to credit with a card status the hub's rule derived from a change made by ``origin``.

    The rule is the hub's: when 1C's edit of a profile completes it, the card's new status is a
    change 1C has not made and must learn (its tills refuse spending on accumulation-only cards).
    Credited to 1C it would never be sent, so it is credited to the system instead.
    """
    return Origin.SYSTEM if origin is Origin.ONEC else origin


def settle_card_status(
    card: Card, owner: Customer | None, *, required_fields: Sequence[str], origin: Origin
) -> bool:
    """Give ``card`` the status ``lock_status`` calls for; True when the card changed.

    Only sets attributes (the caller's flush writes them, together with any other change of the
    row, so a row is written once): ``changed_by`` becomes ``status_change_origin(origin)``, never
    1C, so the outbox triggers tell 1C. A card already right is not touched, and while it stays
    accumulation-only it is rewritten only when the list of missing fields in its reason changes.
    The caller holds the card's row (locked, or written in this transaction) and read ``owner``
    after that, so a concurrent profile save cannot slip between the read and the write."""
    status, reason = lock_status(card, owner, required_fields)
    return _set_status(card, status, reason, status_change_origin(origin))


def refresh_cards_of(
    session: Session, customer: Customer, *, required_fields: Sequence[str], origin: Origin
) -> list[Card]:
    """Lock every card of ``customer`` and settle each one's status (``settle_card_status``);
    flush, and return the cards that were written. For callers on a bare session (the 1C sync)."""
    changed = [
        card
        for card in queries.lock_cards_of_customer(session, customer.id)
        if settle_card_status(card, customer, required_fields=required_fields, origin=origin)
    ]
    session.flush()
    return changed


def refresh_spending_status(
    uow: UnitOfWork, customer: Customer, *, required_fields: Sequence[str], origin: Origin
) -> list[Card]:
    """Give each non-blocked card of ``customer`` the status its profile calls for.

    A complete profile (``Customer.is_complete(required_fields)``) makes the cards ``active``; an
    incomplete one ``accumulation_only``, with ``status_reason`` naming the missing fields. A card
    is written (with ``changed_by=status_change_origin(origin)``) only when its status changes, or,
    while it stays accumulation-only, when the list of missing fields in its reason does; a card
    already right is not touched. Blocked cards stay blocked. Returns the cards that were written.
    """
    return refresh_cards_of(uow.session, customer, required_fields=required_fields, origin=origin)


def settle_card(session: Session, card: Card, *, required_fields: Sequence[str], origin: Origin) -> bool:
    """Settle one card after its owner or status was changed by ``origin`` (1C's card update):
    take the card's row lock first (flushing the change), then read its owner as committed, then
    write the status the rule calls for. True when the status changed."""
    locked = queries.lock_card(session, card.id)
    if locked is None or locked.customer_id is None:
        return False
    owner = session.scalars(
        select(Customer).where(Customer.id == locked.customer_id).execution_options(populate_existing=True)
    ).first()
    changed = settle_card_status(locked, owner, required_fields=required_fields, origin=origin)
    session.flush()
    return changed


@dataclass(frozen=True)
class Recheck:
    """What ``recheck_all_cards`` did: owned usable cards looked at, and the ones it changed."""

    checked: int
    changed: int


def recheck_all_cards(
    uow_factory: Callable[[], UnitOfWork],
    *,
    required_fields: Sequence[str] | None = None,
    origin: Origin = Origin.SYSTEM,
    chunk: int = 500,
) -> Recheck:
    """Settle the status of every owned, usable card: after ``BONUSBRIDGE_PROFILE_REQUIRED_FIELDS``
    changed, or to repair a card some path left wrong (``bonusbridge cards recheck``, beat nightly).

    Reads the cards with their owners ``chunk`` customers at a time; each customer with a card
    whose status the rule disagrees with is settled in its own short transaction (customer row
    locked, then its cards, as every service does), so a recheck of a large base never holds many
    locks, and a concurrent edit is either seen or settles the card itself. Idempotent: a second
    run changes nothing."""
    required = required_or_default(required_fields)
    checked = changed = 0
    after = 0
    while True:
        with uow_factory() as uow:
            rows = uow.session.execute(
                select(Card, Customer)
                .join(Customer, Customer.id == Card.customer_id)
                .where(
                    Card.customer_id.in_(
                        select(Card.customer_id)
                        .where(Card.customer_id > after, Card.status != CardStatus.BLOCKED)
                        .group_by(Card.customer_id)
                        .order_by(Card.customer_id)
                        .limit(chunk)
                        .scalar_subquery()
                    ),
                    Card.status != CardStatus.BLOCKED,
                )
                .order_by(Card.customer_id, Card.id)
            ).all()
            if not rows:
                return Recheck(checked, changed)
            checked += len(rows)
            wrong = sorted(
                {
                    customer.id
                    for card, customer in rows
                    if _differs(card, lock_status(card, customer, required))
                }
            )
            after = max(customer.id for _, customer in rows)
        for customer_id in wrong:
            with uow_factory() as uow:
                customer = queries.lock_customer(uow.session, customer_id)
                if customer is None:
                    continue
                changed += len(
                    refresh_spending_status(uow, customer, required_fields=required, origin=origin)
                )
                uow.commit()


def _differs(card: Card, wanted: tuple[CardStatus, str | None]) -> bool:
    status, reason = wanted
    return card.status is not status or (status is not CardStatus.ACTIVE and card.status_reason != reason)


def _set_status(card: Card, status: CardStatus, reason: str | None, origin: Origin) -> bool:
    """Set the card's spending status unless it already has it; True when something changed."""
    if not _differs(card, (status, reason)):
        return False
    card.status = status
    card.status_reason = reason
    card.changed_by = origin
    return True


# --------------------------------------------------------------------------- binding


def bind_card(
    uow: UnitOfWork,
    customer_id: int,
    card_id: int,
    *,
    origin: Origin,
    required_fields: Sequence[str] | None = None,
) -> Card:
    """Tie a card to a customer: its status follows the profile, and it becomes the primary card
    when the customer has none.

    Binding a card the customer already has is not an error: only what differs is written (a card
    whose state is already right is not written at all). Refused: an unknown customer or card
    (``UnknownCustomer``, ``UnknownCard``), a card bound to another customer
    (``CardOfAnotherCustomer``: moving a card between people is a support case, not a click), a
    blocked card (``CardBlocked``).

    ``required_fields`` defaults to the ``profile_required_fields`` setting.
    """
    required = required_or_default(required_fields)
    customer = queries.lock_customer(uow.session, customer_id)
    if customer is None:
        raise errors.UnknownCustomer(customer_id)
    card = queries.lock_card(uow.session, card_id)
    if card is None:
        raise errors.UnknownCard(card_id)
    if card.customer_id is not None and card.customer_id != customer_id:
        raise errors.CardOfAnotherCustomer(card_id, customer_id)
    if card.status is CardStatus.BLOCKED:
        raise errors.CardBlocked(card_id)

    primary = not queries.has_primary_card(uow.session, customer_id, other_than=card.id)
    binds = card.customer_id != customer_id or card.is_primary != primary
    # One row, one writer: when the status changes too, it is credited as a derived status change
    # (the same origin, except that 1C's binding still makes 1C learn the status it implies).
    if not settle_card_status(card, customer, required_fields=required, origin=origin) and binds:
        card.changed_by = origin
    if binds:
        card.customer_id = customer_id
        card.is_primary = primary
    uow.session.flush()
    if binds:  # ut11: a card bound to a partner whose cards share an account joins it
        accounts.follow_owner(uow.ledger, card.id)
        uow.session.refresh(card)
    return card


# --------------------------------------------------------------------------- primary card and merge


def choose_primary(
    uow: UnitOfWork,
    customer_id: int,
    card_id: int,
    *,
    key: str,
    origin: Origin,
    actor: Actor | None = None,
) -> PrimaryChoice:
    """Make ``card_id`` the customer's only primary card and merge every other card into it.

    Each other non-blocked card of the customer gives all its points to the primary card
    (``uow.ledger.transfer`` with key ``<key>/merge/<card id>``: each lot keeps its expiry date,
    points not yet spendable move too), is blocked with ``status_reason`` "merged into <number>",
    and points to the primary card by ``merged_into_id``. Cards already blocked are left as they
    are. Points that have expired but were not yet written off stay behind; the expiry sweep writes
    them off on the blocked card, as it would have on any card.

    Pending holds: a card whose points are reserved by a checkout still in progress is not merged,
    the whole call is refused with ``CardHasPendingHold`` (naming the card and when its last hold
    runs out). Moving the rest and blocking the card would strand the reserved points on a blocked
    card (the ledger refuses to capture on one, and a void would give them back to it), and voiding
    the hold would fail the customer's checkout at the till. Waiting loses nothing: the checkout
    ends within the hold's time to live, and holds past it are released by the transfer itself.
    Holds on the chosen card do not matter, nothing leaves it.

    Idempotent per (``origin``, ``key``): calling again with the same arguments changes nothing
    and returns an equal ``PrimaryChoice`` with ``replayed=True``; the same key with another card,
    customer or actor raises ``IdempotencyConflict``. The key is recorded in ``ledger_operations``
    (kind ``choose_primary``) beside the keys of the transfers it makes.

    ``actor`` is staff acting for the customer and needs the merge permission; ``None`` is the
    customer themself. Other refusals: ``InvalidKey``, ``UnknownCustomer``, ``UnknownCard``,
    ``CardNotOwned`` (not this customer's card), ``CardBlocked`` (the chosen card is blocked).
    """
    check_key(key)
    if actor is not None and not actor.may(Permission.MERGE):
        raise errors.PermissionDenied(f"{actor.name} may not merge cards")
    actor_name = actor.name if actor is not None else None
    digest = fingerprint(
        CHOOSE_PRIMARY, {"customer_id": customer_id, "card_id": card_id, "actor": actor_name}
    )
    earlier = find_operation(uow.session, origin, key)
    if earlier is not None:
        return _replay(uow.session, earlier, digest, key, origin, customer_id, card_id)

    session = uow.session
    if queries.lock_customer(session, customer_id) is None:
        raise errors.UnknownCustomer(customer_id)
    cards = queries.lock_cards_of_customer(session, customer_id)
    chosen = next((card for card in cards if card.id == card_id), None)
    if chosen is None:
        if uow.cards.get(card_id) is None:
            raise errors.UnknownCard(card_id)
        raise errors.CardNotOwned(card_id, customer_id)
    if chosen.status is CardStatus.BLOCKED:
        raise errors.CardBlocked(card_id)
    others = [card for card in cards if card is not chosen and card.status is not CardStatus.BLOCKED]
    queries.lock_balances(session, [chosen.id, *(card.id for card in others)])
    held = queries.live_holds(session, [card.id for card in others], now=uow.clock())
    if held:
        raise errors.CardHasPendingHold(held[0].card_id, held[0].amount, held[0].until)
    for card in others:  # refuse a key too long for its transfers before claiming it
        check_key(f"{key}/merge/{card.id}")

    if not claim_operation(uow, origin, key, digest, actor_name, kind=CHOOSE_PRIMARY):
        # Another transaction committed this key after our first look: that one did the work.
        earlier = find_operation(session, origin, key)
        assert earlier is not None
        return _replay(session, earlier, digest, key, origin, customer_id, card_id)

    merge = merge_locked(
        uow, customer_id, chosen, others, cards, key=key, origin=origin, actor=actor_name, note=None
    )
    moved = merge.points_moved if merge is not None else ZERO
    return PrimaryChoice(customer_id, chosen.id, tuple(card.id for card in others), moved)


def merge_locked(
    uow: UnitOfWork,
    customer_id: int,
    chosen: Card,
    others: Sequence[Card],
    cards: Sequence[Card],
    *,
    key: str,
    origin: Origin,
    actor: str | None,
    note: str | None,
    bound_for_merge: Sequence[int] = (),
    required_fields: Sequence[str] | None = None,
) -> CardMerge | None:
    """The merge engine every path shares (the cabinet's ``choose_primary``, staff's
    ``reconciliation.merges.merge_cards``): move each of ``others``' points to ``chosen`` (one
    ledger transfer per card, key ``<key>/merge/<card id>``, each lot keeping its expiry date),
    block them with ``status_reason`` "merged into <number>", point them at ``chosen`` by
    ``merged_into_id``, make ``chosen`` the customer's only primary card, and record the decision
    (``CardMerge`` with one ``CardMergeItem`` per absorbed card, holding its state before, so an
    unmerge can restore it). Returns the record, or None when there was nothing to absorb.

    The caller has checked everything and claimed its idempotency key; the customer's card rows
    (``cards``, all of them) and the balances of ``chosen`` and ``others`` are locked.
    ``bound_for_merge``: cards that had no owner and were bound to the customer for this merge
    (their ``customer_before`` is None, so an unmerge unbinds them again). The cards left usable
    (``chosen`` and any not absorbed) get the status the owner's profile calls for
    (``settle_card_status``; ``required_fields`` defaults to the setting)."""
    session = uow.session
    previous_primary = next((card.id for card in cards if card.is_primary), None)
    record = None
    items: dict[int, CardMergeItem] = {}
    if others:
        record = CardMerge(
            customer_id=customer_id,
            primary_card_id=chosen.id,
            previous_primary_card_id=previous_primary,
            primary_was_primary=chosen.is_primary,
            primary_bound_for_merge=chosen.id in bound_for_merge,
            origin=origin,
            key=key,
            actor=actor,
            reason=note,
            points_moved=ZERO,
            decided_at=uow.clock(),
        )
        session.add(record)
        session.flush()
        for card in others:
            items[card.id] = CardMergeItem(
                merge_id=record.id,
                card_id=card.id,
                points_moved=ZERO,
                transfer_key=f"{key}/merge/{card.id}",
                status_before=card.status,
                status_reason_before=card.status_reason,
                merged_into_before=card.merged_into_id,
                was_primary=card.is_primary,
                customer_before=None if card.id in bound_for_merge else customer_id,
            )
        session.add_all(items.values())
    reason = f"merged into {chosen.number}"
    book = uow.ledger
    moved = ZERO
    for card in others:
        transfer_key = check_key(f"{key}/merge/{card.id}")
        transfer = book.transfer(
            card.id, chosen.id, None, key=transfer_key, origin=origin, actor=actor, reason=reason
        )
        if transfer is not None:
            moved += transfer.amount
            items[card.id].points_moved = transfer.amount
            found = _find_operation_id(session, origin, transfer_key)
            items[card.id].transfer_operation_id = found
    # Each card is written once (one outbox message each); the old primary loses its flag before
    # the chosen card gets it, as the partial unique index on (customer_id) WHERE is_primary wants.
    # The cards that stay usable get the status the owner's profile calls for (the lock follows a
    # merge like any change of a card's owner), in the same write as their other changes.
    owner = session.get(Customer, customer_id)
    required = required_or_default(required_fields)
    for card in cards:
        if card is not chosen and card not in others:
            settle_card_status(card, owner, required_fields=required, origin=origin)
    for card in others:
        card.status = CardStatus.BLOCKED
        card.status_reason = reason
        card.merged_into_id = chosen.id
        card.is_primary = False
        card.changed_by = origin
    for card in cards:
        if card.is_primary and card is not chosen and card not in others:
            card.is_primary = False  # a primary card that had been blocked before
            card.changed_by = origin
    session.flush()
    settle_card_status(chosen, owner, required_fields=required, origin=origin)
    if not chosen.is_primary:
        chosen.is_primary = True
        chosen.changed_by = origin
    session.flush()
    for card in (chosen, *others):  # ut11: a card bound by the merge joins its owner's account
        accounts.follow_owner(book, card.id)
    if record is not None:
        record.points_moved = moved
        session.flush()
    return record


def _find_operation_id(session: Session, origin: Origin, key: str) -> int | None:
    row = session.execute(sql.FIND_OPERATION, {"b_origin": origin, "b_key": key}).first()
    return None if row is None else int(row.id)


def find_operation(session: Session, origin: Origin, key: str) -> tuple[str, str] | None:
    """The kind and fingerprint of the operation that used ``key``, if one did."""
    row = session.execute(sql.FIND_OPERATION, {"b_origin": origin, "b_key": key}).first()
    return None if row is None else (row.kind, row.fingerprint)


def claim_operation(
    uow: UnitOfWork, origin: Origin, key: str, digest: str, actor: str | None, *, kind: str
) -> bool:
    """Record the key the way the ledger records its own; False when it is already taken."""
    conn = uow.session.connection()
    operation_id = conn.execute(
        sql.claim_statement(conn.dialect.name),
        {
            "origin": origin,
            "idempotency_key": key,
            "kind": kind,
            "fingerprint": digest,
            "actor": actor,
            "created_at": uow.clock(),
            "hold_id": None,
        },
    ).scalar()
    return operation_id is not None


def _replay(
    session: Session,
    earlier: tuple[str, str],
    digest: str,
    key: str,
    origin: Origin,
    customer_id: int,
    card_id: int,
) -> PrimaryChoice:
    """The result of the call that first used ``key``, rebuilt from what its transfers recorded."""
    kind, first_digest = earlier
    if kind != CHOOSE_PRIMARY or first_digest != digest:
        raise errors.IdempotencyConflict(key, kind)
    prefix = f"{key}/merge/"
    merges = session.execute(
        select(operations.c.id, operations.c.idempotency_key).where(
            operations.c.origin == origin,
            operations.c.kind == "transfer",
            operations.c.idempotency_key.startswith(prefix, autoescape=True),
        )
    ).all()
    merged = {
        int(rest): operation_id
        for operation_id, merge_key in merges
        if (rest := merge_key[len(prefix) :]).isdigit()
    }
    moved = ZERO
    if merged:
        total = session.execute(
            select(type_coerce(func.coalesce(func.sum(movements.c.amount), 0), POINTS)).where(
                movements.c.operation_id.in_(merged.values()), movements.c.amount > 0
            )
        ).scalar_one()
        moved = Decimal(total)
    return PrimaryChoice(customer_id, card_id, tuple(sorted(merged)), moved, replayed=True)


# --------------------------------------------------------------------------- blocking


def block_card(uow: UnitOfWork, card_id: int, *, reason: str, origin: Origin) -> Card:
    """Block a card: it then accepts no ledger operation. Blocking a blocked card changes nothing.

    A blocked card cannot be where the customer's points gather, so it stops being the primary card
    (the next card bound becomes primary, or the customer chooses one). Points stay on it, and a
    checkout hold on it can only be voided, no longer captured. Unblocking is not offered here.
    Refused: ``MissingReason`` (an empty reason), ``UnknownCard``.
    """
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise errors.MissingReason("blocking a card needs a reason")
    card = queries.lock_card(uow.session, card_id)
    if card is None:
        raise errors.UnknownCard(card_id)
    if card.status is CardStatus.BLOCKED:
        return card
    card.status = CardStatus.BLOCKED
    card.status_reason = text
    card.is_primary = False
    card.changed_by = origin
    uow.session.flush()
    return card


def required_or_default(required_fields: Sequence[str] | None) -> list[str]:
    return list(get_settings().profile_required_fields if required_fields is None else required_fields)
