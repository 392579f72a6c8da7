"""The loyalty program's opt-in through the shop API (seed 001): joining at checkout with the
receipt or the accrual, in its transaction and under its Idempotency-Key; a non-member's order
earning nothing (and saying why) only when the program requires joining; the quote's member flag,
still showing the points the basket earns if they join."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from bonusbridge.models import Card, Customer, Origin, ProgramMember
from bonusbridge.services import membership
from bonusbridge.unit_of_work import UnitOfWork
from tests.web_cabinet.api.test_auth import assert_problem
from tests.web_cabinet.api.test_checkout import balance

LINES = [{"sku": "drill", "quantity": "1", "price": "1000.00", "category": "tools"}]


@pytest.fixture
def opt_in(hub):
    """The program requires joining (the API reads the hub's settings)."""
    hub.settings = hub.settings.model_copy(update={"points_opt_in_required": True})


@pytest.fixture
def owned(db, clock):
    """``owned(member=...)`` → (customer id, card row id): a card with an owner, who left the
    program (``member=False``) or not (a member through the card)."""

    def factory(*, member: bool = True) -> tuple[int, int]:
        with UnitOfWork(db, clock=clock) as uow:
            customer = uow.customers.add(Customer(changed_by=Origin.ONEC, last_name="Martin"))
            program = uow.programs.get_or_create("dobrostroy", "Dobrostroy")
            number = f"3000{customer.id:08d}"
            card = uow.cards.add(Card(program_id=program.id, number=number, customer_id=customer.id))
            uow.commit()
            ids = customer.id, card.id
        if not member:
            with db.begin() as conn:
                membership.leave(conn, ids[0], now=clock())
        return ids

    return factory


def member_row(db, customer_id: int):
    with db.connect() as conn:
        return conn.execute(
            select(ProgramMember.joined_via, ProgramMember.joined_by, ProgramMember.left_at).where(
                ProgramMember.customer_id == customer_id
            )
        ).first()


def receipt(card: str, ref: str = "R-1", **extra):
    return {"card_id": card, "receipt_id": ref, "lines": LINES, **extra}


def test_by_default_every_card_earns_as_before(api, owned, make_card, card_id):
    _, left_card = owned(member=False)
    body = api.post("/receipts", receipt(card_id(left_card))).json()
    assert body["points_accrued"] == "10.00" and body["member"] is False and body["earn_refused"] is None
    lone = api.post(
        "/accruals", {"card_id": card_id(make_card()), "order_id": "O-1", "order_total": "500.00"}
    )
    assert lone.json()["points_accrued"] == "5.00" and lone.json()["member"] is False


def test_a_non_member_earns_nothing_when_joining_is_required_and_is_told_why(api, opt_in, owned, card_id, db):
    _, card = owned(member=False)
    public = card_id(card)
    answer = api.post("/receipts", receipt(public), key="r1")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["points_accrued"] == "0.00" and body["earn_refused"] == "not_a_member" and not body["member"]
    assert body["order_total"] == "1000.00" and body["lines"][0]["points"] == "0.00"
    assert "not a member" in body["lines"][0]["rules"][-1]
    assert balance(api, public)["pending"] == "0.00"
    order = api.get("/orders/R-1").json()
    assert order["order_total"] == "1000.00" and order["points_accrued"] == "0.00"
    returned = api.post("/receipts/R-1/returns", {"lines": [{"line": 0, "quantity": "1"}]})
    assert returned.status_code == 201 and returned.json()["points_reversed"] == "0.00"
    accrual = api.post("/accruals", {"card_id": public, "order_id": "O-2", "order_total": "500.00"}).json()
    assert accrual["points_accrued"] == "0.00" and accrual["earn_refused"] == "not_a_member"


def test_owners_of_cards_and_cards_without_owner_earn_when_joining_is_required(
    api, opt_in, owned, make_card, card_id
):
    _, card = owned()  # a member through the card they took at a till
    body = api.post("/receipts", receipt(card_id(card))).json()
    assert body["points_accrued"] == "10.00" and body["member"] is True and body["earn_refused"] is None
    lone = api.post("/receipts", receipt(card_id(make_card()), "R-2")).json()
    assert lone["points_accrued"] == "10.00" and lone["earn_refused"] is None


def test_joining_at_checkout_with_the_receipt(api, opt_in, owned, card_id, db, clock):
    customer, card = owned(member=False)
    ticked = receipt(card_id(card), join_program=True)
    first = api.post("/receipts", ticked, key="r1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["points_accrued"] == "10.00" and body["member"] is True and body["earn_refused"] is None
    assert member_row(db, customer) == ("checkout", "shop-1", None)
    replay = api.post("/receipts", ticked, key="r1")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == {**body, "replayed": True}
    assert_problem(api.post("/receipts", receipt(card_id(card)), key="r1"), 409, "idempotency_conflict")


def test_joining_at_checkout_with_the_accrual(api, opt_in, owned, card_id, db):
    customer, card = owned(member=False)
    body = api.post(
        "/accruals",
        {"card_id": card_id(card), "order_id": "O-1", "order_total": "500.00", "join_program": True},
    ).json()
    assert body["points_accrued"] == "5.00" and body["member"] is True
    assert member_row(db, customer)[0] == "checkout"
    again = api.post(
        "/accruals",
        {"card_id": card_id(card), "order_id": "O-2", "order_total": "500.00", "join_program": True},
    ).json()
    assert again["points_accrued"] == "5.00", "a member who ticks the box again changes nothing"


def test_a_refused_order_enrols_nobody(api, opt_in, owned, card_id, db):
    customer, card = owned(member=False)
    assert api.post("/receipts", receipt(card_id(card), "R-1")).status_code == 201
    ticked = receipt(card_id(card), "R-1", join_program=True)
    assert_problem(api.post("/receipts", ticked), 409, "order_already_accrued")
    with db.connect() as conn:
        assert not membership.is_member(conn, customer), "the join rolled back with the refused receipt"


def test_a_request_without_the_field_replays_as_one_with_it_false(api, owned, card_id):
    _, card = owned()
    body = {"card_id": card_id(card), "order_id": "O-1", "order_total": "100.00"}
    first = api.post("/accruals", body, key="same")
    assert api.post("/accruals", {**body, "join_program": False}, key="same").json() == {
        **first.json(),
        "replayed": True,
    }


def test_the_quote_says_whether_the_owner_must_join_and_what_joining_earns(
    api, hub, owned, make_card, card_id, fund
):
    _, left_card = owned(member=False)
    _, member_card = owned()
    public = card_id(left_card)
    fund(left_card, "100.00")
    quote = api.read("/quotes", {"card_id": public, "lines": LINES}).json()
    assert (quote["member"], quote["join_required"], quote["points_earned"]) == (False, False, "10.00")
    hub.settings = hub.settings.model_copy(update={"points_opt_in_required": True})
    quote = api.read("/quotes", {"card_id": public, "lines": LINES}).json()
    assert (quote["member"], quote["join_required"], quote["points_earned"]) == (False, True, "10.00")
    assert Decimal(quote["max_spend_points"]) > 0, "what they have can still be spent"
    member = api.read("/quotes", {"card_id": card_id(member_card), "lines": LINES}).json()
    assert (member["member"], member["join_required"]) == (True, False)
    lone = api.read("/quotes", {"card_id": card_id(make_card()), "lines": LINES}).json()
    assert (lone["member"], lone["join_required"]) == (False, False)


def test_a_till_is_never_asked_to_enrol(api, hub, owned, db):
    _, card = owned(member=False)
    hub.settings = hub.settings.model_copy(update={"points_opt_in_required": True})
    with db.connect() as conn:
        number = conn.execute(select(Card.number).where(Card.id == card)).scalar_one()
    till = api.read("/onec/quote", {"card_number": number, "lines": LINES}).json()
    assert (till["member"], till["join_required"], till["points_earned"]) == (False, False, "10.00")
