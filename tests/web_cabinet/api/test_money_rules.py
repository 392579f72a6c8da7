"""Issue 15, items 2 and 3: the program's spending rules hold on holds and captures as on quotes, an
order is one state machine, and refunds never strand points — by amount, by line, mixed, after a
merge, with the program's credit-note and earning settings on every path."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge.ledger.audit import check_ledger
from bonusbridge.models import Card, CardStatus, Customer, Lot, Movement, MovementKind, Origin
from bonusbridge.points import store
from bonusbridge.points.receipts import add_months
from bonusbridge.services.cards import choose_primary
from bonusbridge.unit_of_work import UnitOfWork
from tests.web_cabinet.api.test_auth import assert_problem
from tests.web_cabinet.api.test_checkout import balance, hold_body
from web_cabinet.api import ids


@pytest.fixture
def rules(hub, db, clock):
    """``rules(**settings)``: store a program version with these settings, effective now."""
    hub.settings = hub.settings.model_copy(update={"points_cache_seconds": 0})

    def add(**settings: Any) -> None:
        with db.begin() as conn:
            store.add_version(
                conn,
                hub.settings,
                {"effective_from": clock.now.isoformat(), **settings},
                now=clock.now,
                actor="test",
            )

    return add


@pytest.fixture(autouse=True)
def ledger_stays_consistent(db):
    yield
    with db.connect() as conn:
        assert check_ledger(conn) == []


def quote(api, card: str, total: str) -> dict[str, Any]:
    lines = [{"sku": "x", "quantity": "1", "price": total}]
    return api.read("/quotes", {"card_id": card, "lines": lines}).json()  # type: ignore[no-any-return]


def accrue(api, card: str, total: str, order: str = "A-1") -> Any:
    return api.post("/accruals", {"card_id": card, "order_id": order, "order_total": total})


# --- item 2: holds and captures obey the program ---------------------------------------------------


def test_a_hold_below_the_spend_threshold_is_refused_like_the_quote_says(
    api, rules, make_card, fund, card_id
):
    rules(point_value="0.01", spend_threshold="200")
    row = make_card()
    fund(row, "199.99")
    card = card_id(row)
    assert quote(api, card, "100.00")["spend_refused"] == "below_threshold"
    assert_problem(api.post("/holds", hold_body(card, points="50.00")), 422, "below_threshold")
    assert balance(api, card)["held"] == "0.00"
    fund(row, "0.01")
    assert quote(api, card, "100.00")["spend_refused"] is None
    assert api.post("/holds", hold_body(card, points="50.00")).status_code == 201


def test_a_hold_for_an_order_below_the_minimum_is_refused(api, rules, make_card, fund, card_id):
    rules(point_value="0.01", min_order_amount="30")
    row = make_card()
    fund(row, "500.00")
    card = card_id(row)
    assert quote(api, card, "29.99")["spend_refused"] == "below_minimum_order"
    assert_problem(
        api.post("/holds", hold_body(card, points="10.00", total="29.99")), 422, "below_minimum_order"
    )
    assert api.post("/holds", hold_body(card, points="10.00", total="30.00")).status_code == 201


def test_the_order_s_holds_together_stay_within_its_share_and_state_one_total(
    api, rules, make_card, fund, card_id
):
    rules(point_value="1.00", max_spend_share="0.5")
    row = make_card()
    fund(row, "1000.00")
    card = card_id(row)
    assert api.post("/holds", hold_body(card, points="300.00", total="800.00")).status_code == 201
    assert_problem(
        api.post("/holds", hold_body(card, points="101.00", total="800.00")), 422, "spend_limit_exceeded"
    )
    assert_problem(
        api.post("/holds", hold_body(card, points="10.00", total="900.00")), 409, "order_total_mismatch"
    )
    assert api.post("/holds", hold_body(card, points="100.00", total="800.00")).status_code == 201


def test_partial_spending_off_a_capture_uses_up_the_balance_and_a_refund_gives_it_all_back(
    api, rules, make_card, fund, card_id
):
    rules(point_value="0.10", partial_spending=False)
    row = make_card()
    fund(row, "500.00")
    card = card_id(row)
    hold = api.post("/holds", hold_body(card, points="500.00", total="100.00")).json()["hold_id"]
    captured = api.post(f"/holds/{hold}/capture", {"points": "250.00"})
    assert captured.status_code == 200, captured.text
    assert balance(api, card)["available"] == "0.00"  # seed 003: "son solde de points sera remis à 0"
    paid = accrue(api, card, "100.00")
    assert paid.status_code == 201, paid.text
    assert paid.json()["points_spent"] == "250.00" and paid.json()["points_accrued"] == "75.00"
    refund = api.post("/refunds", {"order_id": "A-1", "amount": "100.00"}).json()
    assert (refund["points_returned"], refund["points_reversed"]) == ("500.00", "75.00")
    assert balance(api, card)["available"] == "500.00"


def test_the_accrual_gives_back_points_spent_beyond_what_the_paid_total_allows(
    api, rules, make_card, fund, card_id
):
    rules(point_value="1.00", max_spend_share="0.5")
    row = make_card()
    fund(row, "1000.00")
    card = card_id(row)
    hold = api.post("/holds", hold_body(card, points="400.00", total="800.00")).json()["hold_id"]
    assert api.post(f"/holds/{hold}/capture").status_code == 200
    paid = accrue(api, card, "100.00").json()
    # 50 % of 100.00 at 1.00 a point: 50 points may pay; 350 come back; 50.00 paid with money earns 50.
    assert (paid["points_spent"], paid["points_accrued"]) == ("50.00", "50.00")
    assert balance(api, card)["available"] == "1000.00"
    assert api.get("/orders/A-1").json()["points_spent"] == "400.00"  # captured, 350 of it given back


def test_an_order_is_accrued_only_once_its_holds_are_settled_and_then_takes_no_capture(
    api, rules, make_card, fund, card_id, hub, db
):
    rules(point_value="0.01")
    row = make_card()
    fund(row, "100.00")
    card = card_id(row)
    hold = api.post("/holds", hold_body(card, points="30.00", total="100.00")).json()["hold_id"]
    assert api.get("/orders/A-1").json()["state"] == "held"
    assert_problem(accrue(api, card, "100.00"), 409, "order_hold_pending")
    assert api.post(f"/holds/{hold}/capture").status_code == 200
    assert api.get("/orders/A-1").json()["state"] == "captured"
    assert accrue(api, card, "100.00").status_code == 201
    assert api.get("/orders/A-1").json()["state"] == "accrued"
    assert_problem(api.post("/holds", hold_body(card, points="1.00")), 409, "order_already_accrued")

    # A hold of the order left pending from before this rule (or written by hand) cannot spend now.
    with Session(db) as session:
        order_id = session.execute(
            select(Movement.document).where(Movement.document.like("shop-order:%"))
        ).scalar()
    stray = hub.ledger.hold(row, "10.00", key="stray", origin=Origin.WEBSITE, document=order_id)
    secret = hub.settings.api_id_secret.get_secret_value().encode()
    stray_id = ids.encode("hold", stray.id, secret)
    assert_problem(api.post(f"/holds/{stray_id}/capture"), 409, "order_already_accrued")
    assert api.post("/refunds", {"order_id": "A-1", "amount": "100.00"}).status_code == 201
    assert api.get("/orders/A-1").json()["state"] == "refunded"
    assert_problem(api.post(f"/holds/{stray_id}/capture"), 409, "order_refunded")
    assert api.post(f"/holds/{stray_id}/void").status_code == 200
    assert balance(api, card)["available"] == "100.00"


# --- item 3: refunds never strand points -----------------------------------------------------------


def _customer_with_two_cards(db, clock) -> tuple[int, int, int]:
    with UnitOfWork(db, clock=clock) as uow:
        program = uow.programs.get_or_create("dobrostroy", "Dobrostroy", is_legacy=False)
        customer = uow.customers.add(
            Customer(
                last_name="Иванова",
                first_name="Мария",
                birth_date=date(1990, 5, 17),
                changed_by=Origin.ONEC,
            )
        )
        uow.session.flush()
        first = uow.cards.add(
            Card(program_id=program.id, number="2100-0001", status=CardStatus.ACTIVE, customer_id=customer.id)
        )
        second = uow.cards.add(
            Card(program_id=program.id, number="2100-0002", status=CardStatus.ACTIVE, customer_id=customer.id)
        )
        uow.commit()
        return customer.id, first.id, second.id


def test_a_refund_follows_the_card_s_merge_to_the_card_that_holds_its_points(
    api, rules, fund, card_id, db, clock
):
    rules(point_value="1.00")
    customer, first, second = _customer_with_two_cards(db, clock)
    fund(first, "100.00")
    fund(second, "10.00")
    card = card_id(first)
    hold = api.post("/holds", hold_body(card, points="40.00", total="200.00")).json()["hold_id"]
    assert api.post(f"/holds/{hold}/capture").status_code == 200
    assert accrue(api, card, "200.00").json()["points_accrued"] == "160.00"  # 1 point per 1.00 paid
    with UnitOfWork(db, clock=clock) as uow:
        choose_primary(uow, customer, second, key="choose", origin=Origin.WEBSITE)
        uow.commit()
    assert balance(api, card_id(second))["available"] == "230.00"  # 60 + 160 + 10
    half = api.post("/refunds", {"order_id": "A-1", "amount": "100.00"})
    assert half.status_code == 201, half.text
    assert (half.json()["points_reversed"], half.json()["points_returned"]) == ("80.00", "20.00")
    rest = api.post("/refunds", {"order_id": "A-1", "amount": "100.00"})
    assert rest.status_code == 201, rest.text
    # Everything as if the order never happened: 100 + 10, all on the primary card now.
    assert balance(api, card_id(second))["available"] == "110.00"
    assert balance(api, card_id(first))["available"] == "0.00"
    with Session(db) as session:
        restored = session.execute(
            select(Lot.card_id)
            .join(Movement, Movement.id == Lot.movement_id)
            .where(Movement.kind == MovementKind.REVERSAL)
        ).scalars()
        assert set(restored) == {second}


RECEIPT = [
    {"sku": "sofa", "quantity": "1", "price": "9000.00"},
    {"sku": "lamp", "quantity": "1", "price": "1000.00"},
]


@pytest.mark.parametrize(
    "steps",
    [
        [("refund", "1000.00"), ("return", 0)],
        [("return", 0), ("refund", "1000.00")],
        [("return", 1), ("refund", "9000.00")],
        [("refund", "2500.00"), ("return", 1), ("return", 0)],
        [("refund", "333.33"), ("refund", "666.67"), ("return", 0)],
    ],
)
def test_any_mix_of_refunds_and_returns_reverses_exactly_what_a_full_refund_would(
    api, rules, make_card, fund, card_id, steps
):
    rules(point_value="0.01", earn_rate="0.01")
    row = make_card()
    fund(row, "5.00")
    card = card_id(row)
    applied = api.post("/receipts", {"card_id": card, "receipt_id": "R-1", "lines": RECEIPT}).json()
    assert [line["points"] for line in applied["lines"]] == ["90.00", "10.00"]
    reversed_points = Decimal(0)
    for kind, value in steps:
        if kind == "refund":
            done = api.post("/refunds", {"order_id": "R-1", "amount": value})
        else:
            done = api.post("/receipts/R-1/returns", {"lines": [{"line": value, "quantity": "1"}]})
        assert done.status_code == 201, done.text
        reversed_points += Decimal(done.json()["points_reversed"])
    assert reversed_points == Decimal("100.00")
    assert balance(api, card)["available"] == "5.00"
    order = api.get("/orders/R-1").json()
    assert (order["refunded_total"], order["state"]) == ("10000.00", "refunded")
    assert_problem(api.post("/refunds", {"order_id": "R-1", "amount": "0.01"}), 422, "refund_exceeds_order")


def test_the_first_refund_then_a_line_return_takes_the_line_s_points_not_a_share(
    api, rules, make_card, card_id
):
    rules(point_value="0.01", earn_rate="0.01")
    card = card_id(make_card())
    api.post("/receipts", {"card_id": card, "receipt_id": "R-1", "lines": RECEIPT})
    first = api.post("/refunds", {"order_id": "R-1", "amount": "1000.00"}).json()
    assert first["points_reversed"] == "10.00"
    second = api.post("/receipts/R-1/returns", {"lines": [{"line": 0, "quantity": "1"}]}).json()
    assert (second["points_reversed"], second["amount"]) == ("90.00", "9000.00")


def test_refunds_by_amount_keep_earned_points_when_credit_notes_do_not_reduce_them(
    api, rules, make_card, fund, card_id
):
    rules(point_value="1.00", credit_notes_reduce_points=False)
    row = make_card()
    fund(row, "100.00")
    card = card_id(row)
    hold = api.post("/holds", hold_body(card, points="20.00", total="100.00")).json()["hold_id"]
    api.post(f"/holds/{hold}/capture")
    assert accrue(api, card, "100.00").json()["points_accrued"] == "80.00"
    done = api.post("/refunds", {"order_id": "A-1", "amount": "100.00"}).json()
    assert (done["points_reversed"], done["points_returned"]) == ("0.00", "20.00")
    assert balance(api, card)["available"] == "180.00"


def test_accruals_obey_validity_pending_days_and_whether_advantages_reduce_the_base(
    api, rules, make_card, fund, card_id, db, clock
):
    rules(point_value="1.00", validity_months=6, pending_days=14, advantages_reduce_base=False)
    row = make_card()
    fund(row, "100.00")
    card = card_id(row)
    hold = api.post("/holds", hold_body(card, points="30.00", total="200.00")).json()["hold_id"]
    api.post(f"/holds/{hold}/capture")
    paid = accrue(api, card, "200.00").json()
    assert paid["points_accrued"] == "200.00"  # the 30 points' value earns too: advantages do not reduce
    view = balance(api, card)
    assert (view["available"], view["pending"]) == ("70.00", "200.00")
    with Session(db) as session:
        accrual = session.execute(
            select(Movement).where(
                Movement.document.like("shop-order:%"), Movement.kind == MovementKind.ACCRUAL
            )
        ).scalar_one()
        assert accrual.available_from == clock.now + timedelta(days=14)
        assert accrual.expires_at == add_months(clock.now, 6)


# --- each spending rule through every path ------------------------------------------------------

SCENARIOS = {
    # name: (program settings, card status, balance, order total, points asked, refusal or None)
    "threshold": (
        {"spend_threshold": "200"},
        CardStatus.ACTIVE,
        "150.00",
        "100.00",
        "10.00",
        "below_threshold",
    ),
    "minimum_order": (
        {"min_order_amount": "30"},
        CardStatus.ACTIVE,
        "500.00",
        "29.99",
        "10.00",
        "below_minimum_order",
    ),
    "share": (
        {"max_spend_share": "0.2"},
        CardStatus.ACTIVE,
        "500.00",
        "100.00",
        "20.01",
        "spend_limit_exceeded",
    ),
    "maximum": (
        {"max_spend_points": "15"},
        CardStatus.ACTIVE,
        "500.00",
        "100.00",
        "15.01",
        "spend_limit_exceeded",
    ),
    "accumulation_only": ({}, CardStatus.ACCUMULATION_ONLY, "500.00", "100.00", "10.00", "accumulation_only"),
    "blocked": ({}, CardStatus.BLOCKED, "500.00", "100.00", "10.00", "card_blocked"),
    "allowed": ({"max_spend_share": "0.2"}, CardStatus.ACTIVE, "500.00", "100.00", "20.00", None),
}
QUOTE_SAYS = {"card_blocked": "blocked", "spend_limit_exceeded": None}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_spending_rule_answers_the_same_on_the_quote_the_till_the_hold_and_the_capture(
    name, api, make_api, rules, make_card, fund, card_id, db
):
    settings, status, funds, total, points, refusal = SCENARIOS[name]
    rules(point_value="1.00", **settings)
    row = make_card(number="2000-7777-0001")
    fund(row, funds)
    card = card_id(row)
    lines = [{"sku": "x", "quantity": "1", "price": total}]
    # A hold made while the card could spend, to capture once the rule applies.
    capture_first = status is not CardStatus.ACTIVE
    if capture_first:
        early = api.post("/holds", hold_body(card, points=points, total=total, order="EARLY"))
        assert early.status_code == 201, early.text
    with Session(db) as session:
        session.get(Card, row).status = status  # type: ignore[union-attr]
        session.commit()

    on_site = api.read("/quotes", {"card_id": card, "lines": lines}).json()
    at_till = make_api("till").read("/onec/quote", {"card_number": "2000-7777-0001", "lines": lines}).json()
    assert on_site == at_till
    expected = QUOTE_SAYS.get(refusal, refusal) if refusal else None
    assert on_site["spend_refused"] == expected
    may = Decimal(on_site["max_spend_points"]) >= Decimal(points)
    assert may is (refusal is None)

    held = api.post("/holds", hold_body(card, points=points, total=total))
    if refusal is None:
        assert held.status_code == 201, held.text
        assert api.post(f"/holds/{held.json()['hold_id']}/capture").status_code == 200
    else:
        assert held.json()["code"] == refusal
    if capture_first:
        hold_id = early.json()["hold_id"]
        assert api.post(f"/holds/{hold_id}/capture").json()["code"] == refusal
