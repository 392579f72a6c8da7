"""Sending and checking one-time codes, with every limit that keeps guessing and SMS pumping hopeless.

Why each rule exists, and what was decided where the issue left a choice:

- **The database is the limiter's memory.** Sends are counted from ``otp_challenges`` rows (per phone
  per hour and per day, per client IP per hour, per browser session per day, everyone per hour);
  failures, the lock and the resend cooldown live in the phone's ``otp_phone_guards`` row. Every
  request and every check of one phone first locks that row (``SELECT … FOR UPDATE`` on PostgreSQL;
  SQLite's ``BEGIN IMMEDIATE`` serializes anyway), so per-phone limits are exact under concurrency.
  Per-IP, per-session and global counts are not serialized across phones: concurrent requests can
  overshoot those caps by the number of requests in flight, which is harmless for caps meant
  against floods.
- **Unknown phones look like known ones.** The service never reads customers: any acceptable phone
  gets the same ``CodeRequested`` shape, the same SMS and the same work, so neither the answer nor
  its timing tells whether the phone is a customer's.
- **Resend cooldown.** ``otp_resend_cooldown_seconds`` after the first code, doubled for each code
  asked for in a row (60 s, 120 s, 240 s …), capped at an hour; an hour without a code ends the
  streak. The per-phone hourly cap usually stops a streak well before the cap.
- **Failures: per device, per IP, and a per-phone slowdown (issue 17).** Anyone who knows a phone
  can ask for its codes and guess, so no failure of a stranger may lock its owner out for long:
  - every wrong check counts on the code (``otp_max_checks`` checks per code, then
    ``TooManyAttempts`` even for the right code);
  - on the browser session (the device) that checked: ``otp_max_failures`` wrong codes within a
    day and that session may neither check nor ask for a code of that phone for a day; its codes
    are its own (each session checks only the newest code *it* asked for), so a stranger's request
    neither supersedes the owner's code nor stretches the owner's resend cooldown, which are kept
    per session and phone too;
  - on the client IP: ``otp_max_failures_per_ip`` within an hour and that IP may check no more
    until the hour is over;
  - on the phone, from anyone: the first ``otp_phone_free_failures`` cost nothing; after each
    further one the phone's next check waits ``otp_phone_wait_seconds``, four times longer each
    time (1, 4, 16, 64 … minutes, at most a day); the count starts again after two days without a
    failure. Neither a new code nor a success resets it. A code may still be asked for meanwhile.
  So a stranger in another session is stopped by their session's cap before the phone slows at
  all: the owner, asking for a code in their own session, logs in at once.
- **Brute-force bound.** The phone's waits bound every attacker, however many sessions and IPs they
  use: ``otp_phone_free_failures`` + 7 checks in the first day (the waits add up to 22 hours), then
  one a day, i.e. about 20 in a week, a chance of 2·10⁻⁵ against 10⁶ codes.
- **A malformed code** (not six digits once spaces and hyphens are dropped) counts as a wrong check,
  with the same answer (``WrongCode``): every submission costs a check, so the form of the input
  cannot be used to probe anything, and the rule stays "N submissions per code".
- **Only the newest code** of a phone and purpose is valid. A used (consumed), expired or superseded
  code, a ``challenge_id`` that is not the newest one of that phone and purpose, or a phone that
  never got a code, all answer ``CodeExpired`` and count no failure: there is nothing to guess
  against. So a second verification of a used code answers ``CodeExpired``.
- **Refusals are checked in this order:** phone (``sms.otp.phones``), session or IP locked, resend cooldown,
  phone/session/IP caps (``TooManySends`` with the longest wait among them), then the global cap.
- **Global hourly cap** (``sms_global_hourly_cap``): beyond it nobody gets a code
  (``SendingSuspended``) and ``bonusbridge.alerts`` logs one critical alert per hour, without any
  personal data. That the alert was raised is kept in the database (a guard row under the key
  ``GLOBAL_GUARD_KEY``, which no E.164 phone can equal: ``locked_until`` = end of the alert's
  hour), so several processes still alert once.
- **Client IPs** are kept as given for IPv4; an IPv6 address counts as its /64 network (one home
  or phone gets a whole /64, so per-address caps would be meaningless); an IPv4-mapped IPv6 address
  counts as the IPv4 one. A browser session id is kept only as an HMAC (``codes.session_hash``).
- **Logs** name the phone masked (``bonusbridge.privacy.mask_phone``) and never the code.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from bonusbridge.db import create_session_factory
from bonusbridge.models import OtpChallenge, OtpPhoneGuard, utcnow
from bonusbridge.privacy import mask_phone
from bonusbridge.settings import Settings
from sms.errors import (
    LOCALES,
    CodeExpired,
    ResendTooSoon,
    SendingSuspended,
    SmsError,
    TooManyAttempts,
    TooManySends,
    WrongCode,
)
from sms.otp.codes import check_purpose, code_hmac, code_matches, new_code, session_hash
from sms.otp.phones import acceptable_phone
from sms.outbox import SmsKind, queue_sms
from sms.templates import TEMPLATES

log = logging.getLogger(__name__)
alerts = logging.getLogger("bonusbridge.alerts")

Clock = Callable[[], datetime]

DEFAULT_PURPOSE = "cabinet_login"
OTP_TEMPLATE = "otp_code"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
STREAK_QUIET = HOUR  # this long without a code ends a streak of resends
FAILURES_QUIET = 2 * DAY  # this long without a failure and a phone's slowdown starts again
MAX_PHONE_WAIT = DAY
MAX_COOLDOWN = HOUR
SESSION_WINDOW = DAY  # a session's codes are counted over the last day
GLOBAL_GUARD_KEY = "*global*"  # the guard row remembering the global cap's alert; not a phone


@dataclass(frozen=True)
class CodeRequested:
    """The answer to a code request, the same shape for every acceptable phone.

    ``resend_after`` is how many seconds until this phone may ask for another code.
    """

    challenge_id: int
    expires_at: datetime
    resend_after: int
    phone_masked: str


@dataclass(frozen=True)
class VerifiedPhone:
    """A phone proven by a code: the caller may now treat ``phone_e164`` as the customer's."""

    phone_e164: str
    verified_at: datetime


class _GlobalCapReached(Exception):
    """Raised inside the request transaction so that it rolls back before the suspension is noted."""


class OtpService:
    """Requests and checks one-time codes; each call is one database transaction of its own."""

    def __init__(
        self,
        engine_or_session_factory: Engine | sessionmaker[Session],
        settings: Settings,
        clock: Clock = utcnow,
    ) -> None:
        if isinstance(engine_or_session_factory, Engine):
            self._sessions = create_session_factory(engine_or_session_factory)
        else:
            self._sessions = engine_or_session_factory
        self.settings = settings
        self.clock = clock
        self._secret = settings.otp_secret.get_secret_value().encode()
        self._day_zone = ZoneInfo(settings.sms_default_time_zone)

    # ------------------------------------------------------------------------------- requesting

    def request_code(
        self,
        raw_phone: str,
        *,
        purpose: str = DEFAULT_PURPOSE,
        client_ip: str | None = None,
        session_id: str | None = None,
        locale: str = "ru",
    ) -> CodeRequested:
        """Create a code for the phone and queue its SMS, or raise the typed refusal.

        The challenge, the SMS and the guard's new cooldown are committed together, so a refused
        or failed request sends nothing.
        """
        phone = acceptable_phone(raw_phone, self.settings)
        purpose = check_purpose(purpose)
        ip_key = client_key(client_ip)
        session_key = session_hash(self._secret, session_id) if session_id else None
        locale = locale if locale in LOCALES else "ru"
        now = self.clock()
        try:
            with self._sessions() as session, session.begin():
                requested = self._issue(session, phone, purpose, ip_key, session_key, locale, now)
        except _GlobalCapReached:
            self._note_suspension(now)
            log.warning("otp: code for %s refused: sending suspended", mask_phone(phone))
            raise SendingSuspended("the global hourly cap of one-time codes was reached") from None
        except SmsError as refused:
            log.info("otp: code for %s refused: %s", mask_phone(phone), refused.code)
            raise
        log.info("otp: code requested for %s (challenge %d)", requested.phone_masked, requested.challenge_id)
        return requested

    def _issue(
        self,
        session: Session,
        phone: str,
        purpose: str,
        ip_key: str | None,
        session_key: str | None,
        locale: str,
        now: datetime,
    ) -> CodeRequested:
        phone_guard = locked_guard(session, phone)
        for key in self._failure_keys(phone, session_key, ip_key):
            locked = locked_guard(session, key)
            if locked.locked_until is not None and now < locked.locked_until:
                raise TooManyAttempts(
                    "too many wrong codes from here", retry_after=_seconds(locked.locked_until - now)
                )
        # the resend cooldown is the session's (with this phone): a stranger's codes do not stretch it
        guard = locked_guard(session, self._device_key(phone, session_key)) if session_key else phone_guard
        if guard.last_sent_at is None or now - guard.last_sent_at >= STREAK_QUIET:
            guard.streak = 0
        if guard.next_send_at is not None and now < guard.next_send_at:
            raise ResendTooSoon("resend cooldown", retry_after=_seconds(guard.next_send_at - now))
        self._enforce_caps(session, phone, ip_key, session_key, now)

        code = new_code()
        challenge = OtpChallenge(
            phone_e164=phone,
            purpose=purpose,
            code_hmac=code_hmac(self._secret, phone, purpose, code),
            client_ip=ip_key,
            session_hash=session_key,
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.otp_ttl_seconds),
            checks=0,
        )
        session.add(challenge)
        session.flush()
        message = queue_sms(
            session,
            key=f"otp:{challenge.id}",
            kind=SmsKind.OTP,
            template=OTP_TEMPLATE,
            phone_e164=phone,
            body=TEMPLATES[OTP_TEMPLATE].render(locale, code=code),
            locale=locale,
            now=now,
        )
        challenge.sms_message_id = message.id

        guard.streak += 1
        cooldown = self.cooldown(guard.streak)
        guard.last_sent_at = now
        guard.next_send_at = now + cooldown
        if guard is not phone_guard:  # callers without a session (CLI, tests) wait for every code
            if phone_guard.last_sent_at is None or now - phone_guard.last_sent_at >= STREAK_QUIET:
                phone_guard.streak = 0
            phone_guard.streak += 1
            phone_guard.last_sent_at = now
            phone_guard.next_send_at = now + self.cooldown(phone_guard.streak)
        return CodeRequested(
            challenge_id=challenge.id,
            expires_at=challenge.expires_at,
            resend_after=_seconds(cooldown),
            phone_masked=mask_phone(phone),
        )

    def _device_key(self, phone: str, session_key: str) -> str:
        """The guard row of one browser session with one phone (``d`` + 15 hex: never an E.164 phone)."""
        mac = hmac.new(self._secret, f"{phone}|{session_key}".encode(), hashlib.sha256)
        return "d" + mac.hexdigest()[:15]

    def _ip_key(self, ip_key: str) -> str:
        """The guard row counting one client IP's wrong codes (``i`` + 15 hex)."""
        return "i" + hmac.new(self._secret, f"ip|{ip_key}".encode(), hashlib.sha256).hexdigest()[:15]

    def _failure_keys(self, phone: str, session_key: str | None, ip_key: str | None) -> list[str]:
        keys = []
        if session_key is not None:
            keys.append(self._device_key(phone, session_key))
        if ip_key is not None:
            keys.append(self._ip_key(ip_key))
        return keys

    def cooldown(self, streak: int) -> timedelta:
        """The wait after the ``streak``-th code in a row: the base, doubled per repeat, at most an hour."""
        base = timedelta(seconds=self.settings.otp_resend_cooldown_seconds)
        doublings = min(max(streak - 1, 0), 20)  # 2**20 minutes is far past the cap: no overflow
        return min(base * (1 << doublings), MAX_COOLDOWN)

    def _enforce_caps(
        self, session: Session, phone: str, ip_key: str | None, session_key: str | None, now: datetime
    ) -> None:
        settings = self.settings
        caps: list[tuple[ColumnElement[bool], timedelta, int]] = [
            (OtpChallenge.phone_e164 == phone, HOUR, settings.otp_max_per_phone_hour),
            (OtpChallenge.phone_e164 == phone, DAY, settings.otp_max_per_phone_day),
        ]
        if session_key is not None:
            caps.append(
                (OtpChallenge.session_hash == session_key, SESSION_WINDOW, settings.otp_max_per_session)
            )
        if ip_key is not None:
            caps.append((OtpChallenge.client_ip == ip_key, HOUR, settings.otp_max_per_ip_hour))
        waits = [
            free_at - now
            for where, window, limit in caps
            if (free_at := slot_frees_at(session, now, window, limit, where)) is not None
        ]
        if waits:
            raise TooManySends("too many codes requested", retry_after=_seconds(max(waits)))
        if slot_frees_at(session, now, HOUR, settings.sms_global_hourly_cap) is not None:
            raise _GlobalCapReached

    def _note_suspension(self, now: datetime) -> None:
        """Alert once per hour that the global cap stopped sending; the 'once' is kept in the database."""
        with self._sessions() as session, session.begin():
            marker = locked_guard(session, GLOBAL_GUARD_KEY)
            first_in_window = marker.locked_until is None or now >= marker.locked_until
            if first_in_window:
                marker.locked_until = now + HOUR
        if first_in_window:
            alerts.critical(
                "SMS pumping suspected: %d one-time codes were sent in the last hour, the global cap; "
                "no codes are sent until the hourly count falls below it",
                self.settings.sms_global_hourly_cap,
            )

    # ------------------------------------------------------------------------------- verifying

    def verify_code(
        self,
        raw_phone: str,
        code: str,
        *,
        purpose: str = DEFAULT_PURPOSE,
        challenge_id: int | None = None,
        session_id: str | None = None,
        client_ip: str | None = None,
    ) -> VerifiedPhone:
        """Check ``code`` against the newest code of the phone and purpose (the newest the browser
        session ``session_id`` asked for, when given); consume it when right.

        The outcome is committed before any error is raised: a wrong guess stays counted.
        """
        phone = acceptable_phone(raw_phone, self.settings)
        purpose = check_purpose(purpose)
        session_key = session_hash(self._secret, session_id) if session_id else None
        ip_key = client_key(client_ip)
        now = self.clock()
        with self._sessions() as session, session.begin():
            outcome = self._check(session, phone, purpose, code, challenge_id, session_key, ip_key, now)
        if isinstance(outcome, SmsError):
            log.info("otp: check for %s refused: %s", mask_phone(phone), outcome.code)
            raise outcome
        log.info("otp: phone %s verified", mask_phone(phone))
        return outcome

    def _check(
        self,
        session: Session,
        phone: str,
        purpose: str,
        code: str,
        challenge_id: int | None,
        session_key: str | None,
        ip_key: str | None,
        now: datetime,
    ) -> VerifiedPhone | SmsError:
        settings = self.settings
        guard = session.scalars(
            select(OtpPhoneGuard).where(OtpPhoneGuard.phone_e164 == phone).with_for_update()
        ).first()
        if guard is None:
            return CodeExpired("no code was sent to this phone")
        counters = [locked_guard(session, key) for key in self._failure_keys(phone, session_key, ip_key)]
        for counter in counters:
            if counter.locked_until is not None and now < counter.locked_until:
                return TooManyAttempts(
                    "too many wrong codes from here", retry_after=_seconds(counter.locked_until - now)
                )
        if guard.locked_until is not None and now < guard.locked_until:
            return TooManyAttempts("the phone waits", retry_after=_seconds(guard.locked_until - now))
        newest = select(OtpChallenge).where(OtpChallenge.phone_e164 == phone, OtpChallenge.purpose == purpose)
        if session_key is not None:  # each session checks the code it asked for, not a stranger's
            newest = newest.where(OtpChallenge.session_hash == session_key)
        challenge = session.scalars(newest.order_by(OtpChallenge.id.desc()).limit(1)).first()
        if (
            challenge is None
            or challenge.consumed_at is not None
            or now >= challenge.expires_at
            or (challenge_id is not None and challenge.id != challenge_id)
        ):
            return CodeExpired("no live code for this phone")
        if challenge.checks >= settings.otp_max_checks:
            return TooManyAttempts("this code has had its checks")
        challenge.checks += 1
        if code_matches(self._secret, phone, purpose, code, challenge.code_hmac):
            challenge.consumed_at = now
            return VerifiedPhone(phone_e164=phone, verified_at=now)
        self._count_failure(guard, now)
        left = settings.otp_max_checks - challenge.checks
        device = counters[0] if session_key is not None else None
        for counter in counters:
            is_device = counter is device
            window = DAY if is_device else HOUR
            limit = settings.otp_max_failures if is_device else settings.otp_max_failures_per_ip
            if counter.failures_since is None or now - counter.failures_since >= window:
                counter.failures, counter.failures_since = 0, now
            counter.failures += 1
            if counter.failures >= limit:
                counter.locked_until = counter.failures_since + window
            if is_device:
                left = min(left, limit - counter.failures)
        if device is None:  # no session known: the phone's own count stands in for it
            left = min(left, settings.otp_max_failures - guard.failures)
        return WrongCode("wrong code", attempts_left=max(left, 0))

    def _count_failure(self, guard: OtpPhoneGuard, now: datetime) -> None:
        """One more wrong code for the phone, from anyone: past the free ones, the next check waits,
        four times longer after each failure, at most a day. ``failures_since`` is the last
        failure: two days without one and the count starts again."""
        if guard.failures_since is None or now - guard.failures_since >= FAILURES_QUIET:
            guard.failures = 0
        guard.failures += 1
        guard.failures_since = now
        beyond = guard.failures - self.settings.otp_phone_free_failures
        if beyond > 0:
            wait = timedelta(seconds=self.settings.otp_phone_wait_seconds) * (4 ** min(beyond - 1, 20))
            guard.locked_until = now + min(wait, MAX_PHONE_WAIT)


# ------------------------------------------------------------------------------------ helpers


def locked_guard(session: Session, key: str) -> OtpPhoneGuard:
    """The guard row of ``key``, created if missing, locked for the rest of the transaction.

    ``INSERT … ON CONFLICT DO NOTHING`` settles the race of two first requests for one phone: the
    second insert waits for the first transaction and then does nothing, and both lock the one row.
    """
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(OtpPhoneGuard.__table__)
        .values(phone_e164=key, failures=0, streak=0)
        .on_conflict_do_nothing(index_elements=["phone_e164"])
    )
    return session.scalars(
        select(OtpPhoneGuard).where(OtpPhoneGuard.phone_e164 == key).with_for_update()
    ).one()


def slot_frees_at(
    session: Session, now: datetime, window: timedelta, limit: int, *where: ColumnElement[bool]
) -> datetime | None:
    """None while fewer than ``limit`` codes matching ``where`` were created within ``window``; else
    when one more is allowed (the ``limit``-th newest of them leaves the window)."""
    created = session.scalars(
        select(OtpChallenge.created_at)
        .where(*where, OtpChallenge.created_at > now - window)
        .order_by(OtpChallenge.created_at.desc())
        .offset(limit - 1)
        .limit(1)
    ).first()
    return None if created is None else created + window


def client_key(client_ip: str | None) -> str | None:
    """What the per-IP cap counts: the IPv4 address, or the /64 network of an IPv6 one.

    An unparsable address is the web layer's bug (it decides which header to trust): ``ValueError``.
    """
    if client_ip is None or not client_ip.strip():
        return None
    address = ipaddress.ip_address(client_ip.strip())
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def local_day_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """Midnight (in UTC) that starts the local day of ``moment`` in ``zone``."""
    local_date = moment.astimezone(zone).date()
    return datetime.combine(local_date, time(), tzinfo=zone).astimezone(UTC)


def next_local_day_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """Midnight (in UTC) that ends the local day of ``moment`` in ``zone`` (DST-proof: by date)."""
    local_date = moment.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(local_date, time(), tzinfo=zone).astimezone(UTC)


def _seconds(delta: timedelta) -> int:
    """A wait in whole seconds for ``Retry-After``, rounded up and at least one."""
    return max(1, math.ceil(delta.total_seconds()))
