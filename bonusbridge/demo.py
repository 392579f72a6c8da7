"""Demo data: a small chain after seed 004's stage 1 — one bonus program, legacy cards, shared phones.

Running it twice changes nothing the second time: cards are found by number and every ledger
operation carries a fixed idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from bonusbridge.app import Hub
from bonusbridge.models import Card, CardStatus, Customer, Origin
from bonusbridge.privacy import mask_card_number, mask_phone
from bonusbridge.services.cards import refresh_spending_status
from bonusbridge.unit_of_work import normalize_card_number


@dataclass
class DemoReport:
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)


DEMO_CARDS = [
    # program code, card number, phone as the program recorded it, status
    ("dobrostroy", "2000 0000 0001", "+7 (916) 123-45-67", CardStatus.ACTIVE),
    ("legacy-gold", "GOLD-77-001", "8 916 123 45 67", CardStatus.ACTIVE),
    ("legacy-discount5", "D5 000 123", "9161234567", CardStatus.ACTIVE),
    ("dobrostroy", "2000 0000 0002", "+79031112233", CardStatus.ACCUMULATION_ONLY),
    ("dobrostroy", "2000 0000 0003", None, CardStatus.ACTIVE),
]
PROGRAMS = {
    "dobrostroy": ("Добрострой Бонус", False),
    "legacy-gold": ("Золотая карта (до 2019)", True),
    "legacy-discount5": ("Скидка 5% (до 2018)", True),
}
#: The programs' names on the English pages and in English SMS.
PROGRAM_NAMES_EN = {
    "dobrostroy": "Dobrostroy Bonus",
    "legacy-gold": "Gold card (until 2019)",
    "legacy-discount5": "5% discount (until 2018)",
}


def _e164(raw: str | None) -> str | None:
    """Demo phones are Russian mobiles; real imports normalize through ``mapping``."""
    if raw is None:
        return None
    digits = "".join(ch for ch in raw if ch.isdigit())
    return "+7" + digits[-10:]


def load_demo(hub: Hub) -> DemoReport:
    report = DemoReport()
    card_ids: dict[str, int] = {}
    with hub.unit_of_work() as uow:
        programs = {
            code: uow.programs.get_or_create(code, name, is_legacy=legacy, name_en=PROGRAM_NAMES_EN.get(code))
            for code, (name, legacy) in PROGRAMS.items()
        }
        for code, number, phone, status in DEMO_CARDS:
            card = uow.cards.by_number(programs[code].id, number)
            if card is None:
                card = uow.cards.add(
                    Card(
                        program_id=programs[code].id,
                        number=number,
                        phone_raw=phone,
                        phone_e164=_e164(phone),
                        status=status,
                    )
                )
                report.say(
                    f"created card {mask_card_number(card.number)} in {code} "
                    f"(phone {mask_phone(phone)}, {status.value})"
                )
            card_ids[number] = card.id
        owner = uow.cards.get(card_ids["2000 0000 0003"])
        if owner is not None and owner.customer_id is None:
            customer = uow.customers.add(
                Customer(
                    last_name="Демидова", first_name="Анна", changed_by=Origin.ADMIN, marketing_consent=True
                )
            )
            owner.customer_id = customer.id
            owner.is_primary = True
            report.say("created a customer without phone owning card ••••0003")
        if owner is not None and owner.customer_id is not None:
            customer_row = uow.customers.get(owner.customer_id)
            if customer_row is not None:  # a bound card's status follows its owner's profile
                refresh_spending_status(
                    uow,
                    customer_row,
                    required_fields=hub.settings.profile_required_fields,
                    origin=Origin.ADMIN,
                )
        uow.commit()

    ledger = hub.ledger
    with hub.unit_of_work() as uow:
        first_card = uow.cards.get(card_ids["2000 0000 0001"])
        assert first_card is not None
        # Dates hang on the demo's creation time, so a re-run repeats the very same requests.
        now = first_card.created_at
    year = now + timedelta(days=365)
    operations = [
        ("2000 0000 0001", Decimal("350.00"), "demo:accrual:1", dict(expires_at=year, document="ЧК-000101")),
        (
            "GOLD-77-001",
            Decimal("1200.00"),
            "demo:accrual:2",
            dict(expires_at=now + timedelta(days=20), document="LEGACY"),
        ),
        ("D5 000 123", Decimal("80.50"), "demo:accrual:3", dict(document="LEGACY")),
        ("2000 0000 0002", Decimal("410.00"), "demo:accrual:4", dict(expires_at=year, document="ЧК-000102")),
        (
            "2000 0000 0003",
            Decimal("95.00"),
            "demo:accrual:5",
            dict(available_from=now + timedelta(days=14), document="ЗК-0007"),
        ),
    ]
    for number, amount, key, extra in operations:
        movement = ledger.accrue(card_ids[number], amount, key=key, origin=Origin.MIGRATION, **extra)  # type: ignore[arg-type]
        if not movement.replayed:
            report.say(f"accrued {amount} points on {mask_card_number(normalize_card_number(number))}")
    redemption = ledger.redeem(
        card_ids["2000 0000 0001"],
        Decimal("50.00"),
        key="demo:redeem:1",
        origin=Origin.ONEC,
        document="ЧК-000140",
    )
    if not redemption.replayed:
        report.say("redeemed 50.00 points at a till on ••••0001")
    for number, card_id in card_ids.items():
        balance = ledger.balance(card_id)
        report.say(
            f"card {mask_card_number(normalize_card_number(number))}: available {balance.available}, "
            f"pending {balance.pending}, held {balance.held}, expiring within 30 days {balance.expiring_soon}"
        )
    return report
