"""``bonusbridge migrate notify``: the SMS announcing the new bonus program to the owners of the
cards an applied legacy import brought in (seed 004: "all customers were warned in advance by SMS").

Who gets it: every phone recorded on a non-blocked card of the import that SMS may be sent to
(valid, mobile, of an allowed country: ``sms.otp.phones.acceptable_phone``), **once per phone**,
however many cards share it, and once per campaign across imports (the default campaign is the
program's launch, so a phone in two imports is told once).

Decisions:

- **No marketing consent needed.** The announcement is a service message about the terms of the
  customer's own card (discounts end, points accrue, spending needs a verified phone and a profile),
  which the chain must tell every holder; it is queued as ``transactional``. It offers nothing.
- **No verified phone needed, so the text tells nothing personal.** The phones come from legacy
  paper forms and may belong to someone else now; the text names no card number, balance or name
  (unlike ``sms.notifications``, whose notices tell a balance and go only to verified phones).
- **Quiet hours** (``sms_quiet_hours`` in the customer's zone, else ``sms_default_time_zone``): an
  SMS that would fall inside them waits until they end (``not_before``), as in ``sms.notifications``.
- **Rate** (``per_minute``): messages get ``not_before`` spaced so at most that many fall in each
  minute; a minute inside quiet hours is skipped to the morning. The sender sends what is due.
- **Resumable, never twice**: each SMS's ``message_key`` is ``announce:<campaign>:<phone>`` and the
  queue commits every ``chunk`` phones, so a re-run (after a crash or with a later import) queues only
  the phones not yet queued, and continues the spacing after the last one queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bonusbridge.models import (
    Card,
    CardStatus,
    Customer,
    LegacyCard,
    LegacyImportRun,
    SmsMessage,
    utcnow,
)
from bonusbridge.settings import Settings
from sms.errors import SmsError
from sms.notifications import quiet_until
from sms.otp.phones import acceptable_phone
from sms.outbox import queue_sms
from sms.templates import TEMPLATES

TEMPLATE = "program_announcement"
DEFAULT_CAMPAIGN = "program-launch"
KEY_PREFIX = "announce:"


class NotifyRefused(Exception):
    """The import named is unknown, ambiguous or not (fully) applied."""


@dataclass
class NotifyResult:
    plan_hash: str
    campaign: str
    cards: int = 0
    phones: int = 0
    queued: int = 0
    already_queued: int = 0
    invalid_phones: int = 0
    no_phone: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    invalid_reasons: dict[str, int] = field(default_factory=dict)


def message_key(campaign: str, phone_e164: str) -> str:
    return f"{KEY_PREFIX}{campaign}:{phone_e164}"


def find_run(session: Session, plan: str) -> LegacyImportRun:
    """The applied import whose plan hash is ``plan`` or starts with it (at least 8 characters)."""
    plan = plan.strip().lower()
    if len(plan) < 8:
        raise NotifyRefused("give the plan folder or at least 8 characters of its hash")
    runs = list(
        session.scalars(select(LegacyImportRun).where(LegacyImportRun.plan_hash.startswith(plan)).limit(2))
    )
    if not runs:
        raise NotifyRefused(f"no import of plan {plan[:12]} was applied here")
    if len(runs) > 1:
        raise NotifyRefused(f"several imports start with {plan}: give more of the hash")
    run = runs[0]
    if run.finished_at is None:
        raise NotifyRefused(f"import {run.plan_hash[:12]} is not fully applied: run migrate apply first")
    return run


def _zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


class _Spacer:
    """Hands out send times: at most ``per_minute`` a minute from ``start``, never in quiet hours."""

    def __init__(self, start: datetime, per_minute: int | None, quiet_hours: str) -> None:
        self.slot = start
        self.in_slot = 0
        self.per_minute = per_minute
        self.quiet_hours = quiet_hours

    def next(self, zone: ZoneInfo) -> datetime:
        wake = quiet_until(self.slot, zone, self.quiet_hours)
        if wake is not None:
            if self.per_minute is None:
                return wake  # unspaced: the quiet hours only delay this one
            self.slot, self.in_slot = wake, 0
        at = self.slot
        if self.per_minute is not None:
            self.in_slot += 1
            if self.in_slot >= self.per_minute:
                self.slot, self.in_slot = self.slot + timedelta(minutes=1), 0
        return at


def notify_import(
    engine: Engine,
    settings: Settings,
    plan: str,
    *,
    campaign: str = DEFAULT_CAMPAIGN,
    per_minute: int | None = None,
    chunk: int = 500,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    progress: Callable[[int], object] | None = None,
) -> NotifyResult:
    """Queue the announcement to every phone of the applied import ``plan`` not told yet."""
    if per_minute is not None and per_minute < 1:
        raise ValueError("per_minute must be at least 1")
    template = TEMPLATES[TEMPLATE]
    now = clock()
    with Session(engine) as session:
        run = find_run(session, plan)
        result = NotifyResult(plan_hash=run.plan_hash, campaign=campaign)
        rows = session.execute(
            select(Card.phone_e164, Card.phone_raw, Customer.locale, Customer.time_zone)
            .select_from(LegacyCard)
            .join(Card, Card.id == LegacyCard.card_id)
            .outerjoin(Customer, Customer.id == Card.customer_id)
            .where(LegacyCard.plan_hash == run.plan_hash, Card.status != CardStatus.BLOCKED)
            .order_by(Card.id)
        ).all()
        # One recipient per phone: the first card's customer decides the language and zone.
        recipients: dict[str, tuple[str | None, str | None]] = {}
        for phone_e164, phone_raw, locale, time_zone in rows:
            result.cards += 1
            raw = phone_e164 or phone_raw
            if not raw:
                result.no_phone += 1
                continue
            try:
                phone = acceptable_phone(raw, settings)
            except SmsError as refused:
                result.invalid_phones += 1
                reason = getattr(refused, "code", type(refused).__name__)
                result.invalid_reasons[str(reason)] = result.invalid_reasons.get(str(reason), 0) + 1
                continue
            recipients.setdefault(phone, (locale, time_zone))
        result.phones = len(recipients)

        prefix = f"{KEY_PREFIX}{campaign}:"
        done = set(
            session.scalars(select(SmsMessage.message_key).where(SmsMessage.message_key.startswith(prefix)))
        )
        last = session.scalar(
            select(func.max(SmsMessage.not_before)).where(SmsMessage.message_key.startswith(prefix))
        )
        start = now
        if per_minute is not None and last is not None and last.astimezone(UTC) >= now:
            start = last.astimezone(UTC) + timedelta(minutes=1)  # resume the spacing after the last one
        spacer = _Spacer(start, per_minute, settings.sms_quiet_hours)

        pending = 0
        for phone in sorted(recipients):
            key = message_key(campaign, phone)
            if key in done:
                result.already_queued += 1
                continue
            locale, time_zone = recipients[phone]
            lang = locale if locale in ("ru", "en") else "ru"
            at = spacer.next(_zone(time_zone, settings.sms_default_time_zone))
            result.first_at = at if result.first_at is None else min(result.first_at, at)
            result.last_at = at if result.last_at is None else max(result.last_at, at)
            result.queued += 1
            if dry_run:
                continue
            queue_sms(
                session,
                key=key,
                kind=template.kind,
                template=template.name,
                phone_e164=phone,
                body=template.render(lang),
                locale=lang,
                not_before=at,
                now=now,
            )
            pending += 1
            if pending >= chunk:
                session.commit()
                if progress is not None:
                    progress(pending)
                pending = 0
        if not dry_run:
            session.commit()
            if progress is not None and pending:
                progress(pending)
    return result
