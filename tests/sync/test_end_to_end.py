"""Both directions end to end on the embedded path: 1C's feed into the hub, the hub's outbox into 1C."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from bonusbridge.models import Card, Customer, Movement, Origin, OutboxMessage, SyncState
from bonusbridge.unit_of_work import UnitOfWork
from connectors.sync.pull import pull_full

CARD_1 = "40000000-0000-4000-8000-000000000001"  # 2000000000011, 650 points in the demo base
PARTNER_1 = "10000000-0000-4000-8000-000000000001"


def hub_card(h, ref):
    with UnitOfWork(h.ctx.engine) as uow:
        card = uow.session.scalars(select(Card).where(Card.onec_ref == ref)).one()
        return card.id, uow.ledger.balance(card.id).total


def test_initial_load_then_till_receipts_then_website_accruals(harness):
    h = harness
    report = pull_full(h.ctx)
    assert report.customers == 4 and report.cards >= 5
    card_id, total = hub_card(h, CARD_1)
    assert total == Decimal("650") == h.onec_balance(CARD_1)

    # The till sells: accrual and redemption on one receipt reach the hub through the feed.
    h.till("2000000000011", accrued="25.50", redeemed="10")
    h.sync()
    assert hub_card(h, CARD_1)[1] == Decimal("665.50") == h.onec_balance(CARD_1)

    # The website accrues: the outbox carries it to 1C, once, and its echo is not applied back.
    with UnitOfWork(h.ctx.engine) as uow:
        uow.ledger.accrue(card_id, Decimal("40"), key="order-1", origin=Origin.WEBSITE)
        uow.commit()
    h.sync()
    assert hub_card(h, CARD_1)[1] == Decimal("705.50") == h.onec_balance(CARD_1)
    with h.ctx.engine.connect() as conn:
        assert (
            conn.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state == SyncState.PENDING)
            )
            == 0
        )
        onec_movements = conn.scalar(
            select(func.count()).select_from(Movement).where(Movement.origin == Origin.ONEC)
        )
    h.sync()
    with h.ctx.engine.connect() as conn:
        assert (
            conn.scalar(select(func.count()).select_from(Movement).where(Movement.origin == Origin.ONEC))
            == onec_movements
        )


def test_profile_edits_travel_both_ways(harness):
    h = harness
    pull_full(h.ctx)
    with UnitOfWork(h.ctx.engine) as uow:
        customer = uow.session.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
        customer.birth_date = date(1985, 7, 21)
        customer.email = "ivan.new@example.ru"
        customer.changed_by = Origin.WEBSITE
        uow.commit()
    h.sync()
    partner = h.onec.get("Catalog_Партнеры", PARTNER_1)
    assert partner["ДатаРождения"].startswith("1985-07-21")
    assert any(row.get("АдресЭП") == "ivan.new@example.ru" for row in partner["КонтактнаяИнформация"])

    # An accountant edits the partner in 1C: the hub takes it.
    h.onec.patch("Catalog_Партнеры", PARTNER_1, {"ДатаРождения": "1985-07-22T00:00:00"})
    h.sync()
    with UnitOfWork(h.ctx.engine) as uow:
        customer = uow.session.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
        assert customer.birth_date == date(1985, 7, 22)
        assert customer.email == "ivan.new@example.ru"


def test_a_name_without_a_middle_name_reaches_1c_when_one_part_changes(harness):
    """1C keeps the full name in one field built from three hub fields. A customer without a
    patronymic who changes only the last name sends one changed field: the unchanged ones must
    travel with it, or the partner could not be written (and the change was dead-lettered)."""
    h = harness
    pull_full(h.ctx)
    partner_2 = "10000000-0000-4000-8000-000000000002"  # Петрова Мария, no middle name
    with UnitOfWork(h.ctx.engine) as uow:
        customer = uow.session.scalars(select(Customer).where(Customer.onec_ref == partner_2)).one()
        assert customer.middle_name is None and customer.first_name == "Мария"
        customer.last_name = "Сидорова"
        customer.changed_by = Origin.WEBSITE
        uow.commit()
    h.sync()
    partner = h.onec.get("Catalog_Партнеры", partner_2)
    assert partner["Description"] == "Сидорова Мария"
    with h.ctx.engine.connect() as conn:
        states = conn.execute(select(OutboxMessage.state)).scalars().all()
    assert states and all(state == SyncState.DONE for state in states)
