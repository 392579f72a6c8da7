"""Echoes, duplicates, stale versions, conflicts, outages, dead letters, parked changes, status."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from bonusbridge.models import Customer, InboxMessage, Origin, OutboxMessage, SyncConflict, SyncState
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.filters import F
from connectors.sync.inbound import store_changes
from connectors.sync.pull import pull_full
from connectors.sync.runner import drain_everything
from connectors.sync.status import prometheus_text, sync_status
from tests.sync.conftest import Harness
from tests.sync.test_end_to_end import CARD_1, PARTNER_1, hub_card

DOCS = "Document_НачислениеИСписаниеБонусныхБаллов"


def faults(h: Harness, **values):
    with httpx.Client(base_url=h.base.origin, timeout=10) as admin:
        assert admin.put("/_admin/faults", json=values).status_code == 200


def count(h, model, *where):
    with h.ctx.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model).where(*where))


def accrue(h, card_id, amount, key):
    with UnitOfWork(h.ctx.engine) as uow:
        uow.ledger.accrue(card_id, Decimal(amount), key=key, origin=Origin.WEBSITE)
        uow.commit()


def test_the_hubs_own_movement_coming_back_is_recognised_and_not_applied(harness):
    h = harness
    pull_full(h.ctx)
    card_id, _ = hub_card(h, CARD_1)
    accrue(h, card_id, "15", "echo-1")
    h.sync()
    document = h.onec.list(DOCS, filter=F.substringof("ВнешнийИдентификатор: bb", "Комментарий"))[0]
    # The website's node never gets its own write from SelectChanges; an AMQP copy does arrive:
    store_changes(h.ctx, [{"odata.type": f"StandardODATA.{DOCS}", **document}], source="amqp")
    drain_everything(h.ctx)
    with h.ctx.session_factory() as s:
        row = s.scalars(select(InboxMessage).where(InboxMessage.onec_ref == document["Ref_Key"])).one()
        assert row.state == SyncState.SKIPPED and "echo" in (row.last_error or "")
    assert hub_card(h, CARD_1)[1] == Decimal("665") == h.onec_balance(CARD_1)


def test_duplicates_are_stored_once_and_stale_versions_skipped(harness):
    h = harness
    pull_full(h.ctx)
    partner = h.onec.get("Catalog_Партнеры", PARTNER_1)
    newer = h.onec.patch("Catalog_Партнеры", PARTNER_1, {"ДатаРождения": "1985-07-25T00:00:00"})
    change = {"odata.type": "StandardODATA.Catalog_Партнеры"}
    # Redelivered twice, and the older version arriving after the newer one.
    store_changes(h.ctx, [change | newer, change | newer], source="amqp")
    store_changes(h.ctx, [change | newer], source="select_changes")
    drain_everything(h.ctx)
    store_changes(h.ctx, [change | partner | {"DataVersion": "AAAAAAAAAAE="}], source="amqp")
    drain_everything(h.ctx)
    assert (
        count(h, InboxMessage, InboxMessage.onec_ref == PARTNER_1, InboxMessage.state == SyncState.DONE) == 1
    )
    with h.ctx.session_factory() as s:
        customer = s.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
        assert customer.birth_date == date(1985, 7, 25)


def _edit_both_sides(h):
    with UnitOfWork(h.ctx.engine) as uow:
        customer = uow.session.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
        customer.birth_date, customer.changed_by = date(1985, 1, 1), Origin.WEBSITE
        uow.commit()
    h.onec.patch("Catalog_Партнеры", PARTNER_1, {"ДатаРождения": "1985-02-02T00:00:00"})


def test_a_field_changed_on_both_sides_is_decided_by_policy_and_recorded(retail, db):
    h = Harness(retail, db, sync_conflict_policy={"birth_date": "onec"})
    pull_full(h.ctx)
    _edit_both_sides(h)
    h.sync()
    with h.ctx.session_factory() as s:
        conflict = s.scalars(select(SyncConflict)).one()
        customer = s.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
    assert (conflict.field, conflict.hub_value, conflict.onec_value, conflict.winner) == (
        "birth_date",
        "1985-01-01",
        "1985-02-02",
        "onec",
    )
    assert customer.birth_date == date(1985, 2, 2)
    assert h.onec.get("Catalog_Партнеры", PARTNER_1)["ДатаРождения"].startswith("1985-02-02")
    h.close()


def test_website_policy_pushes_the_hub_value_back_to_1c(retail, db):
    h = Harness(retail, db, sync_conflict_policy={"birth_date": "website"})
    pull_full(h.ctx)
    _edit_both_sides(h)
    h.sync()
    with h.ctx.session_factory() as s:
        assert s.scalars(select(SyncConflict.winner)).one() == "website"
        customer = s.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
    assert customer.birth_date == date(1985, 1, 1)
    assert h.onec.get("Catalog_Партнеры", PARTNER_1)["ДатаРождения"].startswith("1985-01-01")
    h.close()


def test_1c_down_the_website_keeps_working_the_breaker_opens_then_everything_drains(harness):
    h = harness
    pull_full(h.ctx)
    h.sync()  # 1C learns the spending lock the load derived: only the website's writes remain
    sent_before = count(h, OutboxMessage, OutboxMessage.state == SyncState.DONE)
    card_id, _ = hub_card(h, CARD_1)
    faults(h, error_rate=1.0, error_status=503)
    for n in range(12):
        accrue(h, card_id, "1", f"outage-{n}")  # the website is not slowed down by 1C
    import time

    deadline = time.monotonic() + 15
    while h.ctx.breaker.state(fresh=True).state == "closed" and time.monotonic() < deadline:
        drain_everything(h.ctx, rounds=1)  # the head of the card's queue retries, with backoff
        time.sleep(0.05)
    assert h.ctx.breaker.state(fresh=True).state in ("open", "half_open")
    for _ in range(5):  # while open, nothing is attempted and nothing counts towards the DLQ
        drain_everything(h.ctx, rounds=1)
    assert count(h, OutboxMessage, OutboxMessage.state == SyncState.PENDING) == 12
    assert count(h, OutboxMessage, OutboxMessage.state == SyncState.DEAD) == 0
    # 1C unavailable is not the message's fault: no try is counted towards the dead letters, and
    # only the head of the card's queue was tried at all (its reason is kept).
    assert count(h, OutboxMessage, OutboxMessage.attempts > 0) == 0
    assert count(h, OutboxMessage, OutboxMessage.last_error.is_not(None)) == 1
    with h.ctx.session_factory() as s:
        head = s.scalars(
            select(OutboxMessage).where(OutboxMessage.state == SyncState.PENDING).order_by(OutboxMessage.id)
        ).first()
        assert head is not None and "onec_unavailable" in (head.last_error or "")
    status = sync_status(h.ctx.engine, h.ctx.clock())
    assert status.outbox_pending == 12 and status.breaker in ("open", "half_open")
    assert "bonusbridge_sync_outbox_pending 12" in prometheus_text(status, h.ctx.clock())

    faults(h)
    deadline = time.monotonic() + 20
    while count(h, OutboxMessage, OutboxMessage.state == SyncState.PENDING) and time.monotonic() < deadline:
        drain_everything(h.ctx)
        time.sleep(0.1)
    assert count(h, OutboxMessage, OutboxMessage.state == SyncState.DONE) == sent_before + 12
    assert h.ctx.breaker.state(fresh=True).state == "closed"
    assert hub_card(h, CARD_1)[1] == Decimal("662") == h.onec_balance(CARD_1)
    assert len(h.onec.list(DOCS, filter=F.substringof("ВнешнийИдентификатор: bb", "Комментарий"))) == 12


def test_a_lost_answer_is_retried_by_looking_before_writing(harness):
    h = harness
    pull_full(h.ctx)
    card_id, _ = hub_card(h, CARD_1)
    accrue(h, card_id, "7", "lost-answer")
    faults(h, drop_rate=1.0, match="Document_")  # 1C writes, the answer never arrives
    drain_everything(h.ctx, rounds=1)
    faults(h)
    import time

    deadline = time.monotonic() + 10
    while count(h, OutboxMessage, OutboxMessage.state == SyncState.PENDING) and time.monotonic() < deadline:
        drain_everything(h.ctx)
        time.sleep(0.05)
    documents = h.onec.list(DOCS, filter=F.substringof("ВнешнийИдентификатор: bb", "Комментарий"))
    assert len(documents) == 1 and documents[0]["Posted"] is True
    assert h.onec_balance(CARD_1) == Decimal("657")


def test_a_message_that_keeps_failing_is_dead_lettered_and_can_be_replayed(retail, db, monkeypatch):
    h = Harness(retail, db, sync_max_attempts=3, sync_breaker_threshold=100)
    pull_full(h.ctx)
    card_id, _ = hub_card(h, CARD_1)
    faults(h, error_rate=1.0, error_status=500, match="Document_")
    accrue(h, card_id, "3", "doomed")
    import time

    deadline = time.monotonic() + 10
    while not count(h, OutboxMessage, OutboxMessage.state == SyncState.DEAD) and time.monotonic() < deadline:
        drain_everything(h.ctx)
        time.sleep(0.05)
    assert count(h, OutboxMessage, OutboxMessage.state == SyncState.DEAD) == 1
    assert sync_status(h.ctx.engine, h.ctx.clock()).dlq_size == 1
    faults(h)
    from typer.testing import CliRunner

    from bonusbridge.settings import get_settings
    from connectors.sync.cli import app

    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()  # the CLI reads settings once per process
    hub = type("H", (), {"engine": db})()
    monkeypatch.setattr("connectors.sync.cli.build_hub", lambda settings, **_: hub)
    env: dict[str, str] = {}
    result = CliRunner().invoke(app, ["dlq"], env=env)
    assert result.exit_code == 0 and "doomed" not in result.output and "attempt(s)" in result.output
    result = CliRunner().invoke(app, ["dlq", "--all"], env=env)
    assert "1 message(s) queued again" in result.output
    get_settings.cache_clear()
    drain_everything(h.ctx)
    assert h.onec_balance(CARD_1) == Decimal("653")
    h.close()


def test_an_unmappable_change_is_parked_without_blocking_others_and_replays(harness):
    h = harness
    pull_full(h.ctx)
    card = h.onec.get("Catalog_ИнформационныеКарты", CARD_1)
    bad = {
        "odata.type": "StandardODATA.Catalog_ИнформационныеКарты",
        **card,
        "Статус": "Потеряна",
        "DataVersion": "AAAAAAAAAAk=",
    }
    store_changes(h.ctx, [bad], source="amqp")
    h.till("2000000000028", accrued="5")
    h.sync()
    status = sync_status(h.ctx.engine, h.ctx.clock())
    assert status.inbox_parked == 1
    assert hub_card(h, "40000000-0000-4000-8000-000000000002")[1] == Decimal("105")
    with h.ctx.session_factory() as s:
        parked = s.scalars(select(InboxMessage).where(InboxMessage.state == SyncState.PARKED)).one()
        assert "Потеряна" in (parked.last_error or "") or "Статус" in (parked.last_error or "")


def test_an_amqp_copy_of_the_hubs_own_write_is_dropped_once_the_node_is_known(harness):
    h = harness
    pull_full(h.ctx)
    partner = h.onec.get("Catalog_Партнеры", PARTNER_1)
    node = h.listener.poller.node_ref()
    change = {"odata.type": "StandardODATA.Catalog_Партнеры", **partner, "bonusbridge.origin_node": node}
    # Before the listener has read the node, the copy is stored (DataVersion still recognises it) …
    assert store_changes(h.ctx, [change], source="amqp")
    # … and learning the node later is not masked by that earlier look-up.
    h.ctx.cached("node_ref", lambda: node)
    newer = h.onec.patch("Catalog_Партнеры", PARTNER_1, {"Комментарий": "echo test"})
    assert store_changes(h.ctx, [change | newer], source="amqp") == []


def test_1c_failing_as_a_whole_with_error_pages_dead_letters_nothing(harness):
    """1C's platform page ("server not found", a 500) on every call: once the failures opened the
    breaker, 1C as a whole is down, and the breaker's trial calls do not count against the
    message — however long it lasts, nothing goes to the dead letters and the card's order holds."""
    import time

    h = harness
    pull_full(h.ctx)
    h.sync()  # 1C learns the spending lock the load derived: only the website's writes remain
    sent_before = count(h, OutboxMessage, OutboxMessage.state == SyncState.DONE)
    card_id, _ = hub_card(h, CARD_1)
    faults(h, error_rate=1.0, error_status=500, error_page="1c")
    for n in range(3):
        accrue(h, card_id, "1", f"gone-{n}")
    deadline = time.monotonic() + 4  # many breaker periods (0.3 s here)
    while time.monotonic() < deadline:
        drain_everything(h.ctx, rounds=1)
        time.sleep(0.05)
    assert count(h, OutboxMessage, OutboxMessage.state == SyncState.DEAD) == 0
    assert count(h, OutboxMessage, OutboxMessage.attempts >= h.settings.sync_breaker_threshold) == 0
    faults(h)
    deadline = time.monotonic() + 20
    while count(h, OutboxMessage, OutboxMessage.state == SyncState.PENDING) and time.monotonic() < deadline:
        drain_everything(h.ctx)
        time.sleep(0.1)
    assert count(h, OutboxMessage, OutboxMessage.state == SyncState.DONE) == sent_before + 3
    assert hub_card(h, CARD_1)[1] == Decimal("653") == h.onec_balance(CARD_1)
