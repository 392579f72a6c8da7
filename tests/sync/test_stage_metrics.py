"""The sync's stage timings exported as Prometheus histograms (issue 20 item 1)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import select

from bonusbridge.models import Customer, Origin
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.changefeed import ONEC_CHANGED_AT
from connectors.sync.listener import Listener
from connectors.sync.pull import pull_full
from connectors.sync.relay import Relay
from connectors.sync.runner import drain_everything
from connectors.sync.status import metrics_app
from tests.sync.conftest import Harness
from tests.sync.test_batches import CARD_1_NUMBER, receipt_change
from tests.sync.test_end_to_end import PARTNER_1

METRIC = "bonusbridge_sync_stage_seconds"


def count(direction: str, stage: str) -> float:
    return REGISTRY.get_sample_value(f"{METRIC}_count", {"direction": direction, "stage": stage}) or 0.0


def total(direction: str, stage: str) -> float:
    return REGISTRY.get_sample_value(f"{METRIC}_sum", {"direction": direction, "stage": stage}) or 0.0


def test_each_stage_of_both_directions_is_timed_and_served(retail, db):
    # The listener only stores: the workers' drain applies (and times) the receipt.
    h = Harness(retail, db, sync_listener_applies_at_most=0)
    pull_full(h.ctx)
    h.sync()
    before = {
        stage: (count(*stage), total(*stage))
        for stage in (
            ("inbound", "feed"),
            ("inbound", "apply"),
            ("outbound", "publish"),
            ("outbound", "deliver"),
        )
    }
    # A till's receipt whose exchange message says 1C wrote it 2 s ago.
    receipt = h.till(CARD_1_NUMBER, accrued="5")
    change = receipt_change(h, receipt["ref"])
    change[ONEC_CHANGED_AT] = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    h.ctx.kick = lambda direction, slots: None
    Listener(h.ctx)._store([change], "amqp", None)
    # A website edit: the relay publishes it, a worker delivers it.
    with UnitOfWork(h.ctx.engine) as uow:
        customer = uow.session.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
        customer.email = "timed@example.ru"
        customer.changed_by = Origin.WEBSITE
        uow.commit()
    published = Relay(h.ctx, lambda rows: {message_id for message_id, _ in rows}).run_once()
    assert published >= 1
    drain_everything(h.ctx)

    assert count("inbound", "feed") == before[("inbound", "feed")][0] + 1
    assert total("inbound", "feed") - before[("inbound", "feed")][1] >= 2.0  # 1C's time → stored
    assert count("inbound", "apply") >= before[("inbound", "apply")][0] + 1
    assert count("outbound", "publish") >= before[("outbound", "publish")][0] + 1
    assert count("outbound", "deliver") >= before[("outbound", "deliver")][0] + published

    async def scrape() -> str:
        app = metrics_app(db, h.ctx.clock)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return (await client.get("/metrics")).text

    text = asyncio.run(scrape())
    assert f'{METRIC}_bucket{{direction="outbound",le="2.0",stage="deliver"}}' in text
    assert f'{METRIC}_count{{direction="inbound",stage="apply"}}' in text
    assert "bonusbridge_sync_outbox_pending" in text  # the status metrics are still there
    h.close()
