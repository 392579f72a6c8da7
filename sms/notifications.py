"""SMS notices about a customer's points and cards, queued from what the ledger recorded.

The notifier does not hook into the ledger: it reads movements after a durable cursor, so a notice
is never lost when a worker stops (the cursor only moves in the transaction that queued the
notices) and never doubled (each notice's ``message_key`` names the movement or fact it is about).
Who gets what:

- only a customer's *verified* phone receives notices. A phone copied from a legacy paper form may
  belong to someone else, and a notice tells the card's balance;
- marketing reminders (points expiring, profile to fill) need ``marketing_consent``;
- nothing but a one-time code is sent during quiet hours in the customer's time zone: the notice
  waits in the queue (``not_before``) until the morning.

The first scan starts at the newest movement: history (a migration's opening balances) is not
announced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date
from babel.numbers import format_decimal
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bonusbridge.models import (
    Card,
    CardBalance,
    CardStatus,
    Customer,
    Lot,
    Movement,
    MovementKind,
    Origin,
    SmsMessage,
    SyncCursor,
)
from bonusbridge.points import reminders as points_reminders
from bonusbridge.points import store as points_store
from bonusbridge.privacy import mask_card_number
from bonusbridge.settings import Settings
from sms.outbox import SmsKind, queue_sms
from sms.templates import TEMPLATES

CURSOR = "sms.notified_movements"
#: Accruals announced by SMS: the tills' (through 1C) and the website's, not a migration's or an
#: administrator's corrections.
ANNOUNCED_ORIGINS = (Origin.ONEC, Origin.WEBSITE)
MERGE_REASON = "merged into "


def quiet_until(now: datetime, zone: ZoneInfo, quiet_hours: str) -> datetime | None:
    """When the quiet hours around ``now`` end (UTC), or None when ``now`` is not inside them.

    ``quiet_hours`` is ``HH:MM-HH:MM`` local time and may span midnight (21:00-09:00)."""
    start_text, end_text = (part.strip() for part in quiet_hours.split("-"))
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start == end:
        return None
    spans_midnight = start > end
    inside = (clock >= start or clock < end) if spans_midnight else (start <= clock < end)
    if not inside:
        return None
    end_day = local.date() + timedelta(days=1) if spans_midnight and clock >= start else local.date()
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(now.tzinfo)


def _zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


#: The cabinet's formats (``web_cabinet.formats``), so an SMS reads like the page: "1 234,50" and
#: 07.12.2026 in Russian, "1,234.50" and 2026-12-07 in English.
_POINTS = "#,##0.00"
_DAY = {"ru": "dd.MM.yyyy", "en": "yyyy-MM-dd"}


def _locale(customer: Customer) -> str:
    return customer.locale if customer.locale in ("ru", "en") else "ru"


def _points(amount: Decimal, locale: str) -> str:
    """Points as the customer reads them in their language (Babel, CLDR): "80,50", "1,234.50"."""
    return format_decimal(Decimal(amount), format=_POINTS, locale=locale)


def _day(day: date, locale: str) -> str:
    return format_date(day, _DAY.get(locale, _DAY["ru"]), locale=locale)


class Notifier:
    def __init__(
        self, session_factory: sessionmaker[Session], settings: Settings, clock: Callable[[], datetime]
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.clock = clock

    def notify(
        self, session: Session, customer: Customer, template_name: str, *, key: str, **params: object
    ) -> SmsMessage | None:
        """Queue one notice to ``customer`` in ``session`` (the caller commits), or None when the
        rules say no (no verified phone, no consent for marketing) or it was queued before."""
        template = TEMPLATES[template_name]
        if session.scalar(select(SmsMessage.id).where(SmsMessage.message_key == key)) is not None:
            return None  # already queued: this notice is about a fact already announced
        if not customer.phone_e164 or customer.phone_verified_at is None:
            return None
        if template.kind == SmsKind.MARKETING and not customer.marketing_consent:
            return None
        now = self.clock()
        locale = _locale(customer)
        zone = _zone(customer.time_zone, self.settings.sms_default_time_zone)
        return queue_sms(
            session,
            key=key,
            kind=template.kind,
            template=template.name,
            phone_e164=customer.phone_e164,
            body=template.render(locale, **params),
            locale=locale,
            customer_id=customer.id,
            not_before=quiet_until(now, zone, self.settings.sms_quiet_hours),
            now=now,
        )

    # --- accruals and merges, from the movements ---------------------------------------------

    def scan_movements(self, batch: int = 500) -> int:
        """Queue notices for accruals and merges recorded since the last scan; returns how many."""
        queued = 0
        with self.session_factory() as session:
            cursor = session.get(SyncCursor, CURSOR)
            if cursor is None:
                newest = session.scalar(select(func.max(Movement.id))) or 0
                session.add(SyncCursor(name=CURSOR, value=json.dumps({"last_id": newest})))
                session.commit()
                return 0
            last_id = int(json.loads(cursor.value)["last_id"])
            movements = list(
                session.scalars(
                    select(Movement).where(Movement.id > last_id).order_by(Movement.id).limit(batch)
                )
            )
            for movement in movements:
                queued += self._notice_for(session, movement)
            if movements:
                cursor.value = json.dumps({"last_id": movements[-1].id})
            session.commit()
        return queued

    def _notice_for(self, session: Session, movement: Movement) -> int:
        card = session.get(Card, movement.card_id)
        if card is None or card.customer_id is None:
            return 0
        customer = session.get(Customer, card.customer_id)
        if customer is None:
            return 0
        balance = session.get(CardBalance, card.id)
        total = balance.total if balance is not None else Decimal("0")
        lang = _locale(customer)
        if movement.kind == MovementKind.ACCRUAL and movement.origin in ANNOUNCED_ORIGINS:
            message = self.notify(
                session,
                customer,
                "points_accrued",
                key=f"accrued:{movement.id}",
                amount=_points(movement.amount, lang),
                card=mask_card_number(card.number),
                balance=_points(total, lang),
            )
            return int(message is not None)
        if movement.kind == MovementKind.TRANSFER_IN and (movement.reason or "").startswith(MERGE_REASON):
            merged = session.get(Card, movement.counterpart_card_id) if movement.counterpart_card_id else None
            message = self.notify(
                session,
                customer,
                "cards_merged",
                key=f"merged:{movement.id}",
                merged=mask_card_number(merged.number if merged else None),
                amount=_points(movement.amount, lang),
                card=mask_card_number(card.number),
            )
            return int(message is not None)
        return 0

    # --- reminders -------------------------------------------------------------------------

    def scan_expiring(self, within: timedelta = timedelta(days=7)) -> int:
        """One reminder per card and expiry date for points that expire within ``within``."""
        now = self.clock()
        queued = 0
        with self.session_factory() as session:
            rows = session.execute(
                select(Lot.card_id, Lot.expires_at, func.sum(Lot.remaining - Lot.held))
                .where(Lot.expires_at > now, Lot.expires_at <= now + within, Lot.remaining > 0)
                .group_by(Lot.card_id, Lot.expires_at)
                .order_by(Lot.card_id, Lot.expires_at)
            ).all()
            for card_id, expires_at, amount in rows:
                card = session.get(Card, card_id)
                if card is None or card.customer_id is None or card.status == CardStatus.BLOCKED:
                    continue
                customer = session.get(Customer, card.customer_id)
                if customer is None or expires_at is None or Decimal(amount) <= 0:
                    continue
                zone = _zone(customer.time_zone, self.settings.sms_default_time_zone)
                day = expires_at.astimezone(zone).date()
                message = self.notify(
                    session,
                    customer,
                    "points_expiring",
                    key=f"expiring:{card_id}:{day.isoformat()}",
                    amount=_points(Decimal(amount), _locale(customer)),
                    card=mask_card_number(card.number),
                    date=_day(day, _locale(customer)),
                )
                queued += int(message is not None)
            session.commit()
        return queued

    def scan_program_reminders(self) -> int:
        """Seed 003's reminder: usable points at the spend threshold, some expiring within the
        program's horizon, at most once every ``reminder_period_months`` per card. Who is due is the
        points engine's rule (``bonusbridge.points.reminders``); the reminder is marked sent in the
        transaction that queues its SMS, so a crash neither loses nor repeats it."""
        now = self.clock()
        queued = 0
        with self.session_factory() as session:
            conn = session.connection()
            rules = points_store.load(conn, self.settings).version_at(now).rules
            for due in points_reminders.due(conn, rules, now):
                card = session.get(Card, due.card_id)
                if card is None or card.customer_id is None or card.status == CardStatus.BLOCKED:
                    continue
                customer = session.get(Customer, card.customer_id)
                if customer is None:
                    continue
                zone = _zone(customer.time_zone, self.settings.sms_default_time_zone)
                message = self.notify(
                    session,
                    customer,
                    "points_reminder",
                    key=f"reminder:{card.id}:{now.astimezone(zone).date().isoformat()}",
                    usable=_points(due.usable, _locale(customer)),
                    amount=_points(due.expiring, _locale(customer)),
                    card=mask_card_number(card.number),
                    date=_day(due.first_expiry.astimezone(zone).date(), _locale(customer)),
                )
                if message is not None:
                    points_reminders.mark_sent(conn, card.id, now)
                    queued += 1
            session.commit()
        return queued

    def scan_incomplete_profiles(self) -> int:
        """At most once a month, remind owners of accumulation-only cards with points to fill their
        profile: until they do, the points cannot be spent."""
        now = self.clock()
        queued = 0
        with self.session_factory() as session:
            rows = session.execute(
                select(Card, CardBalance.total)
                .join(CardBalance, CardBalance.card_id == Card.id)
                .where(
                    Card.status == CardStatus.ACCUMULATION_ONLY,
                    Card.customer_id.is_not(None),
                    CardBalance.total > 0,
                )
                .order_by(Card.id)
            ).all()
            for card, total in rows:
                customer = session.get(Customer, card.customer_id)
                if customer is None:
                    continue
                message = self.notify(
                    session,
                    customer,
                    "fill_profile",
                    key=f"fill_profile:{customer.id}:{now:%Y-%m}",
                    card=mask_card_number(card.number),
                    balance=_points(total, _locale(customer)),
                )
                queued += int(message is not None)
            session.commit()
        return queued
