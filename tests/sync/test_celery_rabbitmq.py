"""The processes as deployed: relay → RabbitMQ (confirms, mandatory) → Celery worker → 1C, and the
listener's kicks → worker → hub. Runs on the configured broker (RabbitMQ in CI's second pass)."""

from __future__ import annotations

import os
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bonusbridge.celery_app import create_celery
from bonusbridge.models import OutboxMessage, SyncState
from connectors.sync import tasks
from connectors.sync.pull import pull_full
from connectors.sync.relay import CeleryPublisher, Relay, outbound_queue
from tests.sync.conftest import Harness
from tests.sync.test_behaviour import accrue
from tests.sync.test_end_to_end import CARD_1, hub_card
from tests.test_celery_tasks import broker_url  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)


def test_relay_worker_and_listener_through_the_broker(broker_url, retail, db):  # noqa: F811
    if broker_url.startswith("memory"):
        pytest.skip("needs a real broker (BONUSBRIDGE_BROKER_URL=amqp://…); the memory broker is in-process")
    from celery.contrib.testing.worker import start_worker

    h = Harness(retail, db, broker_url=broker_url, result_backend="cache+memory://")
    pull_full(h.ctx)
    card_id, _ = hub_card(h, CARD_1)
    app = create_celery(h.settings)
    app.conf.task_default_queue = f"bonusbridge-sync-test-{os.getpid()}"
    publisher = CeleryPublisher(app)
    h.ctx.kick = lambda direction, slots: publisher.kick_inbound(slots)
    tasks.use_context(h.ctx)
    relay = Relay(h.ctx, publisher)
    stop = threading.Event()
    try:
        with start_worker(
            app,
            perform_ping_check=False,
            pool="solo",
            shutdown_timeout=10,
            queues=[app.conf.task_default_queue, outbound_queue(app)],
        ):
            thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
            thread.start()
            for n in range(5):
                accrue(h, card_id, "2", f"via-broker-{n}")
            h.till("2000000000011", accrued="3")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                h.listener.poll_once()
                with h.ctx.engine.connect() as conn:
                    pending = conn.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.state == SyncState.PENDING)
                    )
                if not pending and hub_card(h, CARD_1)[1] == Decimal("663"):
                    break
                time.sleep(0.2)
    finally:
        stop.set()
        tasks.use_context(None)
    assert relay.published >= 5
    assert hub_card(h, CARD_1)[1] == Decimal("663") == h.onec_balance(CARD_1)
    h.close()


def test_an_unroutable_message_is_not_marked_published(broker_url, retail, db):  # noqa: F811
    if broker_url.startswith("memory"):
        pytest.skip("mandatory/basic.return needs a real broker")
    h = Harness(retail, db, broker_url=broker_url, result_backend="cache+memory://")
    app = create_celery(h.settings)
    # No queue is bound for this routing key: RabbitMQ returns the mandatory message.
    app.conf.task_routes = {
        "bonusbridge.sync.deliver": {"exchange": "amq.direct", "routing_key": "nobody-listens"}
    }
    app.conf.task_create_missing_queues = False
    pull_full(h.ctx)
    card_id, _ = hub_card(h, CARD_1)
    accrue(h, card_id, "1", "unroutable")
    relay = Relay(h.ctx, CeleryPublisher(app))
    assert relay.run_once() == 0
    with h.ctx.engine.connect() as conn:
        assert (
            conn.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_not(None))
            )
            == 0
        )
    h.close()
