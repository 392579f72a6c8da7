"""Issue 18 item 4 through the shop API: in ut11 the cards of one partner share the partner's
account (``ledger.accounts``), so the balance, holds, captures, accruals and refunds of any card
of the partner are the partner's; a card blocked by a merge is still refused for spending."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge.ledger import accounts
from bonusbridge.models import Card, CardStatus, Customer, Origin
from bonusbridge.points import store
from bonusbridge.services.cabinet import expiring_lots, movements_of
from bonusbridge.services.cards import bind_card, merge_locked
from bonusbridge.unit_of_work import UnitOfWork
from reconciliation.merges import unmerge
from tests.web_cabinet.api.test_auth import assert_problem
from tests.web_cabinet.api.test_checkout import balance, hold_body


@pytest.fixture
def partner(db, clock, make_card, fund, card_id):
    """Two cards of one customer on the customer's account, as the ut11 sync leaves them, with
    500 points from 1C's register on the first (the account card)."""
    first, second = make_card(), make_card()
    with Session(db) as session:
        customer = Customer(last_name="Иванов", first_name="Иван")
        session.add(customer)
        session.flush()
        for card in (first, second):
            session.get_one(Card, card).customer_id = customer.id
        session.commit()
        customer_id = customer.id
    with UnitOfWork(db, clock=clock) as uow:
        assert accounts.share_customer_account(uow.ledger, customer_id) == first
        uow.commit()
    fund(first, "500.00")
    return first, second, card_id(first), card_id(second)


def test_every_card_of_the_partner_reads_the_partners_balance(api, partner):
    _, _, first, second = partner
    assert balance(api, first)["available"] == balance(api, second)["available"] == "500.00"


def test_hold_capture_accrual_and_refund_on_the_second_card_are_the_partners(api, partner):
    _, _, first, second = partner
    hold = api.post("/holds", hold_body(second, points="30.00", order="O-1", total="100.00"))
    assert hold.status_code == 201, hold.text
    assert hold.json()["card_id"] == second  # the card the shop presented, not the account card
    assert api.get(f"/holds/{hold.json()['hold_id']}").json()["card_id"] == second
    assert balance(api, first)["held"] == balance(api, second)["held"] == "30.00"
    captured = api.post(f"/holds/{hold.json()['hold_id']}/capture")
    assert captured.status_code == 200, captured.text
    assert captured.json()["card_id"] == second
    accrued = api.post("/accruals", {"card_id": second, "order_id": "O-1", "order_total": "100.00"})
    assert accrued.status_code == 201, accrued.text
    assert accrued.json()["points_spent"] == "30.00"
    earned = accrued.json()["points_accrued"]
    after = str(Decimal("470.00") + Decimal(earned))
    assert balance(api, first)["available"] == balance(api, second)["available"] == after
    refund = api.post("/refunds", {"order_id": "O-1", "amount": "100.00"})
    assert refund.status_code == 201, refund.text
    assert balance(api, first)["available"] == balance(api, second)["available"] == "500.00"
    order = api.get("/orders/O-1").json()
    assert order["points_spent"] == "30.00" and order["refunded_total"] == "100.00"


def test_a_card_merged_away_is_refused_while_the_partners_other_card_spends(api, partner, db):
    first_id, _, first, second = partner
    with Session(db) as session:  # the cabinet's merge blocks the first card: only a status changes
        card = session.get_one(Card, first_id)
        card.status, card.status_reason = CardStatus.BLOCKED, "merged"
        session.commit()
    assert_problem(api.post("/holds", hold_body(first, order="B-1")), 409, "card_blocked")
    held = api.post("/holds", hold_body(second, order="B-2"))
    assert held.status_code == 201, held.text
    assert api.post(f"/holds/{held.json()['hold_id']}/capture").status_code == 200
    assert balance(api, second)["available"] == "470.00"


def test_the_cabinet_shows_the_partners_expiring_points_and_history_under_any_card(partner, fund, db, clock):
    first, second, _, _ = partner
    fund(first, "20.00", expires_at=clock.now + timedelta(days=10))
    with Session(db) as session:
        soon = expiring_lots(session, [second], now=clock.now, horizon=clock.now + timedelta(days=30))
        assert [e.amount for e in soon] == [Decimal("20.00")]
        assert [m.amount for m in movements_of(session, [second])] == [Decimal("20.00"), Decimal("500.00")]


def test_a_first_purchase_is_the_partners_first_not_each_cards(partner, make_card, db):
    first, second, _, _ = partner
    stranger = make_card()
    with db.connect() as conn:
        facts = {card: store.card_facts(conn, card) for card in (first, second, stranger)}
    assert [facts[c].customer.first_purchase for c in (first, second, stranger)] == [False, False, True]


def test_a_card_bound_by_a_merge_joins_the_partners_account_and_an_unmerge_takes_it_back(
    api, partner, make_card, fund, db, clock, card_id
):
    first, second, _, second_public = partner
    stranger = make_card()
    fund(stranger, "50.00")
    with UnitOfWork(db, clock=clock) as uow:
        cards = [uow.session.get_one(Card, c) for c in (first, second, stranger)]
        cards[2].customer_id = cards[0].customer_id  # bound to the partner for the merge
        record = merge_locked(
            uow,
            cards[0].customer_id,
            cards[1],
            [cards[2]],
            cards,
            key="bind-and-merge",
            origin=Origin.WEBSITE,
            actor=None,
            note="cabinet",
            bound_for_merge=[stranger],
        )
        uow.commit()
    assert record is not None and record.points_moved == Decimal("50.00")
    with db.connect() as conn:
        assert accounts.accounts_of(conn, [first, second, stranger]) == {
            c: first for c in (first, second, stranger)
        }
    assert balance(api, second_public)["available"] == "550.00"
    # Staff undo it: the card is nobody's again, on its own account, with its 50 points back.
    with UnitOfWork(db, clock=clock) as uow:
        undone = unmerge(uow, record.id, actor="olga.staff", reason="wrong card", key="undo-bind")
        uow.commit()
    assert undone.points_restored == Decimal("50.00")
    with db.connect() as conn:
        assert accounts.accounts_of(conn, [first, second, stranger]) == {
            first: first,
            second: first,
            stranger: stranger,
        }
    assert balance(api, second_public)["available"] == "500.00"
    assert balance(api, card_id(stranger))["available"] == "50.00"


def test_a_card_bound_in_the_cabinet_joins_the_partners_account_with_its_points(
    api, partner, make_card, fund, db, clock, card_id
):
    first, _, _, second_public = partner
    legacy = make_card()
    fund(legacy, "12.34")
    with db.connect() as conn:
        owner = conn.scalar(select(Card.customer_id).where(Card.id == first))
    with UnitOfWork(db, clock=clock) as uow:
        bind_card(uow, owner, legacy, origin=Origin.WEBSITE)
        uow.commit()
    with db.connect() as conn:
        assert accounts.account_card(conn, legacy) == first
    assert balance(api, card_id(legacy))["available"] == balance(api, second_public)["available"] == "512.34"
