"""Issue 16, item 9: a 502/503/504 from 1C does not defer a delivery by the longest backoff. The
messages an outage deferred wait for the circuit breaker's trial call, and the moment one succeeds
they are all due again (paced over a second, slot by slot); ``sync status`` says why each waits.

Measured with the product's default timing (backoff, breaker): after a 30 s outage of the emulated
1C (its run-time faults on ``/_admin/faults``), everything the website changed meanwhile reaches
1C within 10 s of its return. The drains run in a thread every 100 ms, as workers would.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from bonusbridge.models import Customer, Origin, OutboxMessage, SyncState
from bonusbridge.services.profiles import update_profile
from bonusbridge.settings import load_settings
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.filters import F
from connectors.onec.odata import ODataClient
from connectors.sync.context import SyncContext
from connectors.sync.outbound import resume_deferred
from connectors.sync.pull import pull_full
from connectors.sync.runner import drain_everything
from connectors.sync.status import sync_status, waiting_counts, why_pending
from tests.onec_live import ADMIN, Base
from tests.sync.conftest import Harness
from tests.sync.processes import wait_for
from tests.sync.test_behaviour import DOCS, accrue, count, faults
from tests.sync.test_end_to_end import CARD_1, PARTNER_1, hub_card

pytestmark = pytest.mark.timeout(180)

OUTAGE_SECONDS = 30.0
TARGET_SECONDS = 10.0


def _default_timing_harness(base: Base, engine: Engine) -> Harness:
    """The harness, but with the product's own backoff and breaker settings (the harness shortens
    them): only 1C's answer time is bounded, so a test never waits 30 s for one call."""
    h = Harness(base, engine)
    h.settings = load_settings(
        onec_config=base.config,
        onec_base_url=f"{base.origin}/{base.base}",
        onec_timeout_seconds=5,
        onec_timezone="UTC",
    )
    h.ctx = SyncContext.from_settings(h.settings, engine)
    from connectors.sync.listener import Listener

    h.listener = Listener(h.ctx)
    return h


def test_after_a_30_s_outage_every_pending_change_reaches_1c_within_10_s_of_its_return(retail, db):
    h = _default_timing_harness(retail, db)
    defaults = h.settings
    assert defaults.sync_backoff_max_seconds == 300.0, "measured with the product's defaults"
    try:
        pull_full(h.ctx)
        h.sync()  # 1C learns what the load derived: only the website's writes below remain
        card_id, before = hub_card(h, CARD_1)
        with h.ctx.session_factory() as s:
            customer_id = s.scalars(select(Customer.id).where(Customer.onec_ref == PARTNER_1)).one()

        stop = threading.Event()

        def workers() -> None:
            while not stop.is_set():
                # A drain meeting 1C's fault page fails: the next pass goes on.
                with contextlib.suppress(Exception):
                    drain_everything(h.ctx, rounds=1)
                stop.wait(0.1)

        faults(h, error_rate=1.0, error_status=503)
        down_at = time.monotonic()
        worker = threading.Thread(target=workers, daemon=True)
        worker.start()
        try:
            for n in range(10):  # the website keeps working during the outage
                accrue(h, card_id, "1", f"outage-{n}")
                time.sleep(0.3)
            with UnitOfWork(h.ctx.engine) as uow:
                update_profile(uow, customer_id, {"email": "outage@example.com"}, origin=Origin.WEBSITE)
                uow.commit()
            time.sleep(max(0.0, down_at + OUTAGE_SECONDS / 2 - time.monotonic()))

            # ``sync status`` says why each pending message waits: 1C is down, not counted. (The
            # head of the card's queue is due for an instant each time the breaker's trial comes.)
            def deferred() -> bool:
                waiting = sync_status(h.ctx.engine, h.ctx.clock()).waiting
                return waiting is not None and waiting["outage"] >= 1

            wait_for(deferred, timeout=10, what="a message deferred by the outage", every=0.05)
            now = h.ctx.clock()
            status = sync_status(h.ctx.engine, now)
            assert status.breaker in ("open", "half_open")
            assert any("outbox waits:" in line and "waiting for 1C" in line for line in status.lines())
            reasons = why_pending(h.ctx.engine, now)
            assert reasons and ("1C is down" in reasons[0] or "due" in reasons[0]), reasons
            assert any("behind #" in line for line in reasons), reasons
            assert count(h, OutboxMessage, OutboxMessage.attempts > 0) == 0

            time.sleep(max(0.0, down_at + OUTAGE_SECONDS - time.monotonic()))
            pending = count(h, OutboxMessage, OutboxMessage.state == SyncState.PENDING)
            assert pending >= 11, "the outage held everything back"
            faults(h)  # 1C is back
            back_at = time.monotonic()
            while count(h, OutboxMessage, OutboxMessage.state == SyncState.PENDING):
                assert time.monotonic() - back_at < 60, "never drained"
                time.sleep(0.05)
            drained = time.monotonic() - back_at
        finally:
            stop.set()
            worker.join(timeout=30)
        print(f"drained {pending} pending message(s) {drained:.1f} s after 1C came back")
        assert drained < TARGET_SECONDS, f"drained {drained:.1f} s after 1C came back"
        assert count(h, OutboxMessage, OutboxMessage.state == SyncState.DEAD) == 0
        assert hub_card(h, CARD_1)[1] == before + 10 == h.onec_balance(CARD_1)
        marked = h.onec.list(DOCS, filter=F.substringof("ВнешнийИдентификатор: bb", "Комментарий"))
        assert len(marked) == 10
        onec = ODataClient(f"{retail.origin}/{retail.base}", *ADMIN, timeout=10)
        with onec:
            partner = h.ctx.profile.customer_from_onec(onec.get("Catalog_Партнеры", PARTNER_1))
        assert partner["email"] == "outage@example.com"
    finally:
        faults(h)
        h.close()


def test_when_the_breaker_closes_what_the_outage_deferred_is_due_at_once_paced_over_slots(harness):
    """Deferred until far later by an outage, due again within ``sync_resume_spread_seconds`` of the
    trial's success, spread over the slots; a counted retry keeps its own backoff."""
    h = harness
    pull_full(h.ctx)
    h.sync()
    card_id, _ = hub_card(h, CARD_1)
    accrue(h, card_id, "1", "deferred-1")
    now = h.ctx.clock()
    later = now + timedelta(seconds=300)
    with h.ctx.engine.begin() as conn:
        from connectors.sync.slots import OUTBOX

        conn.execute(
            OUTBOX.update().values(next_attempt_at=later, last_error="waiting for 1C: onec_unavailable")
        )
    # A second message of another slot, deferred by a counted failure: it keeps its backoff.
    with UnitOfWork(h.ctx.engine) as uow:
        customer = uow.session.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
        update_profile(uow, customer.id, {"email": "retry@example.com"}, origin=Origin.WEBSITE)
        uow.commit()
    with h.ctx.engine.begin() as conn:
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.topic == "customer", OUTBOX.c.state == "pending")
            .values(next_attempt_at=later, attempts=1, last_error="onec_error: 500")
        )
    assert waiting_counts(h.ctx.engine, now)["outage"] >= 1
    assert resume_deferred(h.ctx) >= 1
    with h.ctx.session_factory() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.state == SyncState.PENDING)).all()
    spread = timedelta(seconds=h.settings.sync_resume_spread_seconds)
    for row in rows:
        due = row.next_attempt_at
        assert due is not None
        due = due if due.tzinfo else due.replace(tzinfo=now.tzinfo)
        if row.topic == "customer":
            assert due == later, "a counted retry keeps its backoff"
        else:
            assert now <= due <= now + spread and row.published_at is None
