"""The hub's sweeps run as real Celery tasks through the configured broker (RabbitMQ in CI)."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from kombu import Connection

from bonusbridge import tasks
from bonusbridge.app import Hub
from bonusbridge.celery_app import create_celery
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Origin
from bonusbridge.settings import load_settings
from tests.conftest import REQUIRE_SERVICES, require_service


@pytest.fixture
def broker_url() -> str:
    url = os.environ.get("BONUSBRIDGE_BROKER_URL", "memory://")
    if url.startswith("memory"):
        if REQUIRE_SERVICES:
            pytest.fail("BONUSBRIDGE_REQUIRE_SERVICES=1 but BONUSBRIDGE_BROKER_URL is not a real broker")
        return url
    try:
        with Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        require_service("RabbitMQ", f"{url}: {exc}")
    return url


def test_celery_settings_follow_the_reliability_rules():
    app = create_celery(load_settings(broker_url="amqp://guest:guest@127.0.0.1:5672//"))
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_transport_options == {"confirm_publish": True}
    assert {"release-expired-holds", "expire-due-points"} <= set(app.conf.beat_schedule)


def test_sweep_tasks_run_through_a_real_worker(broker_url, ledger, make_card, clock, db):
    from celery.contrib.testing.worker import start_worker

    card = make_card()
    ledger.accrue(
        card, Decimal("30"), key="a", origin=Origin.WEBSITE, expires_at=clock.now + timedelta(days=1)
    )
    ledger.accrue(card, Decimal("20"), key="b", origin=Origin.WEBSITE)
    ledger.hold(card, Decimal("20"), key="h", origin=Origin.WEBSITE)
    clock.advance(timedelta(days=2))

    settings = load_settings(broker_url=broker_url, result_backend="cache+memory://")
    app = create_celery(settings)
    app.conf.task_default_queue = f"bonusbridge-test-{os.getpid()}"
    tasks.use_hub(Hub(settings=settings, engine=db, ledger=LedgerService(db, clock=clock)))
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
            released = app.send_task("bonusbridge.ledger.release_expired_holds").get(timeout=30)
            expired = app.send_task("bonusbridge.ledger.expire_due", args=[clock.now.isoformat()]).get(
                timeout=30
            )
    finally:
        tasks.use_hub(None)
    assert Decimal(released) == Decimal("20")
    assert expired == 1
    balance = ledger.balance(card)
    assert (balance.total, balance.available, balance.held) == (Decimal("20"), Decimal("20"), Decimal("0"))
