"""Cards and movements as the pages show them: statuses explained, sources named, in the
customer's language. The hub's ``status_reason`` is written for staff and 1C, in English; the
customer is told the same thing in their words (which fields are missing, which card took the
points). A card that only accumulates shows its points as accumulated, not as spendable: the
balance block says so (``locked``) instead of "available"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.records import BalanceView
from bonusbridge.models import Card, CardStatus, Customer, Movement, MovementKind, Program
from bonusbridge.privacy import mask_card_number
from bonusbridge.unit_of_work import UnitOfWork
from web_cabinet.i18n import Translate

_TRANSFERS = (MovementKind.TRANSFER_IN, MovementKind.TRANSFER_OUT)


def card_rows(
    uow: UnitOfWork,
    customer: Customer,
    cards: Sequence[Card],
    own: Sequence[Card],
    required: Sequence[str],
    t: Translate,
) -> list[dict[str, Any]]:
    by_id = {card.id: card for card in own}
    ids = {card.program_id for card in cards}
    found = uow.session.execute(select(Program.id, Program.name).where(Program.id.in_(ids))).all()
    programs = {program_id: name for program_id, name in found}
    return [
        {
            "id": card.id,
            "number": mask_card_number(card.number),
            "program": programs.get(card.program_id, ""),
            "status": t("status_" + card.status.value),
            "status_code": card.status.value,
            "reason": _reason(card, customer, by_id, required, t),
            "primary": card.is_primary,
            "locked": is_locked(card),
        }
        for card in cards
    ]


def is_locked(card: Card) -> bool:
    """The card only accumulates: its points are shown as accumulated, never as "spendable"."""
    return card.status is CardStatus.ACCUMULATION_ONLY


def _reason(
    card: Card, customer: Customer, own: dict[int, Card], required: Sequence[str], t: Translate
) -> str:
    if card.status is CardStatus.ACCUMULATION_ONLY:
        missing = customer.missing_fields(list(required))
        if missing:
            return t("profile_for_spending").format(fields=", ".join(t(name) for name in missing))
    if card.status is CardStatus.BLOCKED and card.merged_into_id is not None:
        target = own.get(card.merged_into_id)
        if target is not None:
            return t("merged_into").format(number=mask_card_number(target.number))
    if card.status is CardStatus.ACTIVE:
        return ""
    return card.status_reason or ""


def source_key(movement: Movement) -> str:
    """Where the points came from: a merge of cards, or the origin (store, website, legacy …)."""
    if movement.kind in _TRANSFERS and (movement.reason or "").startswith("merged into"):
        return "origin_merge"
    return "origin_" + movement.origin.value


def history_rows(movements: Sequence[Movement], own: Sequence[Card]) -> list[dict[str, Any]]:
    numbers = {card.id: mask_card_number(card.number) for card in own}
    return [
        {
            "at": movement.occurred_at,
            "kind": "kind_" + movement.kind.value,
            "source": source_key(movement),
            "amount": movement.amount,
            "card": numbers.get(movement.card_id, ""),
            "expires_at": movement.expires_at if movement.amount > 0 else None,
            "document": movement.document,
        }
        for movement in movements
    ]


def balance_of(uow: UnitOfWork, card_id: int, *, now: datetime, expiring_days: int) -> BalanceView:
    """The card's balance read on the unit of work's own connection (on SQLite a second
    connection would wait for this one's write lock)."""
    book = LedgerBook(uow.session.connection(), now=now)
    return book.balance(card_id, expiring_within=timedelta(days=expiring_days))
