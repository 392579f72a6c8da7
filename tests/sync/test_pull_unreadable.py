"""Issue 19 item 2: one partner whose name holds a control character does not stop the initial
load (``sync pull --full``): 1C's page with it cannot be read, so that page is read one object at
a time, the partner is parked with its reason (as the change feed parks), the rest load, and
``sync status`` counts what was parked."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bonusbridge.models import Customer, InboxMessage, SyncState
from connectors.sync.pull import pull_full
from connectors.sync.status import sync_status
from tests.sync.conftest import Harness

PARTNERS = "Catalog_Партнеры"


def test_a_control_character_in_one_partner_parks_it_and_loads_the_rest(harness: Harness) -> None:
    h = harness
    with h.base.client() as raw:  # the hub's client refuses the answer, which echoes the character
        created = raw.post(f"{PARTNERS}?$format=json", json={"Description": "Иванов\x07Иван"})
    assert created.status_code == 201, created.text
    bad = created.json()
    total = len(h.onec.list(PARTNERS, select=["Ref_Key"]))
    assert total >= 3

    report = pull_full(h.ctx, page_size=2)

    assert report.parked == 1
    assert report.customers == total - 1
    with h.ctx.session_factory() as session:
        parked = session.scalars(select(InboxMessage).where(InboxMessage.state == SyncState.PARKED)).all()
        customers = session.scalars(select(Customer)).all()
    assert [(m.entity_set, m.onec_ref, m.source) for m in parked] == [(PARTNERS, bad["Ref_Key"], "pull")]
    assert "control character" in (parked[0].last_error or "")
    assert len(customers) >= total - 1
    assert report.balances > 0  # the load went on to the balances
    status = sync_status(h.ctx.engine, datetime.now(UTC))
    assert status.inbox_parked == 1

    again = pull_full(h.ctx, page_size=2, restart=True)  # a re-run parks it once, not twice
    assert again.parked == 1
    assert sync_status(h.ctx.engine, datetime.now(UTC)).inbox_parked == 1
