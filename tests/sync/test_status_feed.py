"""Issue 16, item 12: ``sync status`` on the AMQP feed shows the last stored message and its time
(it said "last acknowledged message -" whatever the feed did: only SelectChanges has numbers)."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.onec.changefeed import message_to_change
from connectors.sync.inbound import store_changes
from connectors.sync.pull import pull_full
from connectors.sync.status import sync_status
from tests.sync.test_end_to_end import PARTNER_1


def test_status_on_the_amqp_feed_shows_the_last_stored_message_and_its_time(harness):
    h = harness
    pull_full(h.ctx)
    now = h.ctx.clock()
    empty = sync_status(h.ctx.engine, now, feed="amqp").lines()[-1]
    assert empty == "change feed (amqp): last stored message nothing stored yet"
    partner = h.onec.patch("Catalog_Партнеры", PARTNER_1, {"ДатаРождения": "1985-07-25T00:00:00"})
    changed = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    message = {
        "entity_set": "Catalog_Партнеры",
        "key": PARTNER_1,
        "kind": "write",
        "data_version": partner["DataVersion"],
        "changed_at": changed.isoformat(),
        "object": partner,
    }
    store_changes(h.ctx, [message_to_change(message)], source="amqp")
    status = sync_status(h.ctx.engine, h.ctx.clock(), feed="amqp")
    line = status.lines()[-1]
    assert status.last_stored is not None
    number, entity_set, stored_at, onec_at = status.last_stored
    assert entity_set == "Catalog_Партнеры" and onec_at == changed
    assert line.startswith(f"change feed (amqp): last stored message #{number} Catalog_Партнеры stored at ")
    assert f"{stored_at:%Y-%m-%d %H:%M:%S}" in line
    assert "(changed in 1C at 2026-03-01 09:30:00 UTC)" in line
    assert "last acknowledged message -" not in line
    # SelectChanges keeps its message number, and shows its newest stored change too.
    polled = sync_status(h.ctx.engine, h.ctx.clock()).lines()[-1]
    assert polled.startswith("change feed (select_changes): last acknowledged message")


def test_the_emulators_amqp_message_carries_its_change_time():
    from connectors.onec.emulator.store import Change

    change = Change("Catalog_Партнеры", PARTNER_1, "write", None, {"Ref_Key": PARTNER_1})
    assert change.at.tzinfo is not None
    converted = message_to_change(
        {
            "entity_set": "Catalog_Партнеры",
            "key": PARTNER_1,
            "changed_at": change.at.isoformat(),
            "object": {"Ref_Key": PARTNER_1},
        }
    )
    assert converted["bonusbridge.changed_at"] == change.at.isoformat()
    stamped = message_to_change(
        {"entity_set": "Catalog_Партнеры", "key": PARTNER_1, "object": {"Ref_Key": PARTNER_1}},
        timestamp=1767225600,
    )
    assert stamped["bonusbridge.changed_at"] == "2026-01-01T00:00:00+00:00"
