"""The change feed: SelectChanges polling acknowledges only after storing; the AMQP variant goes
through the real RabbitMQ (emulator publishing, kombu consumer acking after the store)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from connectors.onec.changefeed import AmqpChangeConsumer, FilePollState, MemoryPollState, SelectChangesPoller
from connectors.onec.emulator.amqp import attach_publisher
from connectors.onec.odata import ODataClient
from tests.conftest import require_service
from tests.onec_live import PARTNER_IVANOV, PARTNER_PETROVA, Base

from .conftest import PLAN, client_for

PARTNERS = "Catalog_Партнеры"
RABBIT = "amqp://guest:guest@127.0.0.1:5672//"


class Inbox:
    """An idempotent store: the latest state per key; can be told to fail."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.fail = False

    def __call__(self, changes: list[dict[str, Any]]) -> None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("database down")
        for change in changes:
            self.objects[change.get("Ref_Key") or change["Recorder"]] = change


def _edit(admin: ODataClient, ref: str, comment: str) -> None:
    admin.patch(PARTNERS, ref, {"Комментарий": comment})


def test_poller_acknowledges_only_after_store(retail: Base) -> None:
    inbox, state = Inbox(), MemoryPollState()
    with client_for(retail) as site, client_for(retail, "Администратор", "") as admin:
        poller = SelectChangesPoller(site, PLAN, "САЙТ", inbox, state)
        assert poller.poll_once().received == 0 and state.last_acknowledged() == 0
        _edit(admin, PARTNER_IVANOV, "первое")

        inbox.fail = True
        with pytest.raises(RuntimeError):
            poller.poll_once()
        assert state.last_acknowledged() == 0  # not acknowledged: 1C still holds it

        _edit(admin, PARTNER_PETROVA, "второе")
        inbox.fail = False
        result = poller.poll_once()  # the same N again: the failed change plus the new one
        assert (result.message_no, result.received, result.acknowledged) == (1, 2, True)
        assert inbox.objects[PARTNER_IVANOV]["Комментарий"] == "первое"
        assert state.last_acknowledged() == 1
        assert poller.poll_once().received == 0  # acknowledged changes are gone
        assert site.exchange_node(PLAN, "САЙТ").sent_no >= 1  # type: ignore[union-attr]


def test_rewrite_after_read_survives_the_acknowledgment(retail: Base) -> None:
    inbox, state = Inbox(), MemoryPollState()
    with client_for(retail) as site, client_for(retail, "Администратор", "") as admin:
        seen: list[str] = []

        def store_then_edit(changes: list[dict[str, Any]]) -> None:
            inbox(changes)
            if not seen:
                seen.append("edited")
                _edit(admin, PARTNER_IVANOV, "после чтения")  # rewritten between read and ack

        _edit(admin, PARTNER_IVANOV, "до")
        poller = SelectChangesPoller(site, PLAN, "САЙТ", store_then_edit, state)
        assert poller.poll_once().received == 1
        second = poller.poll_once()
        assert second.received == 1 and inbox.objects[PARTNER_IVANOV]["Комментарий"] == "после чтения"


def test_own_writes_are_not_echoed(retail: Base) -> None:
    inbox = Inbox()
    with client_for(retail) as site:
        site.patch(PARTNERS, PARTNER_IVANOV, {"Комментарий": "с сайта"})
        assert SelectChangesPoller(site, PLAN, "САЙТ", inbox, MemoryPollState()).poll_once().received == 0


def test_file_state_survives_restart(tmp_path: Path) -> None:
    state = FilePollState(tmp_path / "feed" / "position.json")
    assert state.last_acknowledged() == 0
    state.acknowledged(7)
    assert FilePollState(tmp_path / "feed" / "position.json").last_acknowledged() == 7
    assert [p.name for p in (tmp_path / "feed").iterdir()] == ["position.json"]


def test_unknown_node_is_reported(retail: Base) -> None:
    from connectors.onec.errors import OneCNotFound

    with client_for(retail) as site, pytest.raises(OneCNotFound, match="НЕТ"):
        SelectChangesPoller(site, PLAN, "НЕТ", Inbox(), MemoryPollState()).poll_once()


def test_run_loop_stops(retail: Base) -> None:
    stop = threading.Event()
    with client_for(retail) as site:
        poller = SelectChangesPoller(site, PLAN, "САЙТ", Inbox(), MemoryPollState())
        thread = threading.Thread(target=poller.run, args=(stop,), kwargs={"interval": 0.05})
        thread.start()
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive()


# --- RabbitMQ ------------------------------------------------------------------------------------


@pytest.fixture
def rabbit() -> Any:
    import kombu

    try:
        with kombu.Connection(RABBIT, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        require_service("RabbitMQ", f"{RABBIT}: {exc}")
    name = f"test.onec.{uuid.uuid4().hex[:12]}"
    yield name
    with kombu.Connection(RABBIT) as conn:
        for action, target in [
            (a, n) for n in (name, f"{name}.dead") for a in ("queue_delete", "exchange_delete")
        ]:
            channel = conn.channel()  # a failed delete closes the channel: one per action
            try:
                getattr(channel, action)(target)
            except Exception:
                pass
            finally:
                channel.close()


def _publish(name: str, bodies: list[Any]) -> None:
    import kombu

    with kombu.Connection(RABBIT) as conn:
        producer = conn.Producer()
        for body in bodies:
            producer.publish(body, exchange=name, routing_key="x", serializer="json", retry=True)


def _change(n: int) -> dict[str, Any]:
    ref = f"10000000-0000-4000-8000-{n:012d}"
    return {"entity_set": PARTNERS, "key": ref, "kind": "update", "object": {"Ref_Key": ref, "n": n}}


def test_consumer_stores_a_burst_in_few_calls_and_in_order(rabbit: str) -> None:
    seen: list[int] = []
    calls: list[int] = []

    def store(changes: list[dict[str, Any]]) -> None:
        calls.append(len(changes))
        seen.extend(int(c["n"]) for c in changes)

    with AmqpChangeConsumer(RABBIT, rabbit, rabbit, store, batch=50, linger=0.05) as consumer:
        consumer.declare()
        _publish(rabbit, [_change(n) for n in range(120)])
        assert consumer.drain(timeout=0.5) == 120
    assert seen == list(range(120))
    assert len(calls) <= 10 and max(calls) <= 50  # batches, never more than the prefetch


def test_a_failed_store_is_redelivered_whole_and_in_order(rabbit: str) -> None:
    seen: list[int] = []
    failures = [True]

    def store(changes: list[dict[str, Any]]) -> None:
        if failures and failures.pop():
            raise RuntimeError("database down")
        seen.extend(int(c["n"]) for c in changes)

    with AmqpChangeConsumer(RABBIT, rabbit, rabbit, store, batch=20, linger=0.05) as consumer:
        consumer.declare()
        _publish(rabbit, [_change(n) for n in range(30)])
        consumer.drain(timeout=0.5)
    assert seen == list(range(30))


def test_an_undecodable_message_is_dead_lettered_not_lost(rabbit: str) -> None:
    import kombu

    inbox = Inbox()
    with AmqpChangeConsumer(RABBIT, rabbit, rabbit, inbox) as consumer:
        consumer.declare()
        _publish(rabbit, ["{not json", {"no": "entity set"}])
        _publish(rabbit, [_change(1)])
        assert consumer.drain(timeout=0.5) == 1 and consumer.dead_lettered == 2
    with kombu.Connection(RABBIT) as conn:
        channel = conn.channel()
        _, count, _ = channel.queue_declare(f"{rabbit}.dead", passive=True)
        channel.close()
    assert count == 2 and len(inbox.objects) == 1


def test_emulator_publishes_and_consumer_acks_after_store(retail: Base, rabbit: str) -> None:
    inbox = Inbox()
    app = retail.server.server.config.app
    with AmqpChangeConsumer(RABBIT, rabbit, rabbit, inbox) as consumer:
        consumer.drain(timeout=0.2)  # declares and binds the queue before anything is published
        publisher = attach_publisher(app, RABBIT, rabbit)
        try:
            with client_for(retail, "Администратор", "") as admin:
                _edit(admin, PARTNER_IVANOV, "через кролика")
            assert publisher.published == 1 and publisher.failures == 0
            assert consumer.drain(timeout=1.0) == 1
        finally:
            retail_emulator = app.state.emulator
            retail_emulator.store._after_commit.remove(publisher.publish)
            publisher.close()
    change = inbox.objects[PARTNER_IVANOV]
    assert (
        change["Комментарий"] == "через кролика" and change["odata.type"] == "StandardODATA.Catalog_Партнеры"
    )


def test_failed_store_requeues_then_succeeds(retail: Base, rabbit: str) -> None:
    inbox = Inbox()
    app = retail.server.server.config.app
    with AmqpChangeConsumer(RABBIT, rabbit, rabbit, inbox) as consumer:
        consumer.drain(timeout=0.2)
        publisher = attach_publisher(app, RABBIT, rabbit)
        try:
            with client_for(retail, "Администратор", "") as admin:
                _edit(admin, PARTNER_PETROVA, "повтор")
        finally:
            app.state.emulator.store._after_commit.remove(publisher.publish)
            publisher.close()
        inbox.fail = True
        consumer.drain(timeout=0.5, max_seconds=1.0)
        assert consumer.failed >= 1 and consumer.stored == 0
        inbox.fail = False
        assert consumer.drain(timeout=1.0) == 1
    assert inbox.objects[PARTNER_PETROVA]["Комментарий"] == "повтор"


def test_publisher_down_broker_never_breaks_the_write(retail: Base) -> None:
    app = retail.server.server.config.app
    publisher = attach_publisher(app, "amqp://guest:guest@127.0.0.1:1//", "nowhere")
    try:
        with client_for(retail, "Администратор", "") as admin:
            _edit(admin, PARTNER_IVANOV, "без брокера")
            assert admin.get(PARTNERS, PARTNER_IVANOV)["Комментарий"] == "без брокера"
        assert publisher.failures == 1
    finally:
        app.state.emulator.store._after_commit.remove(publisher.publish)
        publisher.close()


def test_points_arrive_as_decimals_not_floats(rabbit: str) -> None:
    from decimal import Decimal

    seen: list[dict[str, Any]] = []
    with AmqpChangeConsumer(RABBIT, rabbit, rabbit, seen.extend) as consumer:
        consumer.declare()
        change = _change(1)
        change["object"]["СуммаБонусныхБаллов"] = 3.5
        _publish(rabbit, [change])
        assert consumer.drain(timeout=0.5) == 1
    value = seen[0]["СуммаБонусныхБаллов"]
    assert isinstance(value, Decimal) and value == Decimal("3.5")
