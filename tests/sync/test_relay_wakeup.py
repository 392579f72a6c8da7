"""The relay publishes a committed outbox row at once, woken by PostgreSQL's NOTIFY, rather than at
its next poll (issue 20 item 3: a wait that fired without any fault)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from bonusbridge.models import Customer, Origin
from bonusbridge.unit_of_work import UnitOfWork
from connectors.sync.pull import pull_full
from connectors.sync.relay import Relay
from tests.sync.test_end_to_end import PARTNER_1


def test_a_new_outbox_row_is_published_at_once_not_at_the_next_poll(harness):
    h = harness
    if h.ctx.engine.dialect.name != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's; on SQLite the relay polls (and the embedded runner kicks)")
    pull_full(h.ctx)
    h.sync()
    published: list[tuple[int, float]] = []

    def publish(rows: list[tuple[int, int]]) -> set[int]:
        published.extend((message_id, time.monotonic()) for message_id, _ in rows)
        return {message_id for message_id, _ in rows}

    stop = threading.Event()
    relay = Relay(h.ctx, publish)
    # Polls only every 10 s: what reaches the broker sooner was announced by the commit.
    thread = threading.Thread(
        target=relay.run, args=(stop,), kwargs={"interval": 10.0, "listen_poll": 10.0}, daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while relay.published == 0 and not published and time.monotonic() < deadline:
            time.sleep(0.05)  # the first pass (and its LISTEN) is done once it waits
        time.sleep(0.3)
        before = len(published)
        with UnitOfWork(h.ctx.engine) as uow:
            customer = uow.session.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
            customer.email = "notified@example.ru"
            customer.changed_by = Origin.WEBSITE
            uow.commit()
        committed = time.monotonic()
        while len(published) == before and time.monotonic() - committed < 5:
            time.sleep(0.01)
        assert len(published) > before, "the relay waited for its poll"
        assert published[-1][1] - committed < 1.0
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive()
