"""Cards and movements as the pages show them: statuses explained, sources named, in the
customer's language. The hub's ``status_reason`` is written for staff and 1C, in English; the
customer is told the same thing in their words (which fields are missing, which card took the
points). A card that only accumulates shows its points as accumulated, not as spendable: the
balance block says so (``locked``) instead of "available"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.records import BalanceView
from bonusbridge.models import (
    Card,
    CardStatus,
    Customer,
    Movement,
    MovementKind,
    Origin,
    PersonalDataConsent,
    Program,
)
from bonusbridge.privacy import mask_card_number
from bonusbridge.services.cabinet import with_accounts
from bonusbridge.unit_of_work import UnitOfWork
from web_cabinet.formats import Formats
from web_cabinet.i18n import Translate

_TRANSFERS = (MovementKind.TRANSFER_IN, MovementKind.TRANSFER_OUT)


def card_rows(
    uow: UnitOfWork,
    customer: Customer,
    cards: Sequence[Card],
    own: Sequence[Card],
    required: Sequence[str],
    t: Translate,
    programs: dict[int, ProgramName] | None = None,
) -> list[dict[str, Any]]:
    """``programs``: the cards' programs' names when the caller read them already (``cards_of``)."""
    by_id = {card.id: card for card in own}
    if programs is None:
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
    rows = session.execute(
        select(Program.id, Program.name, Program.name_en, Program.is_legacy).where(
            Program.id.in_(set(program_ids))
        )
    ).all()
    return {program_id: _program_name(t, name, name_en, legacy) for program_id, name, name_en, legacy in rows}


def _program_name(t: Translate, name: str, name_en: str | None, legacy: bool | None) -> ProgramName:
    if t("lang_code") == "en":
        return ProgramName(name_en or t("program_legacy" if legacy else "program_current"), bool(legacy))
    return ProgramName(name, bool(legacy))


#: A customer's cards with their programs' names: one query for the home page's card list.
_CARDS_OF = (
    select(Card, Program.name, Program.name_en, Program.is_legacy)
    .join(Program, Program.id == Card.program_id)
    .where(Card.customer_id == bindparam("customer"))
    .order_by(Card.id)
)


def cards_of(session: Session, customer_id: int, t: Translate) -> tuple[list[Card], dict[int, ProgramName]]:
    """The customer's cards in id order (as ``CardRepository.of_customer``) and their programs'
    names (as ``program_names``), read together."""
    cards: list[Card] = []
    programs: dict[int, ProgramName] = {}
    for card, name, name_en, legacy in session.execute(_CARDS_OF, {"customer": customer_id}):
        cards.append(card)
        programs[card.program_id] = _program_name(t, name, name_en, legacy)
    return cards, programs


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


class MovementLine(Protocol):
    """What the history shows of a movement: a ``Movement`` or a row of ``history_of``."""

    card_id: int
    kind: MovementKind
    origin: Origin
    reason: str | None
    amount: Decimal
    occurred_at: datetime
    expires_at: datetime | None


def source_key(movement: MovementLine) -> str:
    """Where the points came from: a merge of cards, or the origin (store, website, legacy …)."""
    if movement.kind in _TRANSFERS and (movement.reason or "").startswith("merged into"):
        return "origin_merge"
    return "origin_" + movement.origin.value


#: The newest movements of some cards, only the columns the history shows (no ORM objects: the
#: home page's sixty rows were a fifth of its reads' time). Same cards, order and limit as the
#: hub's ``services.cabinet.movements_of`` (``test_home_reads`` compares them).
_HISTORY = (
    select(
        Movement.card_id,
        Movement.kind,
        Movement.origin,
        Movement.reason,
        Movement.amount,
        Movement.occurred_at,
        Movement.expires_at,
    )
    .where(Movement.card_id.in_(bindparam("cards", expanding=True)))
    .order_by(Movement.occurred_at.desc(), Movement.id.desc())
    .limit(bindparam("limit"))
)


def history_of(session: Session, card_ids: Sequence[int], *, limit: int = 50) -> Sequence[MovementLine]:
    """The newest movements of these cards (the caller passes only the customer's own cards) and of
    the accounts holding their points, the hub's ``with_accounts`` deciding which (as for
    ``movements_of``)."""
    if not card_ids:
        return []
    wanted = with_accounts(session, card_ids)
    rows: Sequence[Any] = session.execute(_HISTORY, {"cards": wanted, "limit": limit}).all()
    return rows


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One line of the history as the page shows it, every cell already in the page's language:
    the rows are formatted here once, not through template calls per cell (the home page's cost)."""

    at: datetime  # the order of the rows
    when: str
    kind: str = ""
    expires: str = ""  # "expires on …" under an accrual's kind
    source: str = ""  # the origin's code, for ``data-source``
    source_label: str = ""
    card: str = ""
    amount: str = ""  # signed: "+12,50", "-3,00"
    sign: str = ""  # the amount's class: "plus" or "minus"
    consent: str | None = None  # the consent's text version, on a consent's row


def history_rows(
    movements: Sequence[MovementLine], own: Sequence[Card], t: Translate, fmt: Formats, zone: ZoneInfo
) -> list[HistoryRow]:
    numbers = {card.id: mask_card_number(card.number) for card in own}
    labels: dict[str, str] = {}

    def label(key: str) -> str:
        found = labels.get(key)
        if found is None:
            found = labels[key] = t(key)
        return found

    expires_on = t("expires_on")
    rows = []
    for movement in movements:
        source = source_key(movement)
        gain = movement.amount > 0
        expires = movement.expires_at if gain else None
        rows.append(
            HistoryRow(
                at=movement.occurred_at,
                when=fmt.moment(movement.occurred_at, zone),
                kind=label("kind_" + movement.kind.value),
                expires=f"{expires_on} {fmt.day(expires, zone)}" if expires else "",
                source=source.removeprefix("origin_"),
                source_label=label(source),
                card=numbers.get(movement.card_id, ""),
                amount=("+" if gain else "") + fmt.points(movement.amount),
                sign="plus" if gain else "minus",
            )
        )
    return rows


def balance_of(uow: UnitOfWork, card_id: int, *, now: datetime, expiring_days: int) -> BalanceView:
    """The card's balance read on the unit of work's own connection (on SQLite a second
    connection would wait for this one's write lock)."""
    book = LedgerBook(uow.session.connection(), now=now)
    return book.balance(card_id, expiring_within=timedelta(days=expiring_days))


def with_consents(
    rows: list[HistoryRow],
    consents: Sequence[PersonalDataConsent],
    t: Translate,
    fmt: Formats,
    zone: ZoneInfo,
) -> list[HistoryRow]:
    """The history with the customer's consents to personal-data processing among the movements,
    newest first: each shows the version of the text agreed to and when."""
    given = t("pd_consent_given")
    extra = [
        HistoryRow(
            at=consent.given_at,
            when=fmt.moment(consent.given_at, zone),
            kind=given.format(version=consent.text_version),
            consent=consent.text_version,
        )
        for consent in consents
    ]
    if not extra:
        return rows
    return sorted([*rows, *extra], key=lambda row: row.at, reverse=True)
