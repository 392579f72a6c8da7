"""Issue 18 item 2 on the AMQP feed: a change message waiting on the hub's queue holds every balance
back from a repair.

The AMQP queue tells how many messages wait, not whose points they move, so while any waits no
balance is corrected — not even one whose drift no waiting message explains. Once the listener has
read the queue, the repair corrects exactly the drift that is left, and each 1C document counts
once. Both 1C configurations (retail: per card, УТ 11: per partner), with the emulator publishing
every change to RabbitMQ as 1C's event subscription would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from connectors.onec.changefeed import AmqpChangeConsumer
from connectors.onec.emulator.amqp import ChangePublisher, attach_publisher
from connectors.onec.emulator.app import create_app
from connectors.onec.emulator.server import ServerThread
from connectors.sync.pull import pull_full
from connectors.sync.runner import drain_everything
from reconciliation.compare import compare_hub_with_onec
from reconciliation.drift import check_drift, feed_of, repair_drift
from tests.conftest import require_service
from tests.onec_live import PARTNER_IVANOV, PARTNER_PETROVA, Base
from tests.reconciliation.test_drift_feed_behind import onec_total, post_in_1c
from tests.sync.conftest import Harness

D = Decimal
RABBIT = "amqp://guest:guest@127.0.0.1:5672//"
CARD_1 = "40000000-0000-4000-8000-000000000001"  # Иванов's
CARD_3 = "40000000-0000-4000-8000-000000000003"  # Петрова's
CARD_5 = "40000000-0000-4000-8000-000000000005"  # Кузнецова's
PARTNER_KUZNETSOVA = "10000000-0000-4000-8000-000000000004"


@pytest.fixture
def exchange() -> Iterator[str]:
    """A fresh topic exchange name; the hub's queue is ``<name>.hub`` (deleted afterwards)."""
    import kombu

    try:
        with kombu.Connection(RABBIT, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        require_service("RabbitMQ", f"{RABBIT}: {exc}")
    name = f"test.onec.behind.{uuid.uuid4().hex[:12]}"
    yield name
    hub = f"{name}.hub"
    leftovers = [("queue_delete", hub), ("queue_delete", f"{hub}.dead"), ("exchange_delete", f"{hub}.dead")]
    leftovers += [("exchange_delete", name)]
    with kombu.Connection(RABBIT) as conn:
        for action, target in leftovers:
            channel = conn.channel()
            try:
                getattr(channel, action)(target)
            except Exception:
                pass
            finally:
                channel.close()


@pytest.fixture(params=["retail", "ut11"])
def publishing(request: pytest.FixtureRequest, exchange: str) -> Iterator[tuple[Base, ChangePublisher]]:
    """An emulated base of its own that publishes each commit to ``exchange`` (in the commit)."""
    app = create_app(request.param, fixtures="demo")
    with ServerThread(app) as server:
        publisher = attach_publisher(app, RABBIT, exchange)
        try:
            yield Base(server, request.param), publisher
        finally:
            publisher.close()
            app.state.emulator.store.dispose()


@pytest.fixture
def h(publishing: tuple[Base, ChangePublisher], exchange: str, db) -> Iterator[Harness]:
    base, _ = publishing
    harness = Harness(
        base,
        db,
        onec_change_feed="amqp",
        onec_amqp_url=RABBIT,
        onec_amqp_exchange=exchange,
        onec_amqp_queue=f"{exchange}.hub",
    )
    yield harness
    harness.close()


def catch_up(h: Harness) -> None:
    """The listener runs: it reads the queue, the workers apply and deliver, until both sides are
    quiet; then it stops (its consumer closed, so what 1C publishes next waits on the queue)."""
    with h.listener.amqp_consumer() as consumer:
        for _ in range(10):
            stored = consumer.drain(timeout=0.3)
            handled = drain_everything(h.ctx)
            if not stored and not handled:
                return
    raise AssertionError("the sync did not settle")


def waiting(h: Harness) -> int:
    """Messages on the hub's queue that no listener has read."""
    settings = h.settings
    with AmqpChangeConsumer(
        settings.onec_amqp_url, settings.onec_amqp_exchange, settings.onec_amqp_queue, lambda changes: None
    ) as consumer:
        return consumer.waiting()


def purge(h: Harness) -> None:
    """1C's messages so far never reach the hub (as if 1C's programmer wrote past the feed)."""
    settings = h.settings
    with AmqpChangeConsumer(
        settings.onec_amqp_url, settings.onec_amqp_exchange, settings.onec_amqp_queue, lambda changes: None
    ) as consumer:
        consumer.queue(consumer.connection.default_channel).purge()


def test_a_message_waiting_on_the_amqp_queue_holds_every_balance_back(h: Harness) -> None:
    ut11 = h.base.config == "ut11"
    field = "Партнер_Key" if ut11 else "ДисконтнаяКарта_Key"
    first, second = (PARTNER_IVANOV, PARTNER_PETROVA) if ut11 else (CARD_1, CARD_3)
    third = PARTNER_KUZNETSOVA if ut11 else CARD_5
    profile = h.ctx.profile
    with h.listener.amqp_consumer() as consumer:
        consumer.declare()  # the hub's queue is bound before 1C publishes anything
    pull_full(h.ctx)
    catch_up(h)
    assert compare_hub_with_onec(h.ctx.engine, h.onec, profile).ok
    assert waiting(h) == 0
    before = {owner: onec_total(h, owner) for owner in (first, second, third)}

    # A drift no message explains: 1C's message of it never reaches the hub's queue.
    post_in_1c(h, field, third, "Начисление", "5")
    purge(h)
    assert waiting(h) == 0
    # The listener is stopped: 1C's next changes wait on the queue.
    post_in_1c(h, field, first, "Списание", "100")
    post_in_1c(h, field, second, "Начисление", "77.77")
    count = waiting(h)
    assert count >= 2

    report_id, comparison = check_drift(h.ctx.engine, h.onec, profile)
    found = {d.onec_ref: d.onec_value - d.hub_value for d in comparison.card_differences}
    assert found == {first: D("-100"), second: D("77.77"), third: D("5")}
    result = repair_drift(
        h.ctx.engine,
        h.onec,
        profile,
        report_id,
        confirmed_by="Анна Бухгалтер",
        feed=feed_of(h.settings, h.ctx.engine, h.onec),
    )
    # Every balance is held back, the third's too: the queue cannot say whose points wait.
    assert result.repaired == 0
    assert len(result.outcomes) == 3
    expected = (
        f"{count} change message(s) of 1C wait in queue {h.settings.onec_amqp_queue}, "
        "not read by the hub yet: start `sync listen`, then repair again"
    )
    assert {o.skipped for o in result.outcomes} == {expected}
    assert waiting(h) == count  # the check took nothing from the queue

    catch_up(h)  # the listener starts: each waiting document is counted once
    assert waiting(h) == 0
    report_id, comparison = check_drift(h.ctx.engine, h.onec, profile)
    assert {d.onec_ref: d.onec_value - d.hub_value for d in comparison.card_differences} == {third: D("5")}
    result = repair_drift(
        h.ctx.engine,
        h.onec,
        profile,
        report_id,
        confirmed_by="Анна Бухгалтер",
        feed=feed_of(h.settings, h.ctx.engine, h.onec),
    )
    assert result.repaired == 1 and [o.skipped for o in result.outcomes] == [None]
    catch_up(h)
    assert compare_hub_with_onec(h.ctx.engine, h.onec, profile).ok
    assert onec_total(h, first) == before[first] - 100
    assert onec_total(h, second) == before[second] + D("77.77")
    assert onec_total(h, third) == before[third] + 5
