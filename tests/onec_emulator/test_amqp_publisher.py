"""The AMQP change publisher against the real RabbitMQ: background publishing keeps commit order and
confirms, one message per object and commit, and a broker that is down or far behind costs counted
failures, never a failed write."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.onec.changefeed import AmqpChangeConsumer
from connectors.onec.emulator import registers
from connectors.onec.emulator.amqp import ChangePublisher, attach_publisher
from connectors.onec.emulator.app import Emulator, create_app
from tests.conftest import require_service
from tests.onec_live import CARD_1, PROGRAM

RABBIT = "amqp://guest:guest@127.0.0.1:5672//"
DOWN = "amqp://guest:guest@127.0.0.1:1//"
RECEIPTS = "Document_ЧекККМ"
REGISTER = "AccumulationRegister_БонусныеБаллы"


@pytest.fixture
def rabbit() -> Iterator[str]:
    """A fresh exchange name with a durable queue of the same name bound to everything."""
    import kombu

    try:
        with kombu.Connection(RABBIT, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        require_service("RabbitMQ", f"{RABBIT}: {exc}")
    name = f"test.onec.pub.{uuid.uuid4().hex[:12]}"
    exchange = kombu.Exchange(name, type="topic", durable=True)
    with kombu.Connection(RABBIT) as conn:
        kombu.Queue(name, exchange=exchange, routing_key="#", durable=True)(conn.default_channel).declare()
    yield name
    hub = f"{name}.hub"  # the hub consumer's own queue (see the consumer test) and its dead letters
    leftovers = [("queue_delete", name), ("exchange_delete", name), ("queue_delete", hub)]
    leftovers += [("queue_delete", f"{hub}.dead"), ("exchange_delete", f"{hub}.dead")]
    with kombu.Connection(RABBIT) as conn:
        for action, target in leftovers:
            channel = conn.channel()
            try:
                getattr(channel, action)(target)
            except Exception:
                pass
            finally:
                channel.close()


def received(name: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message waiting in the queue, in order: (routing key, body)."""
    import kombu

    out = []
    with kombu.Connection(RABBIT) as conn:
        queue = kombu.Queue(name, durable=True)(conn.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            assert (message.content_type, message.content_encoding) == ("application/json", "utf-8")
            assert message.properties["delivery_mode"] == 2  # persistent
            out.append((message.delivery_info["routing_key"], json.loads(message.body)))
    return out


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    app = create_app("retail", fixtures="demo")
    emu: Emulator = app.state.emulator
    yield emu
    emu.store.dispose()


def attach(emu: Emulator, url: str, exchange: str, **kwargs: Any) -> ChangePublisher:
    if kwargs:
        publisher = ChangePublisher(emu, url, exchange, background=True, **kwargs)
        emu.store.after_commit(publisher.publish)
        return publisher
    return attach_publisher(emu, url, exchange, background=True)


def test_background_publishing_keeps_commit_order(emulator: Emulator, rabbit: str) -> None:
    publisher = attach(emulator, RABBIT, rabbit)
    try:
        receipts = [emulator.loyalty.post_receipt(CARD_1, "1", "0") for _ in range(300)]
        assert publisher.flush(timeout=30)
        assert (publisher.published, publisher.failures, publisher.queued) == (600, 0, 0)
    finally:
        publisher.close()
    messages = received(rabbit)
    expected = [key for r in receipts for key in ((RECEIPTS, r.ref), (REGISTER, r.ref))]
    assert [(body["entity_set"], body["key"]) for _, body in messages] == expected
    routing, first = messages[0]
    assert routing == f"{RECEIPTS}.changed" and first["kind"] == "write" and first["origin_node"] is None
    assert first["object"]["Number"] == receipts[0].number and first["object"]["Posted"] is True
    assert first["data_version"] == "AAAAAAAAAAA="
    records = messages[1][1]["object"]
    assert records["Recorder"] == receipts[0].ref
    assert [(r["RecordType"], r["Начислено"], r["LineNumber"]) for r in records["RecordSet"]] == [
        ("Receipt", 1, "1")
    ]


def test_one_message_per_object_and_commit_with_its_last_state(emulator: Emulator, rabbit: str) -> None:
    publisher = attach(emulator, RABBIT, rabbit)
    eset = emulator.config.entity_sets["Document_НачислениеИСписаниеБонусныхБаллов"]
    body = {
        "ВидОперации": "Начисление",
        "БонуснаяПрограммаЛояльности_Key": PROGRAM,
        "Начисление": [{"LineNumber": 1, "ДисконтнаяКарта_Key": CARD_1, "СуммаБонусныхБаллов": 10}],
    }
    try:
        with emulator.store.begin() as tx:  # written, then posted (written again) in one transaction
            doc = tx.insert(eset.name, emulator.loyalty.writer.new(tx, eset, body))
            registers.post(tx, emulator.config, eset, doc)
        with emulator.store.begin() as tx:
            tx.delete("Catalog_Партнеры", "10000000-0000-4000-8000-000000000004")
        assert publisher.flush(timeout=10)
    finally:
        publisher.close()
    messages = received(rabbit)
    assert [(key, body["key"]) for key, body in messages] == [
        (f"{eset.name}.changed", doc["Ref_Key"]),
        (f"{REGISTER}.changed", doc["Ref_Key"]),
        ("Catalog_Партнеры.deleted", "10000000-0000-4000-8000-000000000004"),
    ]
    assert messages[0][1]["object"]["Posted"] is True  # the last state, not the first write
    assert messages[2][1]["object"] is None and messages[2][1]["kind"] == "delete"


def test_a_broker_that_is_down_costs_counted_failures_not_writes(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = attach(emulator, DOWN, "nowhere", linger=0.01)  # no up-front declare: it retries for 6 s
    try:
        with caplog.at_level(logging.WARNING, logger="connectors.onec.emulator.amqp"):
            receipt = emulator.loyalty.post_receipt(CARD_1, "5", "0")
            assert publisher.flush(timeout=30)
        assert (publisher.published, publisher.failures) == (0, 2)
        assert any("failed" in r.getMessage() for r in caplog.records)
        emulator.loyalty.post_receipt(CARD_1, "5", "0")  # within RETRY_AFTER: failed at once
        assert publisher.flush(timeout=1) and publisher.failures == 4
    finally:
        publisher.close()
    with emulator.store.begin() as tx:  # the write stands and the exchange plan still has it
        assert tx.get(RECEIPTS, receipt.ref) is not None
        pending = emulator.exchange.pending(tx, "8b1f2a60-0c0e-11ef-9a40-0050569f0002")
    assert [(r.entity_set, r.key) for r in pending][:2] == [(RECEIPTS, receipt.ref), (REGISTER, receipt.ref)]
    assert len(pending) == 4


def test_a_full_queue_counts_what_it_drops(emulator: Emulator, rabbit: str) -> None:
    publisher = attach(emulator, RABBIT, rabbit, max_queue=2, linger=0.5)
    try:
        for _ in range(5):
            emulator.loyalty.post_receipt(CARD_1, "1", "0")
        assert publisher.failures >= 6  # at most 2 queued and 1 taken of 10 changes: dropped at once
        assert publisher.flush(timeout=10)
        assert publisher.published + publisher.failures == 10
    finally:
        publisher.close()
    assert len(received(rabbit)) == publisher.published


def test_close_sends_what_is_queued(emulator: Emulator, rabbit: str) -> None:
    publisher = attach(emulator, RABBIT, rabbit, linger=0.2)
    emulator.loyalty.post_receipt(CARD_1, "1", "0")
    publisher.close()
    assert publisher.published == 2 and len(received(rabbit)) == 2


def test_the_hubs_consumer_reads_what_the_background_publisher_sends(emulator: Emulator, rabbit: str) -> None:
    inbox: list[dict[str, Any]] = []
    with AmqpChangeConsumer(RABBIT, rabbit, f"{rabbit}.hub", inbox.extend) as consumer:
        consumer.declare()  # the hub's queue is bound before 1C publishes
        publisher = attach(emulator, RABBIT, rabbit)
        try:
            receipt = emulator.loyalty.post_receipt(CARD_1, "2", "1", amount="10")
            assert publisher.flush(timeout=10)
        finally:
            publisher.close()
        assert consumer.drain(timeout=0.5) == 2
    assert [c["odata.type"] for c in inbox] == [f"StandardODATA.{RECEIPTS}", f"StandardODATA.{REGISTER}"]
    assert inbox[0]["Ref_Key"] == receipt.ref and inbox[0]["Number"] == receipt.number
    assert [r["RecordType"] for r in inbox[1]["RecordSet"]] == ["Receipt", "Expense"]


def test_a_message_larger_than_a_frame_arrives_whole(emulator: Emulator, rabbit: str) -> None:
    comment = "длинный комментарий " * 20_000  # ~400 KB of UTF-8: several AMQP body frames
    publisher = attach(emulator, RABBIT, rabbit)
    try:
        with emulator.store.begin() as tx:
            partner = tx.get("Catalog_Партнеры", "10000000-0000-4000-8000-000000000001")
            assert partner is not None
            tx.replace("Catalog_Партнеры", {**partner, "Комментарий": comment})
        emulator.loyalty.post_receipt(CARD_1, "1", "0")
        assert publisher.flush(timeout=10) and publisher.failures == 0
    finally:
        publisher.close()
    messages = received(rabbit)
    assert [body["entity_set"] for _, body in messages] == ["Catalog_Партнеры", RECEIPTS, REGISTER]
    assert messages[0][1]["object"]["Комментарий"] == comment
