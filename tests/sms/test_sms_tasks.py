"""SMS sending as real Celery tasks through the configured broker (RabbitMQ in CI's second pass):
a retryable refusal makes the task schedule itself again; a redelivered task sends nothing twice."""

from __future__ import annotations

import os
import time

import pytest

from bonusbridge.celery_app import create_celery
from bonusbridge.models import SmsStatus
from bonusbridge.settings import load_settings
from sms import tasks
from sms.gateway import GatewayError
from sms.wiring import build_sms
from tests.sms.fakes import ScriptedGateway
from tests.sms.test_sending import queue, row
from tests.test_celery_tasks import broker_url  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_the_send_task_retries_itself_after_a_retryable_refusal(broker_url, db, clock):  # noqa: F811
    from celery.contrib.testing.worker import start_worker

    gateway = ScriptedGateway("smsaero", [GatewayError("smsaero", "HTTP 429", retryable=True)])
    settings = load_settings(
        broker_url=broker_url,
        result_backend="cache+memory://",
        sms_gateway="smsaero",
        sms_retry_base_seconds=0.2,
    )
    parts = build_sms(settings, db, gateways={"smsaero": gateway})  # type: ignore[dict-item]
    app = create_celery(settings)
    app.conf.task_default_queue = f"bonusbridge-sms-test-{os.getpid()}"
    tasks.use_sms(parts)
    try:
        message_id = queue(parts)
        with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
            app.tasks[tasks.SEND_TASK].delay(message_id)
            wait_until(lambda: row(parts, message_id).status == SmsStatus.SENT)
            app.tasks[tasks.SEND_TASK].delay(message_id)  # a duplicate task message
            app.tasks["bonusbridge.sms.dispatch_due"].delay()
            time.sleep(1.0)
        stored = row(parts, message_id)
        assert stored.attempts == 2 and stored.gateway == "smsaero"
        assert len(gateway.sent) == 1, "one SMS however many task messages"
    finally:
        tasks.use_sms(None)


def test_the_sweep_sends_what_is_due(db, clock):
    gateway = ScriptedGateway("smsaero")
    settings = load_settings(sms_gateway="smsaero")
    parts = build_sms(settings, db, clock=clock, gateways={"smsaero": gateway})  # type: ignore[dict-item]
    first, second = queue(parts, "a"), queue(parts, "b")
    assert parts.sender.due_messages() == [first, second]
    app = create_celery(load_settings(broker_url="memory://"))
    app.conf.task_always_eager = True
    tasks.use_sms(parts)
    try:
        assert app.tasks["bonusbridge.sms.dispatch_due"].apply().get() == 2
    finally:
        tasks.use_sms(None)
    assert [row(parts, m).status for m in (first, second)] == [SmsStatus.SENT, SmsStatus.SENT]
    assert len(gateway.sent) == 2


def test_the_hubs_beat_schedule_carries_the_sms_sweeps():
    schedule = create_celery(load_settings()).conf.beat_schedule
    assert {"sms-dispatch-due", "sms-poll-statuses", "sms-notify-movements", "sms-remind"} <= set(schedule)
    assert schedule["sms-dispatch-due"]["task"] == "bonusbridge.sms.dispatch_due"
    assert {"release-expired-holds", "expire-due-points"} <= set(schedule), "the hub's own are kept"
