"""The demo's customers, one per branch of seed 004's cabinet flow, on top of what 1C already holds.

The emulated 1C starts with its own demo base (``connectors/onec/emulator/fixtures/demo_retail.yaml``),
which the hub loads with ``sync pull --full``. This module adds what only the hub knows: cards of
legacy programs that a migration brought in, and the verified phone of a customer who already uses
the cabinet. Every operation carries a fixed key, so seeding twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from bonusbridge.app import Hub
from bonusbridge.models import Card, CardStatus, Customer, Origin
from bonusbridge.services.cards import refresh_spending_status
from bonusbridge.unit_of_work import UnitOfWork, normalize_card_number


@dataclass(frozen=True)
class DemoPhone:
    """A phone to log in with, and what the cabinet shows for it."""

    phone: str
    branch: str


#: From 1C's demo base: Кузнецова owns one card (2000000000059, 300 points).
ONE_CARD = DemoPhone("+7 916 456-78-90", "one card (from 1C): shown at once")
#: Three cards of three legacy programs on one phone, with balances expiring at different dates.
THREE_CARDS = DemoPhone("+7 916 555-01-01", "three cards of three legacy programs: choose the primary one")
#: Nothing on this phone: the customer binds a card by its number and a proof.
NO_CARD = DemoPhone(
    "+7 916 555-02-02", "no card: bind 7700 0000 0077 by the points of its last receipt (12.34)"
)
#: From 1C's demo base: Петрова, whose phone is already verified in the cabinet.
BOUND_ELSEWHERE = DemoPhone(
    "+7 916 234-56-78", "already verified; its card 2000000000035 cannot be taken by another phone"
)
#: From 1C's demo base: Иванов, two cards of the chain's own program.
TWO_CARDS_FROM_1C = DemoPhone("+7 916 123-45-67", "two cards in 1C: choose the primary one")

DEMO_PHONES = (ONE_CARD, THREE_CARDS, NO_CARD, BOUND_ELSEWHERE, TWO_CARDS_FROM_1C)

#: A card without a phone that the NO_CARD customer can bind: its last receipt earned this much.
CLAIMABLE_CARD = "7700 0000 0077"
CLAIMABLE_RECEIPT_POINTS = Decimal("12.34")
#: A card bound to BOUND_ELSEWHERE's verified phone, which nobody else may take.
BOUND_CARD = "2000000000035"

PROGRAMS = {
    "legacy-gold": ("Золотая карта (до 2019)", True),
    "legacy-discount5": ("Скидка 5% (до 2018)", True),
    "legacy-svoy": ("Свой человек (до 2020)", True),
}
#: The programs' names on the English pages and in English SMS.
PROGRAM_NAMES_EN = {
    "legacy-gold": "Gold card (until 2019)",
    "legacy-discount5": "5% discount (until 2018)",
    "legacy-svoy": "One of us (until 2020)",
}
#: program, number, balance, days until those points expire (None: they never do)
LEGACY_CARDS = (
    ("legacy-gold", "GOLD-77-001", Decimal("1200.00"), 20),
    ("legacy-discount5", "D5 000 123", Decimal("80.50"), 200),
    ("legacy-svoy", "SV-0042", Decimal("300.00"), None),
)


def e164(display: str) -> str:
    return "+" + "".join(ch for ch in display if ch.isdigit())


def seed_hub(hub: Hub) -> list[str]:
    """Add the hub-only demo data; return what was done, one line each (nothing on a re-run)."""
    done: list[str] = []
    card_ids: dict[str, int] = {}
    with hub.unit_of_work() as uow:
        programs = {
            code: uow.programs.get_or_create(code, name, is_legacy=legacy, name_en=PROGRAM_NAMES_EN.get(code))
            for code, (name, legacy) in PROGRAMS.items()
        }
        for code, number, _, _ in LEGACY_CARDS:
            card_ids[number] = _card(uow, programs[code].id, number, THREE_CARDS.phone, done)
        card_ids[CLAIMABLE_CARD] = _card(uow, programs["legacy-svoy"].id, CLAIMABLE_CARD, None, done)
        owner = uow.session.scalars(
            select(Customer)
            .join(Card, Card.customer_id == Customer.id)
            .where(Card.number == normalize_card_number(BOUND_CARD))
        ).first()
        if owner is not None and owner.phone_verified_at is None:
            owner.phone_e164 = e164(BOUND_ELSEWHERE.phone)
            owner.phone_verified_at = owner.created_at
            owner.changed_by = Origin.WEBSITE
            done.append(f"{BOUND_ELSEWHERE.phone} verified in the cabinet (owner of card {BOUND_CARD})")
        if owner is not None:
            # A verified phone is an input of the spending lock: her profile from 1C lacks the
            # birth date, so her card only accumulates until she completes it in the cabinet.
            uow.session.flush()
            refresh_spending_status(
                uow, owner, required_fields=hub.settings.profile_required_fields, origin=Origin.WEBSITE
            )
        uow.commit()
    now = hub.ledger.clock()
    for _, number, amount, days in LEGACY_CARDS:
        record = hub.ledger.accrue(
            card_ids[number],
            amount,
            key=f"demo:legacy:{number}",
            origin=Origin.MIGRATION,
            expires_at=None if days is None else now + timedelta(days=days),
            document="LEGACY",
        )
        if not record.replayed:
            done.append(f"opening balance {amount} on legacy card {number}")
    record = hub.ledger.accrue(
        card_ids[CLAIMABLE_CARD],
        CLAIMABLE_RECEIPT_POINTS,
        key=f"demo:receipt:{CLAIMABLE_CARD}",
        origin=Origin.MIGRATION,
        document="ЧК-000777",
    )
    if not record.replayed:
        done.append(f"a receipt of {CLAIMABLE_RECEIPT_POINTS} points on card {CLAIMABLE_CARD}")
    return done


def _card(uow: UnitOfWork, program_id: int, number: str, phone: str | None, done: list[str]) -> int:
    card = uow.cards.by_number(program_id, number)
    if card is None:
        card = uow.cards.add(
            Card(
                program_id=program_id,
                number=number,
                phone_raw=phone,
                phone_e164=e164(phone) if phone else None,
                status=CardStatus.ACTIVE,
                changed_by=Origin.MIGRATION,
            )
        )
        done.append(f"legacy card {number}" + (f" on {phone}" if phone else " without a phone"))
    return card.id
