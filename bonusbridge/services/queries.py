"""The reads and row locks the customer and card services need beyond ``uow.customers``/``uow.cards``.

Locks are taken in one order everywhere, customer row, then card rows by id, then card balance rows
by id (the ledger's order), so two services, or a service and the ledger, cannot deadlock. On
PostgreSQL customer and card rows are locked ``FOR NO KEY UPDATE`` (what an UPDATE of them takes
anyway), not ``FOR UPDATE``: the ledger, holding a balance lock, inserts movements, lots and holds
whose foreign keys take ``FOR KEY SHARE`` on the card row, and ``FOR UPDATE`` there would close a
deadlock cycle with a service waiting for that balance. SQLite has no row locks and serializes
whole write transactions instead (``BEGIN IMMEDIATE``, see ``bonusbridge.db``).

Locked rows are read with ``populate_existing``: under READ COMMITTED the lock may have waited for
another transaction, and the session must see what that one committed, not what it had cached.
Pending changes are flushed first so that refreshing cannot discard them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, type_coerce
from sqlalchemy.orm import Session

from bonusbridge.ledger.statements import POINTS, balances, holds
from bonusbridge.models import Card, Customer, HoldStatus
from bonusbridge.types import UTCDateTime


def lock_customer(session: Session, customer_id: int) -> Customer | None:
    session.flush()
    return session.scalars(
        select(Customer)
        .where(Customer.id == customer_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).first()


def lock_card(session: Session, card_id: int) -> Card | None:
    session.flush()
    return session.scalars(
        select(Card)
        .where(Card.id == card_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).first()


def lock_cards_of_customer(session: Session, customer_id: int) -> list[Card]:
    """The customer's cards, in id order, locked."""
    session.flush()
    return list(
        session.scalars(
            select(Card)
            .where(Card.customer_id == customer_id)
            .order_by(Card.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    )


def lock_balances(session: Session, card_ids: Iterable[int]) -> None:
    """Take the ledger's lock of each card (its balance row), in id order, as the ledger does.

    Held until commit, so no checkout can reserve points on these cards meanwhile."""
    ids = sorted(set(card_ids))
    if ids:
        session.execute(
            select(balances.c.card_id)
            .where(balances.c.card_id.in_(ids))
            .order_by(balances.c.card_id)
            .with_for_update()
        ).all()


def has_primary_card(session: Session, customer_id: int, *, other_than: int) -> bool:
    found = session.scalar(
        select(Card.id)
        .where(Card.customer_id == customer_id, Card.is_primary, Card.id != other_than)
        .limit(1)
    )
    return found is not None


@dataclass(frozen=True)
class LiveHold:
    """A card's checkout reservations that are still in force: their points and when the last ends."""

    card_id: int
    amount: Decimal
    until: datetime


def live_holds(session: Session, card_ids: Iterable[int], *, now: datetime) -> list[LiveHold]:
    """Pending holds not yet past their time to live, per card (expired ones the ledger releases)."""
    ids = sorted(set(card_ids))
    if not ids:
        return []
    rows = session.execute(
        select(
            holds.c.card_id,
            type_coerce(func.sum(holds.c.amount), POINTS),
            type_coerce(func.max(holds.c.expires_at), UTCDateTime()),
        )
        .where(holds.c.card_id.in_(ids), holds.c.status == HoldStatus.PENDING, holds.c.expires_at > now)
        .group_by(holds.c.card_id)
        .order_by(holds.c.card_id)
    ).all()
    return [LiveHold(card_id, amount, until) for card_id, amount, until in rows]
