"""What the customers' cabinet asks of the hub: who logged in, which cards they may choose among,
what to show them next, and the reads of the home page (history, lots expiring soon, last purchase).

Why here and not in ``web_cabinet``: the rules (a verified phone finds or becomes a customer; the
cards offered are the customer's own plus the unclaimed ones recorded with that phone, never a card
of someone else) are the hub's, and the demo and the staff screens need them too. Same conventions
as ``cards``: a unit of work in, no commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bonusbridge import errors
from bonusbridge.ledger import accounts
from bonusbridge.ledger.book import free_points
from bonusbridge.ledger.statements import POINTS
from bonusbridge.models import Card, CardStatus, Customer, FormUse, Lot, Movement, MovementKind, Origin
from bonusbridge.services import queries
from bonusbridge.services.cards import (
    PrimaryChoice,
    bind_card,
    choose_primary,
    refresh_spending_status,
    required_or_default,
)
from bonusbridge.types import UTCDateTime
from bonusbridge.unit_of_work import UnitOfWork


class Step(StrEnum):
    """Where a logged-in customer goes next."""

    ADD_CARD = "add_card"  # no usable card: enter a card number and the proof
    CHOOSE = "choose"  # several cards (or one not yet confirmed): choose the primary one
    PROFILE = "profile"  # one card, profile incomplete: the card only accumulates
    HOME = "home"


def customer_for_verified_phone(
    uow: UnitOfWork,
    phone_e164: str,
    *,
    locale: str | None = None,
    required_fields: Sequence[str] | None = None,
) -> Customer:
    """The customer whose phone was just proven by SMS; found, marked verified, or created.

    A verified customer with that phone wins. Otherwise an unverified customer row with that phone
    (1C's partner, loaded by sync) becomes verified: its data prefill the profile. Several such rows
    are legacy duplicates, the oldest is taken (reconciliation merges the rest). Otherwise a new
    customer is created. Verifying is the website's change and goes to 1C like any other.

    Then the spending lock of the customer's cards is settled (``cards.refresh_spending_status``,
    ``required_fields`` defaulting to the setting): a card bound earlier (by 1C, a migration, a
    staff merge) may have been left ``active`` with an incomplete profile, and logging in is when
    its owner starts to spend.
    """
    required = required_or_default(required_fields)
    customer = uow.customers.by_verified_phone(phone_e164)
    if customer is None:
        now = uow.clock()
        customer = uow.session.scalars(
            select(Customer).where(Customer.phone_e164 == phone_e164).order_by(Customer.id).limit(1)
        ).first()
        if customer is None:
            customer = Customer(phone_e164=phone_e164, locale=locale, changed_by=Origin.WEBSITE)
            uow.customers.add(customer)
        customer.phone_verified_at = now
        customer.changed_by = Origin.WEBSITE
        uow.session.flush()
    locked = queries.lock_customer(uow.session, customer.id)
    assert locked is not None
    if locale is not None:
        remember_locale(uow.session, locked, locale)
    refresh_spending_status(uow, locked, required_fields=required, origin=Origin.WEBSITE)
    return locked


#: The languages the cabinet and the SMS texts speak.
LOCALES = ("ru", "en")


def remember_locale(session: Session, customer: Customer, locale: str) -> bool:
    """The language the customer uses the cabinet in becomes the language of their SMS (logging in,
    switching the language). Not a profile change: 1C does not hold it, so it neither bumps the
    row's version (an open profile form stays valid) nor its change time (the sync's 'newer')."""
    if locale not in LOCALES or customer.locale == locale:
        return False
    session.execute(
        update(Customer)
        .where(Customer.id == customer.id)
        .values(locale=locale, updated_at=Customer.updated_at)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(customer, "locale", locale)
    return True


def card_choices(session: Session, customer: Customer) -> list[Card]:
    """The usable cards the customer may choose the primary one among, in id order.

    Their own non-blocked cards, and the non-blocked cards nobody has claimed whose program recorded
    the customer's (verified) phone. A card of another customer is never offered, even with the
    same phone recorded: seed 004's cashiers collected customers' bonuses on cards of their own.
    """
    mine = Card.customer_id == customer.id
    unclaimed = (Card.customer_id.is_(None)) & (Card.phone_e164 == customer.phone_e164)
    where = or_(mine, unclaimed) if customer.phone_e164 and customer.phone_verified_at else mine
    return list(
        session.scalars(select(Card).where(where, Card.status != CardStatus.BLOCKED).order_by(Card.id))
    )


def next_step(session: Session, customer: Customer, required_fields: Sequence[str]) -> Step:
    choices = card_choices(session, customer)
    if not choices:
        return Step.ADD_CARD
    if len(choices) > 1 or choices[0].customer_id != customer.id:
        return Step.CHOOSE
    if not customer.is_complete(list(required_fields)):
        return Step.PROFILE
    return Step.HOME


def settle_single_card(uow: UnitOfWork, customer: Customer) -> Card | None:
    """Bind the customer's only card choice when it is not yet theirs (one card: nothing to choose)."""
    choices = card_choices(uow.session, customer)
    if len(choices) != 1 or choices[0].customer_id == customer.id:
        return None
    return bind_card(uow, customer.id, choices[0].id, origin=Origin.WEBSITE)


def choose_primary_card(uow: UnitOfWork, customer: Customer, card_id: int, *, key: str) -> PrimaryChoice:
    """Bind every card on offer to the customer, then make ``card_id`` primary and merge the rest.

    One unit of work: the bindings, the transfers (each lot keeps its expiry date), the blocking and
    the outbox rows commit together or not at all. ``key`` makes a resubmitted form a replay. A card
    that is not on offer (another customer's, a blocked one) is refused with ``CardNotOwned``.
    """
    # The customer's row first (the services' lock order): a twin submission waits here, then
    # sees the cards this one merged as blocked, and its ``choose_primary`` replays the key.
    if queries.lock_customer(uow.session, customer.id) is None:
        raise errors.UnknownCustomer(customer.id)
    choices = card_choices(uow.session, customer)
    if card_id not in {card.id for card in choices}:
        raise errors.CardNotOwned(card_id, customer.id)
    for card in choices:
        if card.customer_id is None:
            bind_card(uow, customer.id, card.id, origin=Origin.WEBSITE)
    return choose_primary(uow, customer.id, card_id, key=key, origin=Origin.WEBSITE)


def claim_form(uow: UnitOfWork, key: str, *, customer_id: int, kind: str) -> bool:
    """Record that the form ``key`` took effect; False when it already had (a double submission).

    Inserted in the unit of work of the form's effect, so a refused submission leaves the form
    usable. A concurrent twin waits for this transaction and then finds the key taken.
    """
    session = uow.session
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    claimed = session.execute(
        insert(FormUse.__table__)
        .values(form_key=key, customer_id=customer_id, kind=kind, created_at=uow.clock())
        .on_conflict_do_nothing(index_elements=["form_key"])
        .returning(FormUse.__table__.c.form_key)
    ).scalar()
    return claimed is not None


# --------------------------------------------------------------------------- reads of the pages


@dataclass(frozen=True)
class Expiring:
    """Points of one expiry date that will be written off within the horizon."""

    expires_at: datetime
    amount: Decimal


def with_accounts(session: Session, card_ids: Sequence[int]) -> list[int]:
    """The cards and the account cards their points live on (``ledger.accounts``)."""
    found = accounts.accounts_of(session.connection(), card_ids)
    return sorted(set(card_ids) | set(found.values()))


def expiring_lots(
    session: Session, card_ids: Sequence[int], *, now: datetime, horizon: datetime
) -> list[Expiring]:
    """What expires between now and ``horizon`` and when, per date, spendable points only (those
    of a hold past its time to live included, as in the balance: ``ledger.book.free_points``)."""
    if not card_ids:
        return []
    card_ids = with_accounts(session, card_ids)
    free = type_coerce(func.sum(free_points(now)), POINTS)
    rows = session.execute(
        select(type_coerce(Lot.expires_at, UTCDateTime()), free)
        .where(
            Lot.card_id.in_(card_ids),
            Lot.remaining > 0,
            Lot.available_from <= now,
            Lot.expires_at > now,
            Lot.expires_at <= horizon,
        )
        .group_by(Lot.expires_at)
        .order_by(Lot.expires_at)
    ).all()
    return [Expiring(at, amount) for at, amount in rows if amount > 0]


def movements_of(session: Session, card_ids: Sequence[int], *, limit: int = 50) -> list[Movement]:
    """The newest movements of these cards (the caller passes only the customer's own cards) and of
    the accounts holding their points (``ledger.accounts``: in ut11 the partner's account card)."""
    if not card_ids:
        return []
    card_ids = with_accounts(session, card_ids)
    return list(
        session.scalars(
            select(Movement)
            .where(Movement.card_id.in_(card_ids))
            .order_by(Movement.occurred_at.desc(), Movement.id.desc())
            .limit(limit)
        )
    )


#: What a purchase leaves in the ledger: points earned or spent at a till (through 1C) or on the
#: website. A migration's opening balance, a merge's transfers, expiries and staff corrections are
#: no purchase: a legacy card's "last purchase" is never the day its points were imported.
PURCHASE_KINDS = (MovementKind.ACCRUAL, MovementKind.REDEMPTION)
PURCHASE_ORIGINS = (Origin.ONEC, Origin.WEBSITE)


def last_purchase(session: Session, card_ids: Sequence[int]) -> dict[int, datetime]:
    """When each card was last used for a purchase (shown when choosing the primary card); a card
    with no purchase recorded in the hub is absent. The legacy programs' exports carry no date of
    a last purchase (``mapping.legacy.spec.FIELDS``), so a legacy card shows one only once it has
    been used at a till or on the website since its import."""
    if not card_ids:
        return {}
    rows = session.execute(
        select(Movement.card_id, type_coerce(func.max(Movement.occurred_at), UTCDateTime()))
        .where(
            Movement.card_id.in_(card_ids),
            Movement.kind.in_(PURCHASE_KINDS),
            Movement.origin.in_(PURCHASE_ORIGINS),
        )
        .group_by(Movement.card_id)
    ).all()
    return {card_id: at for card_id, at in rows}
