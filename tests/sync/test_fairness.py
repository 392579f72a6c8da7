"""Fairness on the embedded default: the website's edits (outbound to 1C) and the tills' receipts
(inbound from 1C) never wait for each other's drains (issue 20 item 4, issue 16's benchmark)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bonusbridge.models import Customer, InboxMessage, Origin, OutboxMessage, SyncState
from bonusbridge.unit_of_work import UnitOfWork
from connectors.sync import runner as runner_module
from connectors.sync.inbound import store_changes
from connectors.sync.pull import pull_full
from connectors.sync.runner import InlineRunner
from tests.sync.conftest import Harness
from tests.sync.test_batches import CARD_1_NUMBER, receipt_change
from tests.sync.test_behaviour import faults
from tests.sync.test_end_to_end import CARD_1, PARTNER_1, hub_card


def edit_email(h: Harness, email: str) -> OutboxMessage:
    """A website profile edit; its outbox row (written by the trigger in the same transaction)."""
    with UnitOfWork(h.ctx.engine) as uow:
        customer = uow.session.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
        customer.email = email
        customer.changed_by = Origin.WEBSITE
        uow.commit()
        customer_id = customer.id
    with h.ctx.session_factory() as s:
        return s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == "customer", OutboxMessage.entity_id == customer_id)
            .order_by(OutboxMessage.id.desc())
        ).first()  # type: ignore[return-value]


def state_of(h: Harness, model: Any, row_id: int) -> SyncState:
    with h.ctx.session_factory() as s:
        return s.get(model, row_id).state  # type: ignore[no-any-return]


def wait_for(condition: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``condition`` held, or None if it did not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    return None


class Running:
    """The embedded default's runner, kicked before it starts (``start``), stopped by ``stop``."""

    def __init__(self, h: Harness) -> None:
        self.runner = InlineRunner(h.ctx)
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self.runner.run, args=(self.halt,), daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.halt.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)


def test_an_edit_reaches_1c_while_a_long_inbound_drain_runs(harness, monkeypatch):
    """A backlog of receipts that takes seconds to apply must not hold back a website edit: one
    thread for both directions made the edit wait for the whole inbound drain."""
    h = harness
    pull_full(h.ctx)
    h.sync()
    receipt = h.till(CARD_1_NUMBER, accrued="5")
    [slot] = store_changes(h.ctx, [receipt_change(h, receipt["ref"])], source="amqp")
    draining = threading.Event()
    real_drain = runner_module.drain_inbound

    def long_drain(ctx: Any, slots: Any) -> Any:  # the apply side busy for 3 s (a backlog)
        draining.set()
        time.sleep(3.0)
        return real_drain(ctx, slots)

    monkeypatch.setattr(runner_module, "drain_inbound", long_drain)
    edit = edit_email(h, "fair.edit@example.ru")
    assert edit.state == SyncState.PENDING
    runs = Running(h)
    runs.runner.kick("inbound", [slot])
    runs.runner.kick("outbound", [edit.slot])
    runs.start()
    try:
        took = wait_for(lambda: state_of(h, OutboxMessage, edit.id) == SyncState.DONE, 10)
        assert draining.is_set()
        assert took is not None and took < 2.0, f"the edit waited {took} s for the inbound drain"
        partner = h.onec.get("Catalog_Партнеры", PARTNER_1)
        assert any(r.get("АдресЭП") == "fair.edit@example.ru" for r in partner["КонтактнаяИнформация"])
        # The receipt is applied too, after its drain: nothing lost, nothing doubled.
        assert wait_for(lambda: hub_card(h, CARD_1)[1] == Decimal("655"), 10) is not None
    finally:
        runs.stop()
    assert hub_card(h, CARD_1)[1] == Decimal("655") == h.onec_balance(CARD_1)


def test_a_slow_1c_does_not_hold_back_the_receipts(harness):
    """1C answering the partner's delivery in 3 s: a till's receipt stored meanwhile is applied
    at once, not after the delivery (one thread made it wait for the whole outbound drain)."""
    h = harness
    pull_full(h.ctx)
    h.sync()
    edit = edit_email(h, "slow.onec@example.ru")
    faults(h, latency_ms=3000, match="Catalog_Партнеры")
    runs = Running(h)
    try:
        runs.runner.kick("outbound", [edit.slot])
        runs.start()  # the delivery now waits on 1C
        time.sleep(0.5)
        assert state_of(h, OutboxMessage, edit.id) == SyncState.PENDING
        receipt = h.till(CARD_1_NUMBER, accrued="7")
        [slot] = store_changes(h.ctx, [receipt_change(h, receipt["ref"])], source="amqp")
        with h.ctx.session_factory() as s:
            row = s.scalars(select(InboxMessage).where(InboxMessage.onec_ref == receipt["ref"])).one()
        runs.runner.kick("inbound", [slot])
        took = wait_for(lambda: state_of(h, InboxMessage, row.id) == SyncState.DONE, 10)
        assert took is not None and took < 1.5, f"the receipt waited {took} s for a slow delivery"
        assert state_of(h, OutboxMessage, edit.id) == SyncState.PENDING  # still with the slow 1C
        assert hub_card(h, CARD_1)[1] == Decimal("657")
        # The delivery completes when 1C answers: delayed, not lost.
        assert wait_for(lambda: state_of(h, OutboxMessage, edit.id) == SyncState.DONE, 15) is not None
    finally:
        runs.stop()
        faults(h)
    partner = h.onec.get("Catalog_Партнеры", PARTNER_1)
    assert any(r.get("АдресЭП") == "slow.onec@example.ru" for r in partner["КонтактнаяИнформация"])
    assert hub_card(h, CARD_1)[1] == Decimal("657") == h.onec_balance(CARD_1)


def test_an_apply_task_gives_its_process_back_after_its_time_slice(retail, db, monkeypatch):
    """A worker consuming both queues (``sync worker --queues all``) ran an apply task until the
    backlog was gone, and a website edit waited behind all of it. A task now stops starting
    batches after ``APPLY_SLICE_SECONDS`` and asks again for what is left, behind the queue."""
    from connectors.sync import tasks

    h = Harness(retail, db, sync_listener_applies_at_most=0)  # the listener only stores
    pull_full(h.ctx)
    h.sync()
    receipts = [h.till(CARD_1_NUMBER, accrued=points) for points in ("1", "2", "3")]
    [slot] = store_changes(h.ctx, [receipt_change(h, r["ref"]) for r in receipts], source="amqp")
    kicked: list[tuple[str, list[int]]] = []
    h.ctx.kick = lambda direction, slots: kicked.append((direction, list(slots)))
    monkeypatch.setattr(runner_module, "INBOUND_BATCH", 1)  # one receipt per transaction
    monkeypatch.setattr(tasks, "APPLY_SLICE_SECONDS", 0.0)  # the slice is over after one batch
    tasks.use_context(h.ctx)
    try:
        assert tasks.apply([slot]) == 1
        assert kicked == [("inbound", [slot])]  # the rest asked for again
        assert hub_card(h, CARD_1)[1] == Decimal("651")
        # Each turn applies the next receipt, in order; nothing lost, nothing doubled.
        assert tasks.apply([slot]) == 1 and hub_card(h, CARD_1)[1] == Decimal("653")
        assert tasks.apply([slot]) == 1 and hub_card(h, CARD_1)[1] == Decimal("656")
        assert tasks.apply([slot]) == 0
        assert hub_card(h, CARD_1)[1] == Decimal("656") == h.onec_balance(CARD_1)
    finally:
        tasks.use_context(None)
        h.close()
