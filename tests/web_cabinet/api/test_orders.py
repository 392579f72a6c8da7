"""Accruals for paid orders and proportional refunds: the arithmetic, the limits, idempotency."""

from __future__ import annotations

import pytest

from bonusbridge.models import CardStatus
from tests.web_cabinet.api.test_auth import assert_problem
from tests.web_cabinet.api.test_checkout import balance, hold_body, set_status


@pytest.fixture
def funded(make_card, fund, card_id):
    card = make_card()
    fund(card, "200.00")
    return card, card_id(card)


def paid_order(api, card: str, *, total: str = "1000.00", spend: str | None = "300.00", order: str = "O-1"):
    """Checkout as a shop does it: hold, capture, then accrue on the paid order."""
    if spend is not None:
        hold_id = api.post("/holds", hold_body(card, points=spend, order=order, total=total)).json()[
            "hold_id"
        ]
        assert api.post(f"/holds/{hold_id}/capture").status_code == 200
    response = api.post("/accruals", {"card_id": card, "order_id": order, "order_total": total})
    assert response.status_code == 201, response.text
    return response.json()


def test_accrual_earns_on_the_part_paid_with_money(api, make_card, fund, card_id):
    card = make_card()
    fund(card, "500.00")
    body = paid_order(api, card_id(card), total="1000.00", spend="300.00")
    # 1000 - 300 points * 1.00 = 700 paid with money -> 7.00 points at 0.01 per unit
    assert body == {
        "order_id": "O-1",
        "card_id": card_id(card),
        "order_total": "1000.00",
        "points_spent": "300.00",
        "points_accrued": "7.00",
        "member": False,  # the card has no owner: it earns without anyone joining
        "earn_refused": None,
        "replayed": False,
    }
    assert balance(api, card_id(card))["available"] == "207.00"
    order = api.get("/orders/O-1").json()
    assert order == {
        "order_id": "O-1",
        "card_id": card_id(card),
        "order_total": "1000.00",
        "refunded_total": "0.00",
        "points_accrued": "7.00",
        "points_spent": "300.00",
        "state": "accrued",
    }


def test_accumulation_only_cards_accrue_blocked_ones_do_not(api, make_card, card_id, db):
    saving = make_card(status=CardStatus.ACCUMULATION_ONLY)
    assert paid_order(api, card_id(saving), spend=None)["points_accrued"] == "10.00"
    assert balance(api, card_id(saving))["available"] == "10.00"
    blocked = make_card(status=CardStatus.BLOCKED)
    body = {"card_id": card_id(blocked), "order_id": "O-2", "order_total": "100.00"}
    assert_problem(api.post("/accruals", body), 409, "card_blocked")
    assert_problem(api.post("/accruals", {**body, "order_total": "0"}), 409, "card_blocked")
    assert_problem(api.get("/orders/O-2"), 404, "unknown_order")  # the refusal left nothing behind


def test_an_order_accrues_once(api, funded, make_card, card_id):
    _, card = funded
    paid_order(api, card, spend=None)
    again = api.post("/accruals", {"card_id": card, "order_id": "O-1", "order_total": "1000.00"})
    assert_problem(again, 409, "order_already_accrued")
    other = card_id(make_card())
    assert_problem(
        api.post("/accruals", {"card_id": other, "order_id": "O-1", "order_total": "5.00"}),
        409,
        "order_card_mismatch",
    )
    assert_problem(
        api.post("/holds", hold_body(card, order="O-1", points="1.00")), 409, "order_already_accrued"
    )
    assert_problem(
        api.post("/accruals", {"card_id": card_id(999), "order_id": "O-9", "order_total": "5.00"}),
        404,
        "unknown_card",
    )


def test_accrual_replay_and_conflict(api, funded):
    _, card = funded
    body = {"card_id": card, "order_id": "O-1", "order_total": "100.00"}
    first = api.post("/accruals", body, key="acc")
    again = api.post("/accruals", body, key="acc")
    assert again.status_code == 201 and again.json() == {**first.json(), "replayed": True}
    assert balance(api, card)["available"] == "201.00"
    assert_problem(
        api.post("/accruals", {**body, "order_total": "100.01"}, key="acc"), 409, "idempotency_conflict"
    )


def test_a_partial_refund_reverses_that_share_of_earned_and_spent_points(api, funded):
    _, card = funded  # 200.00
    paid_order(api, card, total="1000.00", spend="100.00")  # spent 100, earned 9.00 -> 109.00
    assert balance(api, card)["available"] == "109.00"
    refund = api.post("/refunds", {"order_id": "O-1", "amount": "250.00"})  # a quarter
    assert refund.status_code == 201, refund.text
    assert refund.json() == {
        "order_id": "O-1",
        "amount": "250.00",
        "refunded_total": "250.00",
        "order_total": "1000.00",
        "points_reversed": "2.25",
        "points_returned": "25.00",
        "replayed": False,
    }
    assert balance(api, card)["available"] == "131.75"  # 109 + 25 - 2.25


def test_refunds_in_parts_add_up_and_a_full_refund_restores_the_balance(api, funded):
    _, card = funded
    paid_order(api, card, total="100.00", spend="33.33")  # earned 0.66
    assert balance(api, card)["available"] == "167.33"
    returned, reversed_ = [], []
    for amount in ("33.33", "33.33", "33.34"):
        body = api.post("/refunds", {"order_id": "O-1", "amount": amount}).json()
        returned.append(body["points_returned"])
        reversed_.append(body["points_reversed"])
    assert returned == ["11.11", "11.11", "11.11"] and reversed_ == ["0.22", "0.22", "0.22"]
    assert balance(api, card)["available"] == "200.00"  # where it was before the order
    assert api.get("/orders/O-1").json()["refunded_total"] == "100.00"
    assert_problem(api.post("/refunds", {"order_id": "O-1", "amount": "0.01"}), 422, "refund_exceeds_order")


def test_a_full_refund_at_once_restores_the_balance(api, funded):
    _, card = funded
    paid_order(api, card, total="777.77", spend="123.45")
    body = api.post("/refunds", {"order_id": "O-1", "amount": "777.77"}).json()
    assert (body["points_returned"], body["points_reversed"]) == ("123.45", "6.54")
    assert balance(api, card)["available"] == "200.00"


def test_refund_refusals(api, funded, make_api):
    _, card = funded
    assert_problem(api.post("/refunds", {"order_id": "nope", "amount": "1.00"}), 404, "unknown_order")
    api.post("/holds", hold_body(card, order="O-2", points="10.00"))
    assert_problem(api.post("/refunds", {"order_id": "O-2", "amount": "1.00"}), 409, "order_not_accrued")
    paid_order(api, card, total="100.00", spend=None)
    assert_problem(api.post("/refunds", {"order_id": "O-1", "amount": "100.01"}), 422, "refund_exceeds_order")
    assert_problem(make_api().post("/refunds", {"order_id": "O-1", "amount": "1.00"}), 404, "unknown_order")
    for bad in ({"order_id": "O-1", "amount": 1}, {"order_id": "O-1", "amount": "-1"}, {"order_id": "O-1"}):
        assert_problem(api.post("/refunds", bad), 422, "validation_error")


def test_a_refund_cannot_take_back_points_already_spent(api, make_card, card_id, db):
    card = make_card()
    paid_order(api, card_id(card), total="5000.00", spend=None)  # earns 50.00
    hold_id = api.post("/holds", hold_body(card_id(card), order="O-2", points="50.00", total="5000")).json()[
        "hold_id"
    ]
    api.post(f"/holds/{hold_id}/capture")
    assert_problem(
        api.post("/refunds", {"order_id": "O-1", "amount": "5000.00"}), 409, "insufficient_balance"
    )
    assert api.get("/orders/O-1").json()["refunded_total"] == "0.00"  # nothing written


def test_refund_on_a_blocked_card_is_refused(api, funded, db):
    row, card = funded
    paid_order(api, card, total="100.00", spend="10.00")
    set_status(db, row, CardStatus.BLOCKED)
    assert_problem(api.post("/refunds", {"order_id": "O-1", "amount": "50.00"}), 409, "card_blocked")


def test_refund_replay_and_conflict(api, funded):
    _, card = funded
    paid_order(api, card, total="100.00", spend="10.00")
    first = api.post("/refunds", {"order_id": "O-1", "amount": "50.00"}, key="r")
    again = api.post("/refunds", {"order_id": "O-1", "amount": "50.00"}, key="r")
    assert (
        again.json() == {**first.json(), "replayed": True} and again.headers["idempotent-replayed"] == "true"
    )
    assert api.get("/orders/O-1").json()["refunded_total"] == "50.00"
    assert_problem(
        api.post("/refunds", {"order_id": "O-1", "amount": "40.00"}, key="r"), 409, "idempotency_conflict"
    )
