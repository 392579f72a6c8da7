"""SMS notices: accruals from the tills and the website, merges, expiring points, profile reminders;
only to verified phones, marketing only with consent, nothing at night but codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, CardStatus, Customer, Origin, SmsMessage
from bonusbridge.settings import load_settings
from sms.notifications import Notifier, quiet_until
from tests.conftest import FakeClock

PHONE = "+79161234567"
MOSCOW = ZoneInfo("Europe/Moscow")
NOON_MSK = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 12:00 in Moscow


@pytest.fixture
def noon(clock: FakeClock) -> FakeClock:
    clock.now = NOON_MSK
    return clock


def notifier(db: Engine, clock: FakeClock, **overrides: object) -> Notifier:
    from sqlalchemy.orm import sessionmaker

    return Notifier(sessionmaker(db, expire_on_commit=False), load_settings(**overrides), clock)


def customer_with_card(
    db: Engine,
    card_id: int,
    *,
    verified: bool = True,
    consent: bool = False,
    locale: str | None = None,
    time_zone: str | None = None,
    phone: str = PHONE,
) -> int:
    from sqlalchemy.orm import Session

    with Session(db) as session:
        customer = Customer(
            phone_e164=phone,
            phone_verified_at=NOON_MSK - timedelta(days=1) if verified else None,
            first_name="Анна",
            marketing_consent=consent,
            locale=locale,
            time_zone=time_zone,
        )
        session.add(customer)
        session.flush()
        session.get_one(Card, card_id).customer_id = customer.id
        session.commit()
        return customer.id


def messages(db: Engine) -> list[SmsMessage]:
    from sqlalchemy.orm import Session

    with Session(db) as session:
        return list(session.scalars(select(SmsMessage).order_by(SmsMessage.id)))


def card_number(db: Engine, card_id: int) -> str:
    from sqlalchemy.orm import Session

    with Session(db) as session:
        return session.get_one(Card, card_id).number


# --- quiet hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected_local"),
    [
        ("2026-06-01T12:00", None),
        ("2026-06-01T20:59", None),
        ("2026-06-01T21:00", "2026-06-02T09:00"),
        ("2026-06-01T23:30", "2026-06-02T09:00"),
        ("2026-06-02T03:00", "2026-06-02T09:00"),
        ("2026-06-02T09:00", None),
    ],
)
def test_quiet_hours_span_midnight_in_the_customers_zone(local, expected_local):
    now = datetime.fromisoformat(local).replace(tzinfo=MOSCOW).astimezone(UTC)
    until = quiet_until(now, MOSCOW, "21:00-09:00")
    if expected_local is None:
        assert until is None
    else:
        assert until == datetime.fromisoformat(expected_local).replace(tzinfo=MOSCOW).astimezone(UTC)


def test_quiet_hours_within_one_day():
    zone = ZoneInfo("Asia/Vladivostok")
    now = datetime(2026, 6, 1, 13, 30, tzinfo=zone)
    assert quiet_until(now, zone, "13:00-14:00") == datetime(2026, 6, 1, 14, 0, tzinfo=zone)
    assert quiet_until(now, zone, "14:00-15:00") is None


# --- accruals and merges -------------------------------------------------------------------------


def test_the_first_scan_starts_at_the_newest_movement_history_is_not_announced(db, noon, make_card):
    ledger = LedgerService(db, clock=noon)
    card = make_card()
    customer_with_card(db, card)
    ledger.accrue(card, Decimal("500"), key="opening", origin=Origin.ONEC)
    n = notifier(db, noon)
    assert n.scan_movements() == 0
    assert messages(db) == []


def test_an_accrual_from_the_tills_is_announced_once_with_the_balance(db, noon, make_card):
    ledger = LedgerService(db, clock=noon)
    card = make_card()
    customer_with_card(db, card)
    n = notifier(db, noon)
    n.scan_movements()  # starts the cursor
    ledger.accrue(card, Decimal("100"), key="r1", origin=Origin.ONEC)
    ledger.accrue(card, Decimal("50.5"), key="r2", origin=Origin.WEBSITE)
    assert n.scan_movements() == 2
    assert n.scan_movements() == 0, "a second scan announces nothing twice"
    sent = messages(db)
    last4 = card_number(db, card)[-4:]
    assert [m.template for m in sent] == ["points_accrued", "points_accrued"]
    assert sent[0].body == f"На карту ••••••••{last4} начислено бонусов: 100,00. Баланс: 150,50."
    assert "начислено бонусов: 50,50" in (sent[1].body or "")
    assert "Баланс: 150,50" in (sent[1].body or "")
    assert all(m.phone_e164 == PHONE and m.kind == "transactional" and m.not_before is None for m in sent)


def test_accruals_of_a_migration_or_an_administrator_are_not_announced(db, noon, make_card):
    ledger = LedgerService(db, clock=noon)
    card = make_card()
    customer_with_card(db, card)
    n = notifier(db, noon)
    n.scan_movements()
    ledger.accrue(card, Decimal("100"), key="m1", origin=Origin.MIGRATION)
    assert n.scan_movements() == 0 and messages(db) == []


def test_an_unverified_phone_receives_no_notice(db, noon, make_card):
    ledger = LedgerService(db, clock=noon)
    card = make_card()
    customer_with_card(db, card, verified=False)
    n = notifier(db, noon)
    n.scan_movements()
    ledger.accrue(card, Decimal("100"), key="r1", origin=Origin.ONEC)
    assert n.scan_movements() == 0 and messages(db) == []


def test_an_accrual_at_night_waits_for_the_morning_in_the_customers_zone(db, noon, make_card):
    ledger = LedgerService(db, clock=noon)
    card = make_card()
    customer_with_card(db, card, time_zone="Asia/Vladivostok")  # UTC+10: 09:00 UTC is 19:00 there
    n = notifier(db, noon)
    n.scan_movements()
    noon.advance(timedelta(hours=3))  # 22:00 in Vladivostok, 15:00 in Moscow
    ledger.accrue(card, Decimal("10"), key="r1", origin=Origin.ONEC)
    assert n.scan_movements() == 1
    (message,) = messages(db)
    morning = datetime(2026, 6, 2, 9, 0, tzinfo=ZoneInfo("Asia/Vladivostok"))
    assert message.not_before == morning.astimezone(UTC)


def test_notices_follow_the_customers_language(db, noon, make_card):
    ledger = LedgerService(db, clock=noon)
    card = make_card()
    customer_with_card(db, card, locale="en")
    n = notifier(db, noon)
    n.scan_movements()
    ledger.accrue(card, Decimal("7"), key="r1", origin=Origin.ONEC)
    n.scan_movements()
    (message,) = messages(db)
    assert message.locale == "en" and (message.body or "").startswith("7.00 bonus points added to card")


def test_a_merge_is_announced_to_the_owner_of_the_primary_card(db, noon, make_card):
    ledger = LedgerService(db, clock=noon)
    primary, old = make_card(), make_card()
    customer_with_card(db, primary)
    ledger.accrue(old, Decimal("40"), key="old", origin=Origin.MIGRATION)
    n = notifier(db, noon)
    n.scan_movements()
    ledger.transfer(
        old,
        primary,
        None,
        key="merge/1",
        origin=Origin.WEBSITE,
        reason=f"merged into {card_number(db, primary)}",
    )
    assert n.scan_movements() == 1
    (message,) = messages(db)
    assert message.template == "cards_merged" and message.kind == "transactional"
    assert card_number(db, old)[-4:] in (message.body or "") and "(40,00)" in (message.body or "")


# --- reminders -------------------------------------------------------------------------------------


def test_expiring_points_are_reminded_only_with_marketing_consent_once_per_date(db, noon, make_card):
    ledger = LedgerService(db, clock=noon)
    with_consent, without = make_card(), make_card()
    customer_with_card(db, with_consent, consent=True)
    customer_with_card(db, without, consent=False, phone="+79031112233")
    for card in (with_consent, without):
        ledger.accrue(
            card, Decimal("30"), key=f"e{card}", origin=Origin.ONEC, expires_at=noon.now + timedelta(days=5)
        )
        ledger.accrue(
            card, Decimal("70"), key=f"l{card}", origin=Origin.ONEC, expires_at=noon.now + timedelta(days=60)
        )
    n = notifier(db, noon)
    assert n.scan_expiring() == 1
    assert n.scan_expiring() == 0
    (message,) = messages(db)
    assert message.kind == "marketing" and message.template == "points_expiring"
    assert "сгорят бонусы: 30,00" in (message.body or "") and "06.06.2026" in (message.body or "")


def test_owners_of_accumulation_only_cards_are_reminded_monthly_to_fill_the_profile(db, noon, make_card):
    ledger = LedgerService(db, clock=noon)
    card = make_card(status=CardStatus.ACCUMULATION_ONLY)
    customer_with_card(db, card, consent=True)
    ledger.accrue(card, Decimal("25"), key="a", origin=Origin.ONEC)
    n = notifier(db, noon)
    assert n.scan_incomplete_profiles() == 1
    noon.advance(timedelta(days=3))
    assert n.scan_incomplete_profiles() == 0
    noon.advance(timedelta(days=31))
    assert n.scan_incomplete_profiles() == 1
    assert all(m.template == "fill_profile" and "25,00" in (m.body or "") for m in messages(db))


def test_the_programs_reminder_goes_once_per_period_to_cards_at_the_threshold(db, noon, make_card):
    """Seed 003's rule through the notifier: 300 usable points (threshold 200), 100 of them expiring
    within a month; reminded now, not again before the 3-month period is over, then again."""
    from bonusbridge.points import store
    from bonusbridge.settings import load_settings

    with db.begin() as conn:
        store.add_version(
            conn,
            load_settings(),
            {
                "effective_from": (noon.now - timedelta(days=1)).isoformat(),
                "spend_threshold": "200",
                "reminder_period_months": 3,
                "reminder_horizon_months": 1,
            },
            now=noon.now - timedelta(days=2),
            actor="test",
        )
    ledger = LedgerService(db, clock=noon)
    at_threshold, below = make_card(), make_card()
    customer_with_card(db, at_threshold, consent=True)
    customer_with_card(db, below, consent=True, phone="+79031112233")
    ledger.accrue(
        at_threshold, Decimal("100"), key="soon", origin=Origin.ONEC, expires_at=noon.now + timedelta(days=20)
    )
    ledger.accrue(
        at_threshold,
        Decimal("200"),
        key="late",
        origin=Origin.ONEC,
        expires_at=noon.now + timedelta(days=300),
    )
    ledger.accrue(
        below, Decimal("150"), key="b", origin=Origin.ONEC, expires_at=noon.now + timedelta(days=20)
    )
    n = notifier(db, noon)
    assert n.scan_program_reminders() == 1
    assert n.scan_program_reminders() == 0
    (message,) = messages(db)
    assert message.template == "points_reminder" and message.kind == "marketing"
    assert "бонусов: 300,00" in (message.body or "") and "из них 100,00" in (message.body or "")
    noon.advance(timedelta(days=62))  # two months later: still within the period
    ledger.accrue(
        at_threshold, Decimal("50"), key="more", origin=Origin.ONEC, expires_at=noon.now + timedelta(days=20)
    )
    assert n.scan_program_reminders() == 0
    noon.advance(timedelta(days=31))  # the period is over (and those 50 expired meanwhile)
    assert n.scan_program_reminders() == 0  # nothing usable expires within the horizon now
    ledger.accrue(
        at_threshold, Decimal("40"), key="again", origin=Origin.ONEC, expires_at=noon.now + timedelta(days=20)
    )
    assert n.scan_program_reminders() == 1
