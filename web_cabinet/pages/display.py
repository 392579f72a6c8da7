"""Cards and movements as the pages show them: statuses explained, sources named, in the
customer's language. The hub's ``status_reason`` is written for staff and 1C, in English; the
customer is told the same thing in their words (which fields are missing, which card took the
points). A card that only accumulates shows its points as accumulated, not as spendable: the
balance block says so (``locked``) instead of "available"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.records import BalanceView
from bonusbridge.models import (
    Card,
    CardStatus,
    Customer,
    Movement,
    MovementKind,
    PersonalDataConsent,
    Program,
)
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
    programs = program_names(uow.session, [card.program_id for card in cards], t)
    return [
        {
            "id": card.id,
            "number": mask_card_number(card.number),
            "program": programs[card.program_id].label if card.program_id in programs else "",
            "status": t("status_" + card.status.value),
            "status_code": card.status.value,
            "reason": _reason(card, customer, by_id, required, t),
            "primary": card.is_primary,
            "locked": is_locked(card),
        }
        for card in cards
    ]


@dataclass(frozen=True)
class ProgramName:
    label: str  # in the page's language
    legacy: bool


def program_names(session: Session, program_ids: Iterable[int], t: Translate) -> dict[int, ProgramName]:
    """The programs' names in the page's language: in English the program's English name, else
    what kind of program it is (never the Russian name on an English page)."""
    english = t("lang_code") == "en"
    rows = session.execute(
        select(Program.id, Program.name, Program.name_en, Program.is_legacy).where(
            Program.id.in_(set(program_ids))
        )
    ).all()
    return {
        program_id: ProgramName(
            (name_en or t("program_legacy" if legacy else "program_current")) if english else name,
            bool(legacy),
        )
        for program_id, name, name_en, legacy in rows
    }


def is_locked(card: Card) -> bool:
    """The card only accumulates: its points are shown as accumulated, never as "spendable"."""
    return card.status is CardStatus.ACCUMULATION_ONLY


def _reason(
    card: Card, customer: Customer, own: dict[int, Card], required: Sequence[str], t: Translate
) -> str:
    if card.status is CardStatus.ACCUMULATION_ONLY:
        missing = customer.missing_fields(list(required))
        if missing:
            return t("profile_for_spending").format(fields=", ".join(t(name).lower() for name in missing))
    if card.status is CardStatus.BLOCKED and card.merged_into_id is not None:
        target = own.get(card.merged_into_id)
        if target is not None:
            return t("merged_into").format(number=mask_card_number(target.number))
    if card.status is CardStatus.ACTIVE:
        return ""
    # Any other reason was written for staff and 1C, in their words and language: the customer is
    # told what the state means for them instead.
    return t("blocked_reason") if card.status is CardStatus.BLOCKED else t("accumulated_note")


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


def with_consents(
    rows: list[dict[str, Any]], consents: Sequence[PersonalDataConsent]
) -> list[dict[str, Any]]:
    """The history with the customer's consents to personal-data processing among the movements,
    newest first: each shows the version of the text agreed to and when."""
    extra = [{"at": consent.given_at, "consent": consent.text_version} for consent in consents]
    return sorted([*rows, *extra], key=lambda row: row["at"], reverse=True)
