"""Issue 18 item 1, the initial load's side: one object the hub cannot apply (here a card 1C
holds without any number) is parked with its reason, as the change feed parks such a change; the
rest of the load goes on, in both 1C configurations (the load used to stop at that page, and a
resumed load stopped at it again)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from bonusbridge.models import Card, InboxMessage, SyncState
from connectors.sync.pull import pull_full
from connectors.sync.status import sync_status
from tests.sync.conftest import Harness

KIND = "20000000-0000-4000-8000-000000000001"
IVANOV = "10000000-0000-4000-8000-000000000001"


def test_a_card_without_a_number_is_parked_and_the_load_goes_on(any_base, db):
    h = Harness(any_base, db)
    try:
        card_set = h.ctx.profile.card.entity_set
        if any_base.config == "retail":
            fields = {
                "ВладелецКарты": IVANOV,
                "ВладелецКарты_Type": "StandardODATA.Catalog_Партнеры",
                "ВидКарты_Key": KIND,
            }
        else:
            fields = {"Партнер_Key": IVANOV, "Owner_Key": KIND}
        created = h.onec.create(card_set, {"Description": "карта без номера", **fields})
        ref = str(created["Ref_Key"])
        total = len(h.onec.list(card_set, select=["Ref_Key"]))

        report = pull_full(h.ctx, page_size=2)

        assert report.parked == 1
        with h.ctx.session_factory() as s:
            parked = list(s.scalars(select(InboxMessage).where(InboxMessage.state == SyncState.PARKED)))
            cards = s.scalar(select(func.count()).select_from(Card))
        assert [(m.entity_set, m.onec_ref, m.source) for m in parked] == [(card_set, ref, "pull")]
        assert "has no number" in (parked[0].last_error or "")
        assert cards == total - 1
        assert report.balances > 0  # the load went on to the balances
        assert sync_status(h.ctx.engine, datetime.now(UTC)).inbox_parked == 1
    finally:
        h.close()
