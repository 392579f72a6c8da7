"""sms.otp: one-time codes end to end on the configured real database (SQLite or PostgreSQL).

Each rule of the issue is its own test. Codes are read back from the queued SMS, as the customer
would read them, so the tests never reach into the service for a code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import logging
import re
import secrets
import statistics
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from bonusbridge.models import Customer, Origin, OtpChallenge, OtpPhoneGuard, SmsMessage
from bonusbridge.settings import Settings, load_settings
from bonusbridge.unit_of_work import UnitOfWork
from sms.errors import (
    CodeExpired,
    InvalidPhone,
    LandlinePhone,
    NotMobilePhone,
    ResendTooSoon,
    SendingSuspended,
    SmsError,
    TollFreePhone,
    TooManyAttempts,
    TooManySends,
    UnsupportedCountry,
    WrongCode,
)
from sms.otp import CodeRequested, OtpService, VerifiedPhone, code_hmac, new_code, session_hash
from tests.conftest import FakeClock

PHONE = "+79161234567"
TYPED = "8 (916) 123-45-67"  # the same phone as a customer types it
OTHER = "+79261234567"  # another phone with the same masked form, +7***67
SECRET = "test-otp-secret"


def make_settings(**overrides: Any) -> Settings:
    overrides.setdefault("otp_secret", SECRET)
    return load_settings(**overrides)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def otp(db: Engine, clock: FakeClock, settings: Settings) -> OtpService:
    return OtpService(db, settings, clock)


def service(db: Engine, clock: FakeClock, **overrides: Any) -> OtpService:
    return OtpService(db, make_settings(**overrides), clock)


def sent_code(db: Engine, requested: CodeRequested) -> str:
    """The code the customer received: read from the queued SMS of the challenge."""
    with db.connect() as conn:
        body = conn.execute(
            select(SmsMessage.body).where(SmsMessage.message_key == f"otp:{requested.challenge_id}")
        ).scalar_one()
    match = re.search(r"\b(\d{6})\b", body or "")
    assert match, body
    return match.group(1)


def wrong(code: str) -> str:
    """A six-digit code that surely is not ``code``."""
    return f"{(int(code) + 1) % 10**6:06d}"


def challenge_row(db: Engine, challenge_id: int) -> OtpChallenge:
    with Session(db) as session:
        row = session.get(OtpChallenge, challenge_id)
        assert row is not None
        return row


def guard_row(db: Engine, phone: str = PHONE) -> Any:
    with db.connect() as conn:
        return conn.execute(
            select(OtpPhoneGuard.__table__).where(OtpPhoneGuard.phone_e164 == phone)
        ).one_or_none()


def add_customer(db: Engine, clock: FakeClock, phone: str) -> int:
    with UnitOfWork(db, clock=clock) as uow:
        customer = uow.customers.add(
            Customer(phone_e164=phone, phone_verified_at=clock(), first_name="Мария", changed_by=Origin.ONEC)
        )
        uow.commit()
        return customer.id


# --------------------------------------------------------------------------- codes


def test_a_code_is_six_digits_drawn_from_secrets_randbelow(monkeypatch, db, clock, otp):
    calls: list[int] = []

    def fake_randbelow(bound: int) -> int:
        calls.append(bound)
        return 42

    monkeypatch.setattr(secrets, "randbelow", fake_randbelow)
    assert new_code() == "000042"
    requested = otp.request_code(PHONE)
    assert sent_code(db, requested) == "000042"
    assert calls == [10**6, 10**6]


def test_codes_are_six_ascii_digits_and_vary():
    codes = [new_code() for _ in range(500)]
    assert all(re.fullmatch(r"[0-9]{6}", code) for code in codes)
    assert len(set(codes)) > 490  # 500 draws from a million: a repeat or two at most


def test_only_the_hmac_of_the_code_is_stored(monkeypatch, db, otp):
    monkeypatch.setattr(secrets, "randbelow", lambda bound: 731945)  # digits no timestamp or id holds
    requested = otp.request_code(PHONE)
    code = sent_code(db, requested)
    assert code == "731945"
    with db.connect() as conn:
        rows = conn.execute(text("SELECT * FROM otp_challenges")).all()
    assert len(rows) == 1
    assert all(code not in str(value) for value in rows[0])
    stored = challenge_row(db, requested.challenge_id).code_hmac
    assert stored == code_hmac(SECRET, PHONE, "cabinet_login", code)
    assert re.fullmatch(r"[0-9a-f]{64}", stored)


def test_the_hmac_is_keyed_and_bound_to_phone_and_purpose():
    base = code_hmac(SECRET, PHONE, "cabinet_login", "123456")
    assert base != code_hmac(SECRET, OTHER, "cabinet_login", "123456")
    assert base != code_hmac(SECRET, PHONE, "phone_change", "123456")
    assert base != code_hmac("another-secret", PHONE, "cabinet_login", "123456")
    assert base == code_hmac(SECRET.encode(), PHONE, "cabinet_login", "123456")


def test_the_same_code_sent_to_two_phones_is_stored_differently(monkeypatch, db, otp):
    monkeypatch.setattr(secrets, "randbelow", lambda bound: 123456)
    first, second = otp.request_code(PHONE), otp.request_code(OTHER)
    assert challenge_row(db, first.challenge_id).code_hmac != challenge_row(db, second.challenge_id).code_hmac


def test_a_hash_copied_from_another_phone_does_not_verify(db, otp):
    """Even with write access to the table, a code known for one phone cannot be planted on another."""
    mine = otp.request_code(PHONE)
    victims = otp.request_code(OTHER)
    planted = challenge_row(db, mine.challenge_id).code_hmac
    with db.begin() as conn:
        conn.execute(
            OtpChallenge.__table__.update()
            .where(OtpChallenge.id == victims.challenge_id)
            .values(code_hmac=planted)
        )
    with pytest.raises(WrongCode):
        otp.verify_code(OTHER, sent_code(db, mine))


def test_guesses_are_compared_with_hmac_compare_digest(monkeypatch, db, otp):
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    requested = otp.request_code(PHONE)
    code = sent_code(db, requested)
    stored = challenge_row(db, requested.challenge_id).code_hmac
    monkeypatch.setattr(hmac, "compare_digest", spy)
    with pytest.raises(WrongCode):
        otp.verify_code(PHONE, wrong(code))
    otp.verify_code(PHONE, code)
    assert len(calls) == 2
    assert all(stored in pair for pair in calls)


# --------------------------------------------------------------------------- verifying


def test_the_right_code_verifies_the_phone_once(db, clock, otp):
    requested = otp.request_code(TYPED)
    code = sent_code(db, requested)
    clock.advance(timedelta(seconds=30))
    assert otp.verify_code(TYPED, code) == VerifiedPhone(phone_e164=PHONE, verified_at=clock())
    assert challenge_row(db, requested.challenge_id).consumed_at == clock()


def test_a_used_code_answers_code_expired(db, otp):
    requested = otp.request_code(PHONE)
    code = sent_code(db, requested)
    otp.verify_code(PHONE, code)
    with pytest.raises(CodeExpired):
        otp.verify_code(PHONE, code)
    assert challenge_row(db, requested.challenge_id).checks == 1
    assert guard_row(db).failures == 0


def test_a_code_is_valid_for_five_minutes(db, clock, otp):
    assert otp.settings.otp_ttl_seconds == 300
    requested = otp.request_code(PHONE)
    assert requested.expires_at == clock() + timedelta(minutes=5)
    clock.advance(timedelta(minutes=5) - timedelta(microseconds=1))
    otp.verify_code(PHONE, sent_code(db, requested))


def test_a_code_expires_after_five_minutes(db, clock, otp):
    requested = otp.request_code(PHONE)
    clock.advance(timedelta(minutes=5))
    with pytest.raises(CodeExpired):
        otp.verify_code(PHONE, sent_code(db, requested))


def test_a_phone_that_never_got_a_code_answers_code_expired(otp):
    with pytest.raises(CodeExpired):
        otp.verify_code(PHONE, "123456")


def test_only_the_newest_code_counts(db, clock, otp):
    first = otp.request_code(PHONE)
    clock.advance(timedelta(seconds=60))
    second = otp.request_code(PHONE)
    with pytest.raises(WrongCode):
        otp.verify_code(PHONE, sent_code(db, first)) if sent_code(db, first) != sent_code(db, second) else (
            otp.verify_code(PHONE, "not-a-code")
        )
    with pytest.raises(CodeExpired):
        otp.verify_code(PHONE, sent_code(db, second), challenge_id=first.challenge_id)
    otp.verify_code(PHONE, sent_code(db, second), challenge_id=second.challenge_id)


def test_a_code_is_bound_to_its_purpose(db, otp):
    requested = otp.request_code(PHONE, purpose="phone_change")
    with pytest.raises(CodeExpired):
        otp.verify_code(PHONE, sent_code(db, requested))  # the default purpose: cabinet_login
    otp.verify_code(PHONE, sent_code(db, requested), purpose="phone_change")


def test_five_checks_per_code_then_too_many_attempts_even_for_the_right_code(db, otp):
    assert otp.settings.otp_max_checks == 5
    requested = otp.request_code(PHONE)
    code = sent_code(db, requested)
    left = []
    for _ in range(5):
        with pytest.raises(WrongCode) as caught:
            otp.verify_code(PHONE, wrong(code))
        left.append(caught.value.attempts_left)
    assert left == [4, 3, 2, 1, 0]
    with pytest.raises(TooManyAttempts):
        otp.verify_code(PHONE, code)
    assert challenge_row(db, requested.challenge_id).checks == 5
    assert challenge_row(db, requested.challenge_id).consumed_at is None


def test_a_wrong_guess_is_committed_even_though_an_error_is_raised(db, otp):
    requested = otp.request_code(PHONE)
    with pytest.raises(WrongCode):
        otp.verify_code(PHONE, wrong(sent_code(db, requested)))
    assert challenge_row(db, requested.challenge_id).checks == 1
    guard = guard_row(db)
    assert (guard.failures, guard.locked_until) == (1, None)


@pytest.mark.parametrize("submitted", ["12345", "1234567", "abcdef", "", "١٢٣٤٥٦"])
def test_a_malformed_code_counts_as_a_wrong_check(db, otp, submitted):
    requested = otp.request_code(PHONE)
    with pytest.raises(WrongCode) as caught:
        otp.verify_code(PHONE, submitted)
    assert caught.value.attempts_left == 4
    assert challenge_row(db, requested.challenge_id).checks == 1
    assert guard_row(db).failures == 1


def test_spaces_and_hyphens_typed_into_a_code_are_ignored(db, otp):
    code = sent_code(db, otp.request_code(PHONE))
    otp.verify_code(PHONE, f" {code[:3]} - {code[3:]} ")


# --------------------------------------------------------------------------- failures per phone


def test_failures_from_anyone_slow_the_phone_with_growing_waits_never_until_midnight(db, clock):
    """Issue 17 item 3: past the free failures each further one makes the phone's next check wait,
    four times longer each time (1, 4, 16 … minutes); a new code does not reset the count, and the
    right code passes once the wait is over. No lock until midnight."""
    otp = service(db, clock)
    assert (otp.settings.otp_phone_free_failures, otp.settings.otp_phone_wait_seconds) == (5, 60)
    first = otp.request_code(PHONE)
    for _ in range(5):  # the free ones: no wait
        with pytest.raises(WrongCode):
            otp.verify_code(PHONE, wrong(sent_code(db, first)))
    assert guard_row(db).locked_until is None
    waits = []
    for _ in range(3):
        clock.advance(timedelta(hours=2))  # past the resend cooldown and any wait
        requested = otp.request_code(PHONE)
        code = sent_code(db, requested)
        with pytest.raises(WrongCode):
            otp.verify_code(PHONE, wrong(code))
        with pytest.raises(TooManyAttempts) as caught:  # even the right code waits
            otp.verify_code(PHONE, code)
        waits.append(caught.value.retry_after)
    assert waits == [60, 4 * 60, 16 * 60]
    assert guard_row(db).failures == 8  # a new code reset nothing
    clock.advance(timedelta(minutes=16))
    otp.verify_code(PHONE, sent_code(db, otp.request_code(PHONE)))  # the wait is over, long before midnight


def test_a_success_does_not_reset_the_failures_of_the_day(db, clock, otp):
    first = otp.request_code(PHONE)
    for _ in range(3):
        with pytest.raises(WrongCode):
            otp.verify_code(PHONE, wrong(sent_code(db, first)))
    otp.verify_code(PHONE, sent_code(db, first))
    assert guard_row(db).failures == 3


def test_the_phone_waits_at_most_a_day_and_its_count_restarts_after_two_quiet_days(db, clock):
    otp = service(db, clock)
    for _ in range(12):
        clock.advance(timedelta(days=1, minutes=1))  # past every wait
        requested = otp.request_code(PHONE)
        with pytest.raises(WrongCode):
            otp.verify_code(PHONE, wrong(sent_code(db, requested)))
    guard = guard_row(db)
    assert guard.failures == 12 and guard.locked_until == clock() + timedelta(days=1)
    clock.advance(timedelta(days=2))
    requested = otp.request_code(PHONE)
    with pytest.raises(WrongCode):
        otp.verify_code(PHONE, wrong(sent_code(db, requested)))
    assert (guard_row(db).failures, guard_row(db).locked_until) == (1, guard.locked_until)


# ------------------------------------------------------------- a stranger cannot lock the owner out


def test_an_attacker_in_another_session_cannot_stop_the_owner_logging_in_within_minutes(db, clock):
    """The attacker knows the phone: from their own browser session and IP they ask for codes and
    guess until every door is shut. The owner, minutes later in their own session, asks for a code
    and logs in at once; the attacker stays shut out."""
    otp = service(db, clock)
    attacker = {"session_id": "attacker-session", "client_ip": "198.51.100.66"}
    owner = {"session_id": "owner-session", "client_ip": "203.0.113.10"}
    refused = 0
    for _ in range(10):  # asks and guesses for a good while, as fast as allowed
        try:
            requested = otp.request_code(PHONE, **attacker)
        except (ResendTooSoon, TooManyAttempts, TooManySends):
            refused += 1
            clock.advance(timedelta(minutes=1))
            continue
        for guess in range(10):
            try:
                otp.verify_code(PHONE, f"{guess:06d}", challenge_id=requested.challenge_id, **attacker)
            except WrongCode:
                continue
            except (TooManyAttempts, CodeExpired):
                break
            pytest.fail("the attacker guessed a code")
        clock.advance(timedelta(minutes=1))
    assert refused > 0 and guard_row(db).failures <= otp.settings.otp_max_failures
    with pytest.raises(TooManyAttempts):  # the attacker's own session is shut for the day
        otp.request_code(PHONE, **attacker)

    clock.advance(timedelta(minutes=2))
    requested = otp.request_code(PHONE, **owner)
    verified = otp.verify_code(PHONE, sent_code(db, requested), challenge_id=requested.challenge_id, **owner)
    assert verified.phone_e164 == PHONE

    # a stranger's new code neither replaces the owner's nor delays the owner's next one
    clock.advance(timedelta(minutes=2))
    owners = otp.request_code(PHONE, **owner)
    stranger = {"session_id": "another-stranger", "client_ip": "198.51.100.67"}
    otp.request_code(PHONE, **stranger)
    otp.verify_code(PHONE, sent_code(db, owners), challenge_id=owners.challenge_id, **owner)


def test_failures_per_ip_shut_that_ip_across_sessions(db, clock):
    otp = service(db, clock, otp_max_failures_per_ip=6)
    ip = "198.51.100.80"
    for n in range(2):
        requested = otp.request_code(PHONE, session_id=f"s{n}", client_ip=ip)
        for _ in range(3):
            with pytest.raises(WrongCode):
                otp.verify_code(PHONE, wrong(sent_code(db, requested)), session_id=f"s{n}", client_ip=ip)
    requested = otp.request_code(PHONE, session_id="s9", client_ip="203.0.113.9")  # elsewhere: fine
    with pytest.raises(TooManyAttempts) as caught:
        otp.request_code(PHONE, session_id="s3", client_ip=ip)
    assert 0 < caught.value.retry_after <= 3600
    clock.advance(timedelta(minutes=1))  # the phone's first wait (6 failures: one past the free five)
    otp.verify_code(PHONE, sent_code(db, requested), session_id="s9", client_ip="203.0.113.9")


# --------------------------------------------------------------------------- resend cooldown


def test_the_resend_cooldown_is_60_seconds_then_doubles(clock, otp):
    assert otp.request_code(PHONE).resend_after == 60
    clock.advance(timedelta(seconds=59))
    with pytest.raises(ResendTooSoon) as caught:
        otp.request_code(PHONE)
    assert caught.value.retry_after == 1
    clock.advance(timedelta(seconds=1))
    assert otp.request_code(PHONE).resend_after == 120
    clock.advance(timedelta(seconds=119, milliseconds=500))
    with pytest.raises(ResendTooSoon) as caught:
        otp.request_code(PHONE)
    assert caught.value.retry_after == 1  # rounded up, never 0
    clock.advance(timedelta(milliseconds=500))
    assert otp.request_code(PHONE).resend_after == 240
    clock.advance(timedelta(seconds=240))
    assert otp.request_code(PHONE).resend_after == 480


def test_the_cooldown_streak_resets_after_an_hour_of_quiet(clock, otp):
    otp.request_code(PHONE)
    clock.advance(timedelta(seconds=60))
    assert otp.request_code(PHONE).resend_after == 120
    clock.advance(timedelta(minutes=59, seconds=59))
    assert otp.request_code(PHONE).resend_after == 240  # not yet an hour since the last code
    clock.advance(timedelta(hours=1))
    assert otp.request_code(PHONE).resend_after == 60


def test_the_cooldown_is_per_phone(otp):
    otp.request_code(PHONE)
    otp.request_code(OTHER)


def test_the_cooldown_is_at_most_an_hour(otp):
    assert [otp.cooldown(streak).total_seconds() for streak in (1, 2, 6, 7, 50)] == [
        60,
        120,
        1920,
        3600,
        3600,
    ]


# --------------------------------------------------------------------------- caps


def test_codes_per_phone_per_hour_are_capped(db, clock):
    otp = service(db, clock, otp_resend_cooldown_seconds=1)
    start = clock()
    for _ in range(5):
        clock.advance(timedelta(seconds=30))
        otp.request_code(PHONE)
    clock.advance(timedelta(seconds=30))
    with pytest.raises(TooManySends) as caught:
        otp.request_code(PHONE)
    assert type(caught.value) is TooManySends
    first_sent = start + timedelta(seconds=30)
    assert caught.value.retry_after == (first_sent + timedelta(hours=1) - clock()).total_seconds()
    clock.now = first_sent + timedelta(hours=1)
    otp.request_code(PHONE)


def test_codes_per_phone_per_day_are_capped(db, clock):
    otp = service(db, clock, otp_resend_cooldown_seconds=1)
    first_sent = clock()
    for _hour in range(2):
        for _ in range(5):
            otp.request_code(PHONE)
            clock.advance(timedelta(minutes=1))
        clock.advance(timedelta(hours=1))
    with pytest.raises(TooManySends) as caught:
        otp.request_code(PHONE)
    assert type(caught.value) is TooManySends
    assert caught.value.retry_after == (first_sent + timedelta(days=1) - clock()).total_seconds()
    clock.now = first_sent + timedelta(days=1)
    otp.request_code(PHONE)


def test_codes_per_client_ip_per_hour_are_capped(clock, db):
    otp = service(db, clock, otp_max_per_ip_hour=3)
    phones = [f"+7916000000{n}" for n in range(5)]
    for phone in phones[:3]:
        otp.request_code(phone, client_ip="203.0.113.7")
    with pytest.raises(TooManySends):
        otp.request_code(phones[3], client_ip="203.0.113.7")
    with pytest.raises(TooManySends):
        otp.request_code(phones[3], client_ip="::ffff:203.0.113.7")  # the same IPv4 address
    otp.request_code(phones[3], client_ip="203.0.113.8")
    otp.request_code(phones[4])  # no IP known: only the other caps apply
    clock.advance(timedelta(hours=1))
    otp.request_code(phones[0], client_ip="203.0.113.7")


def test_an_ipv6_client_counts_as_its_64_network(clock, db):
    otp = service(db, clock, otp_max_per_ip_hour=2)
    otp.request_code("+79160000001", client_ip="2001:db8:1:2::1")
    otp.request_code("+79160000002", client_ip="2001:db8:1:2:aaaa::99")
    with pytest.raises(TooManySends):
        otp.request_code("+79160000003", client_ip="2001:db8:1:2:ffff:ffff:ffff:ffff")
    otp.request_code("+79160000003", client_ip="2001:db8:1:3::1")


def test_an_unparsable_client_ip_is_the_callers_bug(otp):
    with pytest.raises(ValueError):
        otp.request_code(PHONE, client_ip="unknown")


def test_codes_per_session_are_capped_and_the_session_is_stored_hashed(db, clock):
    otp = service(db, clock, otp_max_per_session=2)
    session_id = "s3ss10n-1d-0f-the-br0wser-abcdef"
    otp.request_code("+79160000001", session_id=session_id)
    otp.request_code("+79160000002", session_id=session_id)
    with pytest.raises(TooManySends):
        otp.request_code("+79160000003", session_id=session_id)
    otp.request_code("+79160000003", session_id="another-session")
    with db.connect() as conn:
        dump = str(conn.execute(text("SELECT * FROM otp_challenges")).all())
        hashes = conn.execute(select(OtpChallenge.session_hash).order_by(OtpChallenge.id)).scalars().all()
    assert session_id not in dump
    assert hashes[:2] == [session_hash(SECRET, session_id)] * 2


def test_caps_count_across_purposes(db, clock):
    otp = service(db, clock, otp_resend_cooldown_seconds=1, otp_max_per_phone_hour=2)
    otp.request_code(PHONE)
    clock.advance(timedelta(seconds=5))
    otp.request_code(PHONE, purpose="phone_change")
    clock.advance(timedelta(seconds=5))
    with pytest.raises(TooManySends):
        otp.request_code(PHONE, purpose="another_purpose")


def test_a_refused_request_writes_nothing(db, clock, otp):
    otp.request_code(PHONE)
    with db.connect() as conn:
        before = [
            conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
            for t in ("otp_challenges", "otp_phone_guards", "sms_messages")
        ]
    with pytest.raises(ResendTooSoon):
        otp.request_code(PHONE)
    with db.connect() as conn:
        after = [
            conn.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
            for t in ("otp_challenges", "otp_phone_guards", "sms_messages")
        ]
    assert after == before


# --------------------------------------------------------------------------- the SMS


def test_the_code_is_queued_as_an_otp_sms_in_the_chosen_language(db, clock, otp):
    requested = otp.request_code(PHONE, locale="en")
    with db.connect() as conn:
        message = conn.execute(select(SmsMessage.__table__)).one()
    code = sent_code(db, requested)
    assert (message.message_key, message.kind, message.template, message.locale) == (
        f"otp:{requested.challenge_id}",
        "otp",
        "otp_code",
        "en",
    )
    assert (message.phone_e164, message.customer_id, message.status) == (PHONE, None, "queued")
    assert code in message.body and "Do not share" in message.body
    assert challenge_row(db, requested.challenge_id).sms_message_id == message.id


def test_the_russian_text_is_the_default(db, otp):
    requested = otp.request_code(PHONE, locale="de")
    with db.connect() as conn:
        message = conn.execute(select(SmsMessage.__table__)).one()
    assert message.locale == "ru"
    assert (
        message.body
        == f"Код для входа в личный кабинет: {sent_code(db, requested)}. Никому его не сообщайте."
    )


# --------------------------------------------------------------------------- known and unknown phones


def _sms_shape(db: Engine, requested: CodeRequested) -> dict[str, Any]:
    with db.connect() as conn:
        row = conn.execute(
            select(SmsMessage.__table__).where(SmsMessage.message_key == f"otp:{requested.challenge_id}")
        ).one()
    shape = dict(row._mapping)
    for varying in ("id", "message_key", "phone_e164"):
        shape.pop(varying)
    shape["body"] = re.sub(r"\d{6}", "<code>", shape["body"])
    return shape


def test_a_known_and_an_unknown_phone_get_the_same_answer_and_the_same_sms(db, clock, otp):
    add_customer(db, clock, PHONE)
    known = otp.request_code(PHONE)
    unknown = otp.request_code(OTHER)
    assert dataclasses.replace(known, challenge_id=0) == dataclasses.replace(unknown, challenge_id=0)
    assert [field.name for field in dataclasses.fields(known)] == [
        "challenge_id",
        "expires_at",
        "resend_after",
        "phone_masked",
    ]
    assert _sms_shape(db, known) == _sms_shape(db, unknown)


def test_a_known_and_an_unknown_phone_take_the_same_time(db, clock, otp):
    known = [f"+7916555{n:04d}" for n in range(15)]
    unknown = [f"+7926555{n:04d}" for n in range(15)]
    for phone in known:
        add_customer(db, clock, phone)
    otp.request_code("+79031112233")  # warm up connections and statement caches
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for known_phone, unknown_phone in zip(known, unknown, strict=True):
        for kind, phone in (("known", known_phone), ("unknown", unknown_phone)):
            started = time.perf_counter()
            otp.request_code(phone)
            timings[kind].append(time.perf_counter() - started)
    ratio = statistics.median(timings["known"]) / statistics.median(timings["unknown"])
    assert 1 / 3 < ratio < 3, timings


# --------------------------------------------------------------------------- logs


def test_neither_the_code_nor_the_phone_is_ever_logged(caplog, db, clock, otp):
    # The engine's SQL echo is db.py's business, not ours. Root last: set_level also sets the
    # capturing handler's level, and the last call wins.
    caplog.set_level(logging.WARNING, logger="sqlalchemy")
    caplog.set_level(logging.DEBUG)
    requested = otp.request_code(TYPED, client_ip="203.0.113.7", session_id="sess-1")
    code = sent_code(db, requested)
    with pytest.raises(WrongCode):
        otp.verify_code(TYPED, wrong(code))
    otp.verify_code(TYPED, code)
    with pytest.raises(CodeExpired):
        otp.verify_code(TYPED, code)
    with pytest.raises(ResendTooSoon):
        otp.request_code(TYPED)
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert caplog.records, "the service logs its outcomes"
    assert "+7***67" in logged
    for secret_text in (code, wrong(code), PHONE, PHONE[1:], PHONE[2:], "123-45-67", "sess-1"):
        assert secret_text not in logged


# --------------------------------------------------------------------------- errors shown to people


def _refusals(db: Engine, clock: FakeClock) -> list[SmsError]:
    """One of each refusal, provoked through the real service."""
    otp = service(db, clock, otp_max_per_phone_hour=2, sms_global_hourly_cap=3)
    caught: list[SmsError] = []

    def attempt(call: Any, *args: Any, **kwargs: Any) -> None:
        try:
            call(*args, **kwargs)
        except SmsError as error:
            caught.append(error)

    for raw in ("+7 916 123", "8 495 123-45-67", "8 800 555-35-35", "+7 809 123-45-67", "+7 701 123 45 67"):
        attempt(otp.request_code, raw)
    attempt(otp.verify_code, PHONE, "000000")  # CodeExpired: nothing sent yet
    requested = otp.request_code(PHONE)
    attempt(otp.request_code, PHONE)  # ResendTooSoon
    for _ in range(6):  # 5 × WrongCode, then TooManyAttempts
        attempt(otp.verify_code, PHONE, wrong(sent_code(db, requested)))
    clock.advance(timedelta(minutes=1))
    otp.request_code(PHONE)
    clock.advance(timedelta(minutes=3))
    attempt(otp.request_code, PHONE)  # TooManySends: two an hour
    otp.request_code(OTHER)
    attempt(otp.request_code, "+79031112233")  # SendingSuspended: three an hour for everyone
    return caught


def test_each_refusal_has_its_own_type_and_a_safe_message_in_ru_and_en(db, clock):
    refusals = _refusals(db, clock)
    assert [type(error) for error in refusals] == [
        InvalidPhone,
        LandlinePhone,
        TollFreePhone,
        NotMobilePhone,
        UnsupportedCountry,
        CodeExpired,
        ResendTooSoon,
        *[WrongCode] * 5,
        TooManyAttempts,
        TooManySends,
        SendingSuspended,
    ]
    for error in refusals:
        for locale in ("ru", "en"):
            message = error.user_message(locale)
            assert message.strip() and "{" not in message
            expected_digits = [str(error.retry_after)] if error.retry_after is not None else []
            assert re.findall(r"\d+", message) == expected_digits, (type(error), message)
        assert "916" not in str(error) and "123" not in str(error)


def test_waits_come_with_retry_after(db, clock):
    refusals = {type(error): error for error in _refusals(db, clock)}
    assert refusals[ResendTooSoon].retry_after == 60
    assert refusals[TooManySends].retry_after == 56 * 60  # the first code of the hour leaves it then
    assert refusals[ResendTooSoon].http_status == refusals[TooManySends].http_status == 429


def test_purpose_must_be_a_short_word(otp):
    with pytest.raises(ValueError):
        otp.request_code(PHONE, purpose="Cabinet Login")
    with pytest.raises(ValueError):
        otp.verify_code(PHONE, "123456", purpose="x" * 25)


# --------------------------------------------------------------------------- brute force and pumping


def test_an_attacker_guessing_as_fast_as_the_caps_allow_for_a_week_gets_nowhere_near_a_million(
    monkeypatch, db, clock
):
    """The attacker enumerates 000000, 000001, … against one phone for seven days, asking for a new
    code whenever the service lets them and guessing until refused. The code is the last one they
    would try. Every guess the service compared is counted: within the caps it is a few dozen a
    day, so the 10**6 codes cannot be covered (the chance per day is at most 2·10/10**6)."""
    otp = service(db, clock)
    monkeypatch.setattr("sms.otp.service.new_code", lambda: "999999")
    compared = 0
    guess = 0
    requested = None
    end = clock() + timedelta(days=7)
    while clock() < end:
        with contextlib.suppress(ResendTooSoon, TooManySends, TooManyAttempts):
            requested = otp.request_code(PHONE, client_ip=f"198.51.100.{guess % 250}")
        while requested is not None:
            try:
                otp.verify_code(PHONE, f"{guess:06d}", challenge_id=requested.challenge_id)
            except WrongCode:
                compared += 1
                guess += 1
                continue
            except (TooManyAttempts, CodeExpired):
                break
            pytest.fail("a code was guessed")
        clock.advance(timedelta(minutes=5))
    settings = otp.settings
    per_day = min(settings.otp_max_failures, settings.otp_max_per_phone_day * settings.otp_max_checks)
    assert 0 < compared <= 8 * per_day  # 7 days touch at most 8 local days
    assert compared / 10**6 < 1e-4
    assert guard_row(db).failures > 0


def test_the_global_hourly_cap_stops_every_code_and_alerts_once(caplog, db, clock):
    otp = service(db, clock, sms_global_hourly_cap=3)
    for n in range(3):
        otp.request_code(f"+7916000000{n}")
    caplog.set_level(logging.CRITICAL, logger="bonusbridge.alerts")
    for n in range(3, 6):
        with pytest.raises(SendingSuspended):
            otp.request_code(f"+7916000000{n}")
    alerts = [record for record in caplog.records if record.name == "bonusbridge.alerts"]
    assert len(alerts) == 1 and alerts[0].levelno == logging.CRITICAL
    assert "+7916" not in alerts[0].getMessage()
    with db.connect() as conn:
        queued = conn.execute(select(SmsMessage.phone_e164).where(SmsMessage.kind == "otp")).scalars().all()
    assert len(queued) == 3  # nothing was queued for the refused requests
    clock.advance(timedelta(hours=1, seconds=1))
    otp.request_code("+79160000009")  # the hour has passed: sending resumes
