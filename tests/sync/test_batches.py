"""Applying the inbox in batches, stale and deleted documents, and the listener's lost kicks."""

from __future__ import annotations

import base64
import os
import time
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bonusbridge.ledger import fastpath
from bonusbridge.models import InboxMessage, Movement, Origin, SyncState
from connectors.sync import inbound
from connectors.sync.inbound import store_changes
from connectors.sync.listener import Listener
from connectors.sync.pull import pull_full
from connectors.sync.runner import drain_everything
from connectors.sync.slots import INBOX, slot_locks
from tests.sync.conftest import Harness
from tests.sync.test_end_to_end import CARD_1, hub_card

RECEIPTS = "Document_ЧекККМ"
CARD_1_NUMBER = "2000000000011"


def receipt_change(h: Harness, ref: str, **changes: Any) -> dict[str, Any]:
    return {"odata.type": f"StandardODATA.{RECEIPTS}", **h.onec.get(RECEIPTS, ref), **changes}


def version(counter: int) -> str:
    return base64.b64encode(counter.to_bytes(8, "big")).decode()


def inbox_rows(h: Harness, ref: str) -> list[InboxMessage]:
    with h.ctx.session_factory() as s:
        return list(
            s.scalars(select(InboxMessage).where(InboxMessage.onec_ref == ref).order_by(InboxMessage.id))
        )


def receipt_and_repost(h: Harness) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A till receipt of 5 on card 1, its change as 1C sent it, and a re-post of it earning 9."""
    pull_full(h.ctx)
    h.sync()
    receipt = h.till(CARD_1_NUMBER, accrued="5")
    original = receipt_change(h, receipt["ref"])
    reposted = dict(original, DataVersion=version(7))
    reposted["БонусныеБаллы"] = [dict(original["БонусныеБаллы"][0], СуммаБонусныхБаллов=9)]
    return receipt, original, reposted


def test_a_cards_receipts_apply_in_one_transaction(harness, monkeypatch):
    h = harness
    pull_full(h.ctx)
    h.sync()
    one_by_one: list[int] = []
    single = inbound.apply
    monkeypatch.setattr(inbound, "apply", lambda ctx, row: one_by_one.append(row.id) or single(ctx, row))
    for points in ("1", "2", "3", "4"):
        h.till(CARD_1_NUMBER, accrued=points)
    h.sync()
    assert one_by_one == []  # four rows of one key, one slot: one batch, one commit
    assert hub_card(h, CARD_1)[1] == Decimal("660") == h.onec_balance(CARD_1)


def lost_card_change(h: Harness) -> dict[str, Any]:
    """Card 1 marked lost in 1C: a status the mapping does not know, so the change is parked."""
    card = h.onec.get("Catalog_ИнформационныеКарты", CARD_1)
    return {
        "odata.type": "StandardODATA.Catalog_ИнформационныеКарты",
        **card,
        "Статус": "Потеряна",
        "DataVersion": version(99),
    }


def test_a_batch_holding_an_unmappable_change_goes_row_by_row(harness):
    h = harness
    pull_full(h.ctx)
    h.sync()
    bad = lost_card_change(h)
    receipt = h.till(CARD_1_NUMBER, accrued="7")
    # The same key (the card), so the same slot and one batch: the bad change first.
    store_changes(h.ctx, [bad, receipt_change(h, receipt["ref"])], source="amqp")
    drain_everything(h.ctx)
    states = [r.state for r in inbox_rows(h, CARD_1)] + [r.state for r in inbox_rows(h, receipt["ref"])]
    assert states == [SyncState.PARKED, SyncState.DONE]
    assert hub_card(h, CARD_1)[1] == Decimal("657")


def test_an_older_version_of_a_document_arriving_late_is_stale(harness):
    h = harness
    receipt, original, reposted = receipt_and_repost(h)
    store_changes(h.ctx, [reposted], source="amqp")
    drain_everything(h.ctx)
    assert hub_card(h, CARD_1)[1] == Decimal("659")
    store_changes(h.ctx, [original], source="amqp")  # redelivered after the re-post
    drain_everything(h.ctx)
    late = inbox_rows(h, receipt["ref"])[-1]
    assert late.state == SyncState.SKIPPED and "stale" in (late.last_error or "")
    assert hub_card(h, CARD_1)[1] == Decimal("659")


def test_a_deleted_document_takes_its_cards_key_and_is_reversed(harness):
    h = harness
    pull_full(h.ctx)
    h.sync()
    receipt = h.till(CARD_1_NUMBER, accrued="5")
    deletion = {"odata.type": f"StandardODATA.{RECEIPTS}", "Ref_Key": receipt["ref"], "odata.deleted": True}
    # One batch: the post and its deletion; then the deletion again, alone, a moment later.
    store_changes(h.ctx, [receipt_change(h, receipt["ref"]), deletion], source="amqp")
    rows = inbox_rows(h, receipt["ref"])
    assert [r.key for r in rows] == [CARD_1, CARD_1]
    drain_everything(h.ctx)
    assert hub_card(h, CARD_1)[1] == Decimal("650")
    store_changes(h.ctx, [receipt_change(h, receipt["ref"], DataVersion=version(3))], source="amqp")
    drain_everything(h.ctx)
    assert inbox_rows(h, receipt["ref"])[-1].state == SyncState.SKIPPED  # deleted is final
    with h.ctx.session_factory() as s:
        made = s.execute(
            select(Movement.amount, Movement.origin).where(Movement.document == receipt["ref"])
        ).all()
    assert sorted(made) == [(Decimal("-5"), Origin.ONEC), (Decimal("5"), Origin.ONEC)]


def test_a_kick_lost_with_the_broker_is_asked_for_again(retail, db):
    # The listener stores only (applying nothing itself), so the row waits for a worker's kick.
    h = Harness(retail, db, sync_listener_applies_at_most=0)
    pull_full(h.ctx)
    h.sync()
    kicked: list[list[int]] = []
    broker_up = False

    def kick(direction: str, slots: list[int]) -> None:
        if not broker_up:
            raise ConnectionError("broker away")
        kicked.append(slots)

    h.ctx.kick = kick
    listener = Listener(h.ctx)
    receipt = h.till(CARD_1_NUMBER, accrued="5")
    listener._store([receipt_change(h, receipt["ref"])], "amqp", None)  # stored though the kick failed
    assert inbox_rows(h, receipt["ref"])[0].state == SyncState.PENDING and kicked == []
    broker_up = True
    listener.sweep(every=0)
    slot = inbox_rows(h, receipt["ref"])[0].slot
    assert kicked and slot in kicked[0]
    h.close()


def test_a_redemption_that_overtook_its_accrual_waits_behind_it(harness):
    """1C's till allowed a redemption of 120 thanks to an accrual of 50 just before (card 2 has
    100); the feed delivers the redemption first. The hub must end with both, not park it."""
    h = harness
    pull_full(h.ctx)
    h.sync()
    card_2 = "40000000-0000-4000-8000-000000000002"
    accrual = h.till("2000000000028", accrued="50")
    redemption = h.till("2000000000028", redeemed="120")
    store_changes(h.ctx, [receipt_change(h, redemption["ref"])], source="amqp")
    store_changes(h.ctx, [receipt_change(h, accrual["ref"])], source="amqp")
    import time

    deadline = time.monotonic() + 10
    while hub_card(h, card_2)[1] != Decimal("30") and time.monotonic() < deadline:
        drain_everything(h.ctx)
        time.sleep(0.05)
    assert hub_card(h, card_2)[1] == Decimal("30") == h.onec_balance(card_2)
    moved = inbox_rows(h, redemption["ref"])
    assert len(moved) == 1 and moved[0].state == SyncState.DONE and moved[0].attempts == 1


def test_each_sync_worker_gets_a_node_name_of_its_own(monkeypatch):
    """Two `bonusbridge sync worker` on one host must not both be celery@<host>: the second would
    refuse to start (its pidbox queue is exclusive). `--queues` picks what a worker consumes: both
    queues by default, or only the applies, or only the deliveries to 1C."""
    from typer.testing import CliRunner

    from bonusbridge import celery_app
    from connectors.sync.cli import app

    argv: list[list[str]] = []
    monkeypatch.setattr(celery_app.app, "worker_main", lambda args: argv.append(list(args)))
    default = celery_app.app.conf.task_default_queue
    expected = {
        "all": f"--queues={default},{default}.outbound",  # deliveries have a queue of their own
        "inbound": f"--queues={default}",
        "outbound": f"--queues={default}.outbound",
    }
    for queues, wanted in expected.items():
        argv.clear()
        args = ["worker"] if queues == "all" else ["worker", "--queues", queues]
        assert CliRunner().invoke(app, args).exit_code == 0
        names = [a for a in argv[0] if a.startswith("--hostname=")]
        assert names == [f"--hostname=sync-{queues}-{os.getpid()}@%h"]
        assert wanted in argv[0]
    assert CliRunner().invoke(app, ["worker", "--queues", "sideways"]).exit_code != 0


def test_deliveries_go_to_the_outbound_queue_unless_routed_otherwise():
    from bonusbridge.celery_app import create_celery
    from bonusbridge.settings import load_settings
    from connectors.sync.relay import DELIVER_TASK, CeleryPublisher

    app = create_celery(load_settings(celery_queue="shop-7"))
    assert CeleryPublisher(app)._deliver_routing() == {"queue": "shop-7.outbound"}
    app.conf.task_routes = {DELIVER_TASK: {"queue": "to-1c"}}
    assert CeleryPublisher(app)._deliver_routing() == {}


# --- a batch's accruals pipelined (PostgreSQL's fast path) ----------------------------------------


def record_flushes(monkeypatch: Any) -> list[int]:
    """The number of accruals each non-empty pipeline flush sent (stays empty off PostgreSQL)."""
    sizes: list[int] = []
    flush = fastpath.AccrualPipeline.flush

    def recording(self: fastpath.AccrualPipeline, conn: Any) -> None:
        if len(self):
            sizes.append(len(self))
        flush(self, conn)

    monkeypatch.setattr(fastpath.AccrualPipeline, "flush", recording)
    return sizes


def uses_fast_path(h: Harness) -> bool:
    return fastpath.available(h.ctx.engine)


def test_a_batch_of_new_receipts_sends_its_accruals_together(harness, monkeypatch):
    h = harness
    pull_full(h.ctx)
    h.sync()
    sizes = record_flushes(monkeypatch)
    receipts = [h.till(CARD_1_NUMBER, accrued=points) for points in ("1", "2", "3", "4", "5")]
    store_changes(h.ctx, [receipt_change(h, r["ref"]) for r in receipts], source="amqp")
    drain_everything(h.ctx)
    assert sizes == ([5] if uses_fast_path(h) else [])  # one pipelined send, not five round trips
    assert hub_card(h, CARD_1)[1] == Decimal("665") == h.onec_balance(CARD_1)
    assert all(inbox_rows(h, r["ref"])[0].state == SyncState.DONE for r in receipts)


def test_a_redemption_in_the_batch_goes_after_the_accruals_before_it(harness, monkeypatch):
    """Card 2 has 100; an accrual of 50 then a redemption of 120 in ONE batch: the redemption
    must see the pipelined accrual, so the pipeline is sent before it, and nothing goes row by row."""
    h = harness
    pull_full(h.ctx)
    h.sync()
    card_2 = "40000000-0000-4000-8000-000000000002"
    sizes = record_flushes(monkeypatch)
    one_by_one: list[int] = []
    single = inbound.apply
    monkeypatch.setattr(inbound, "apply", lambda ctx, row: one_by_one.append(row.id) or single(ctx, row))
    accrual = h.till("2000000000028", accrued="50")
    redemption = h.till("2000000000028", redeemed="120")
    both = [receipt_change(h, accrual["ref"]), receipt_change(h, redemption["ref"])]
    store_changes(h.ctx, both, source="amqp")
    drain_everything(h.ctx)
    assert one_by_one == []
    assert sizes == ([1] if uses_fast_path(h) else [])
    assert hub_card(h, card_2)[1] == Decimal("30") == h.onec_balance(card_2)


def test_a_repost_in_the_same_batch_undoes_the_pipelined_original(harness, monkeypatch):
    h = harness
    receipt, original, reposted = receipt_and_repost(h)
    store_changes(h.ctx, [original, reposted], source="amqp")
    drain_everything(h.ctx)
    assert hub_card(h, CARD_1)[1] == Decimal("659")
    with h.ctx.session_factory() as s:
        made = s.scalars(select(Movement.amount).where(Movement.document == receipt["ref"])).all()
    assert sorted(made) == [Decimal("-5"), Decimal("5"), Decimal("9")]


def test_a_declined_pipeline_sends_the_batch_row_by_row(harness, monkeypatch):
    h = harness
    pull_full(h.ctx)
    h.sync()
    if not uses_fast_path(h):
        # Off PostgreSQL there is no pipeline to decline; the batch path is covered above.
        assert fastpath.available(h.ctx.engine) is False
        return
    one_by_one: list[int] = []
    single = inbound.apply
    monkeypatch.setattr(inbound, "apply", lambda ctx, row: one_by_one.append(row.id) or single(ctx, row))

    def decline(self: fastpath.AccrualPipeline, conn: Any) -> None:
        if len(self):
            raise fastpath.TakePythonPath()

    monkeypatch.setattr(fastpath.AccrualPipeline, "flush", decline)
    receipts = [h.till(CARD_1_NUMBER, accrued=points) for points in ("1", "2")]
    store_changes(h.ctx, [receipt_change(h, r["ref"]) for r in receipts], source="amqp")
    drain_everything(h.ctx)
    assert len(one_by_one) == 2  # rolled back as a whole, then each on its own
    assert hub_card(h, CARD_1)[1] == Decimal("653") == h.onec_balance(CARD_1)


# --- the listener applies what it stores, when nothing stands before it ------------------------------


def listening(h: Harness) -> tuple[Listener, list[int]]:
    """A listener whose kicks are recorded: the slots it left to the workers."""
    kicked: list[int] = []
    h.ctx.kick = lambda direction, slots: kicked.extend(slots)
    return Listener(h.ctx), kicked


def test_the_listener_applies_a_change_in_the_transaction_that_stores_it(harness):
    h = harness
    pull_full(h.ctx)
    h.sync()
    listener, kicked = listening(h)
    receipt = h.till(CARD_1_NUMBER, accrued="5")
    listener._store([receipt_change(h, receipt["ref"])], "amqp", None)
    row = inbox_rows(h, receipt["ref"])[0]
    assert row.state == SyncState.DONE and row.finished_at is not None
    assert kicked == []  # nothing left for a worker: no task, no second transaction
    assert hub_card(h, CARD_1)[1] == Decimal("655") == h.onec_balance(CARD_1)
    listener._store([receipt_change(h, receipt["ref"])], "amqp", None)  # redelivered: stored once
    assert len(inbox_rows(h, receipt["ref"])) == 1 and hub_card(h, CARD_1)[1] == Decimal("655")


def test_a_slot_a_worker_holds_is_left_to_the_workers(harness):
    h = harness
    pull_full(h.ctx)
    h.sync()
    listener, kicked = listening(h)
    receipt = h.till(CARD_1_NUMBER, accrued="5")
    slot = inbound.slot_of(CARD_1)
    with slot_locks(h.ctx.engine, INBOX, [slot]) as got:  # a worker draining that slot
        assert got == [slot]
        listener._store([receipt_change(h, receipt["ref"])], "amqp", None)
    assert inbox_rows(h, receipt["ref"])[0].state == SyncState.PENDING and kicked == [slot]
    drain_everything(h.ctx)
    assert hub_card(h, CARD_1)[1] == Decimal("655")


def test_a_change_waits_behind_an_older_pending_change_of_its_card(harness):
    """Card 2 has 100; 1C took an accrual of 50, then a redemption of 120. The redemption is
    stored first and still pending; the listener must not apply the accrual ahead of it (the
    workers keep the key's order, and put the redemption behind the accrual it needs)."""
    h = harness
    pull_full(h.ctx)
    h.sync()
    card_2 = "40000000-0000-4000-8000-000000000002"
    listener, kicked = listening(h)
    accrual = h.till("2000000000028", accrued="50")
    redemption = h.till("2000000000028", redeemed="120")
    # The feed reordered them: the redemption is stored first (and not applied: no points yet).
    store_changes(h.ctx, [receipt_change(h, redemption["ref"])], source="amqp")
    listener._store([receipt_change(h, accrual["ref"])], "amqp", None)
    assert inbox_rows(h, accrual["ref"])[0].state == SyncState.PENDING
    assert kicked == [inbound.slot_of(card_2)]
    deadline = time.monotonic() + 10
    while hub_card(h, card_2)[1] != Decimal("30") and time.monotonic() < deadline:
        drain_everything(h.ctx)
        time.sleep(0.05)
    assert hub_card(h, card_2)[1] == Decimal("30") == h.onec_balance(card_2)


def test_a_batch_that_needs_the_careful_path_stays_stored_for_the_workers(harness):
    h = harness
    pull_full(h.ctx)
    h.sync()
    listener, kicked = listening(h)
    bad = lost_card_change(h)
    receipt = h.till(CARD_1_NUMBER, accrued="7")
    listener._store([bad, receipt_change(h, receipt["ref"])], "amqp", None)
    # Rolled back to the savepoint: both stored, both pending, handed to the workers.
    assert [r.state for r in inbox_rows(h, CARD_1)] == [SyncState.PENDING]
    assert inbox_rows(h, receipt["ref"])[0].state == SyncState.PENDING
    assert kicked == [inbound.slot_of(CARD_1)]
    drain_everything(h.ctx)
    assert [r.state for r in inbox_rows(h, CARD_1)] == [SyncState.PARKED]
    assert inbox_rows(h, receipt["ref"])[0].state == SyncState.DONE
    assert hub_card(h, CARD_1)[1] == Decimal("657")


def test_a_burst_larger_than_the_limit_goes_to_the_workers(retail, db):
    h = Harness(retail, db, sync_listener_applies_at_most=2)
    pull_full(h.ctx)
    h.sync()
    listener, kicked = listening(h)
    receipts = [h.till(CARD_1_NUMBER, accrued=points) for points in ("1", "2", "3")]
    listener._store([receipt_change(h, r["ref"]) for r in receipts], "amqp", None)
    assert all(inbox_rows(h, r["ref"])[0].state == SyncState.PENDING for r in receipts)
    assert kicked == [inbound.slot_of(CARD_1)]
    drain_everything(h.ctx)
    assert hub_card(h, CARD_1)[1] == Decimal("656")
    h.close()
