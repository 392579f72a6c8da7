"""The SMS outbox and its sender: at most once per message, fallback only when the primary surely
did not send, retries with a growing delay, a timeout never followed by a second SMS."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from bonusbridge.models import SmsMessage, SmsStatus
from bonusbridge.settings import load_settings
from sms.gateway import DeliveryStatus, GatewayError, SendOutcomeUnknown, StatusReport
from sms.outbox import SmsKind, queue_sms
from sms.sending import STALE_CLAIM
from sms.wiring import SmsParts, build_sms
from tests.conftest import FakeClock
from tests.sms.fakes import ScriptedGateway

PHONE = "+79161234567"


def make_parts(
    db: Engine,
    clock: FakeClock,
    primary: ScriptedGateway,
    fallback: ScriptedGateway | None = None,
    **overrides: object,
) -> SmsParts:
    settings = load_settings(
        sms_gateway="smsaero",
        sms_fallback_gateway="twilio" if fallback else "none",
        sms_max_attempts=3,
        sms_retry_base_seconds=10,
        **overrides,
    )
    gateways = {"smsaero": primary, **({"twilio": fallback} if fallback else {})}
    return build_sms(settings, db, clock=clock, gateways=gateways)  # type: ignore[arg-type]


def queue(parts: SmsParts, key: str = "k1", kind: SmsKind = SmsKind.OTP, body: str = "Код: 123456") -> int:
    with parts.session_factory() as session:
        message = queue_sms(
            session,
            key=key,
            kind=kind,
            template="otp_code",
            phone_e164=PHONE,
            body=body,
            now=parts.sender.clock(),
        )
        session.commit()
        return message.id


def row(parts: SmsParts, message_id: int) -> SmsMessage:
    with parts.session_factory() as session:
        return session.get_one(SmsMessage, message_id)


def test_queueing_twice_with_one_key_queues_one_sms(db, clock):
    parts = make_parts(db, clock, ScriptedGateway("smsaero"))
    first, second = queue(parts, "accrued:7"), queue(parts, "accrued:7")
    assert first == second
    with parts.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(SmsMessage)) == 1


def test_a_sent_code_is_recorded_and_its_text_erased(db, clock):
    gateway = ScriptedGateway("smsaero")
    parts = make_parts(db, clock, gateway)
    message_id = queue(parts)
    result = parts.sender.send(message_id)
    assert result.status == SmsStatus.SENT and result.retry_in is None
    stored = row(parts, message_id)
    assert (stored.status, stored.gateway, stored.attempts) == (SmsStatus.SENT, "smsaero", 1)
    assert stored.provider_id and stored.cost == Decimal("5.49") and stored.sent_at == clock.now
    assert stored.body is None, "a one-time code is not kept once handed to the gateway"
    assert [sms.text for sms in gateway.sent] == ["Код: 123456"]


def test_a_notice_keeps_its_text(db, clock):
    parts = make_parts(db, clock, ScriptedGateway("smsaero"))
    message_id = queue(parts, kind=SmsKind.TRANSACTIONAL, body="Начислено 10 бонусов")
    parts.sender.send(message_id)
    assert row(parts, message_id).body == "Начислено 10 бонусов"


def test_sending_again_sends_nothing_more(db, clock):
    gateway = ScriptedGateway("smsaero")
    parts = make_parts(db, clock, gateway)
    message_id = queue(parts)
    parts.sender.send(message_id)
    assert parts.sender.send(message_id).status is None
    assert len(gateway.sent) == 1


def test_two_workers_racing_for_one_message_send_it_once(db, clock):
    gateway = ScriptedGateway("smsaero")
    parts = make_parts(db, clock, gateway)
    message_id = queue(parts)
    barrier = threading.Barrier(4)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        results.append(parts.sender.send(message_id).status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(gateway.sent) == 1
    assert sorted(map(str, results)) == ["None", "None", "None", "sent"]


def test_a_message_for_later_is_not_sent_before_its_time(db, clock):
    gateway = ScriptedGateway("smsaero")
    parts = make_parts(db, clock, gateway)
    with parts.session_factory() as session:
        message = queue_sms(
            session,
            key="later",
            kind=SmsKind.TRANSACTIONAL,
            template="t",
            phone_e164=PHONE,
            body="x",
            not_before=clock.now + timedelta(hours=8),
        )
        session.commit()
        message_id = message.id
    assert parts.sender.send(message_id).status is None
    assert parts.sender.due_messages() == []
    clock.advance(timedelta(hours=8))
    assert parts.sender.due_messages() == [message_id]
    assert parts.sender.send(message_id).status == SmsStatus.SENT


def test_a_retryable_refusal_goes_back_to_the_queue_with_a_growing_delay_then_fails(db, clock):
    refusal = GatewayError("smsaero", "HTTP 503", retryable=True)
    gateway = ScriptedGateway("smsaero", [refusal, refusal, refusal])
    parts = make_parts(db, clock, gateway)
    message_id = queue(parts)
    delays = []
    for attempt in (1, 2):
        result = parts.sender.send(message_id)
        assert result.status == SmsStatus.QUEUED and result.retry_in is not None
        ceiling = 10 * 2 ** (attempt - 1)
        assert ceiling / 2 <= result.retry_in <= ceiling
        delays.append(result.retry_in)
        assert parts.sender.send(message_id).status is None, "not before its delay is over"
        clock.advance(timedelta(seconds=result.retry_in))
    final = parts.sender.send(message_id)
    assert final.status == SmsStatus.FAILED and final.retry_in is None
    stored = row(parts, message_id)
    assert stored.attempts == 3 and "HTTP 503" in (stored.failure_reason or "") and stored.body is None
    assert gateway.sent == []


def test_a_refusal_of_the_message_fails_it_at_once(db, clock):
    gateway = ScriptedGateway("smsaero", [GatewayError("smsaero", "no credits", retryable=False)])
    parts = make_parts(db, clock, gateway)
    message_id = queue(parts)
    assert parts.sender.send(message_id).status == SmsStatus.FAILED
    assert row(parts, message_id).failure_reason == "smsaero: no credits"


def test_the_fallback_gateway_sends_when_the_primary_surely_did_not(db, clock):
    primary = ScriptedGateway("smsaero", [GatewayError("smsaero", "connection refused", retryable=True)])
    fallback = ScriptedGateway("twilio")
    parts = make_parts(db, clock, primary, fallback)
    message_id = queue(parts)
    assert parts.sender.send(message_id).status == SmsStatus.SENT
    assert row(parts, message_id).gateway == "twilio"
    assert primary.sent == [] and len(fallback.sent) == 1


def test_a_timeout_after_the_request_left_is_never_followed_by_a_second_sms(db, clock):
    primary = ScriptedGateway("smsaero", [SendOutcomeUnknown("smsaero", "read timeout")])
    fallback = ScriptedGateway("twilio")
    parts = make_parts(db, clock, primary, fallback)
    message_id = queue(parts)
    assert parts.sender.send(message_id).status == SmsStatus.UNCONFIRMED
    clock.advance(timedelta(hours=1))
    assert parts.sender.due_messages() == []
    assert parts.sender.send(message_id).status is None
    assert len(primary.sent) == 1 and fallback.sent == [], "neither resent nor handed to the fallback"
    stored = row(parts, message_id)
    assert stored.status == SmsStatus.UNCONFIRMED and "not resent" in (stored.failure_reason or "")
    assert stored.body is None


def test_a_claim_left_by_a_dead_worker_becomes_unconfirmed_not_resent(db, clock):
    gateway = ScriptedGateway("smsaero")
    parts = make_parts(db, clock, gateway)
    message_id = queue(parts)
    parts.sender._claim(message_id, clock.now)  # the worker claimed it, then died mid-call
    assert parts.sender.release_stale_claims() == 0, "a fresh claim may still be in flight"
    clock.advance(STALE_CLAIM + timedelta(seconds=1))
    assert parts.sender.release_stale_claims() == 1
    assert row(parts, message_id).status == SmsStatus.UNCONFIRMED
    assert parts.sender.send(message_id).status is None and gateway.sent == []


def test_status_reports_settle_messages_and_never_go_backwards(db, clock):
    gateway = ScriptedGateway("smsaero")
    parts = make_parts(db, clock, gateway)
    message_id = queue(parts)
    parts.sender.send(message_id)
    provider_id = row(parts, message_id).provider_id
    assert provider_id is not None
    gateway.statuses[provider_id] = DeliveryStatus.DELIVERED
    clock.advance(timedelta(minutes=1))
    assert parts.sender.poll_statuses() == 1
    stored = row(parts, message_id)
    assert stored.status == SmsStatus.DELIVERED and stored.settled_at == clock.now
    late = StatusReport("smsaero", provider_id, DeliveryStatus.SENT, "3")
    assert parts.sender.apply_report(late) == 0
    assert row(parts, message_id).status == SmsStatus.DELIVERED
    assert parts.sender.apply_report(StatusReport("smsaero", "nobody", DeliveryStatus.FAILED)) == 0


def test_a_failure_report_keeps_its_reason(db, clock):
    parts = make_parts(db, clock, ScriptedGateway("smsaero"))
    message_id = queue(parts, kind=SmsKind.TRANSACTIONAL, body="x")
    parts.sender.send(message_id)
    provider_id = row(parts, message_id).provider_id or ""
    report = StatusReport("smsaero", provider_id, DeliveryStatus.FAILED, "2", failure_reason="not delivered")
    assert parts.sender.apply_report(report) == 1
    stored = row(parts, message_id)
    assert (stored.status, stored.failure_reason) == (SmsStatus.FAILED, "not delivered")


@pytest.mark.parametrize("attempts", [1, 2, 3, 4])
def test_retry_delays_stay_within_their_bounds(db, clock, attempts):
    parts = make_parts(db, clock, ScriptedGateway("smsaero"))
    ceiling = 10 * 2 ** (attempts - 1)
    for _ in range(50):
        assert ceiling / 2 <= parts.sender.retry_delay(attempts) <= ceiling
