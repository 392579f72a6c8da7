"""Checkout: hold, capture, void — and every way they are refused, and idempotency by key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bonusbridge.models import Card, CardStatus, Hold
from tests.web_cabinet.api.test_auth import assert_problem


@pytest.fixture
def funded(make_card, fund, card_id):
    card = make_card()
    fund(card, "100.00")
    return card, card_id(card)


def hold_body(card: str, points: str = "30.00", order: str = "A-1", total: str = "100.00") -> dict[str, str]:
    return {"card_id": card, "order_id": order, "points": points, "order_total": total}


def balance(api, card: str) -> dict[str, str]:
    return api.get(f"/cards/{card}/balance").json()  # type: ignore[no-any-return]


def set_status(db, card: int, status: CardStatus) -> None:
    with Session(db) as session:
        session.get(Card, card).status = status  # type: ignore[union-attr]
        session.commit()


def test_hold_then_capture_part_spends_that_part_and_releases_the_rest(api, funded):
    _, card = funded
    hold = api.post("/holds", hold_body(card), key="h1")
    assert hold.status_code == 201, hold.text
    body = hold.json()
    assert body["hold_id"].startswith("hld_") and body["status"] == "pending"
    assert (body["points"], body["captured"], body["order_id"], body["replayed"]) == (
        "30.00",
        "0.00",
        "A-1",
        False,
    )
    assert hold.headers["idempotent-replayed"] == "false"
    assert (balance(api, card)["available"], balance(api, card)["held"]) == ("70.00", "30.00")
    assert api.get(f"/holds/{body['hold_id']}").json()["status"] == "pending"

    captured = api.post(f"/holds/{body['hold_id']}/capture", {"points": "20.00"}, key="c1")
    assert captured.status_code == 200, captured.text
    assert (captured.json()["status"], captured.json()["captured"]) == ("captured", "20.00")
    assert (balance(api, card)["available"], balance(api, card)["held"]) == ("80.00", "0.00")


def test_capture_without_body_spends_the_whole_hold(api, funded):
    _, card = funded
    hold_id = api.post("/holds", hold_body(card)).json()["hold_id"]
    assert api.post(f"/holds/{hold_id}/capture").json()["captured"] == "30.00"
    assert balance(api, card)["available"] == "70.00"


def test_void_gives_the_points_back(api, funded):
    _, card = funded
    hold_id = api.post("/holds", hold_body(card)).json()["hold_id"]
    voided = api.post(f"/holds/{hold_id}/void")
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    assert (balance(api, card)["available"], balance(api, card)["held"]) == ("100.00", "0.00")
    assert_problem(api.post(f"/holds/{hold_id}/void"), 409, "hold_not_pending")


def test_void_is_allowed_on_a_blocked_card_and_capture_is_not(api, funded, db):
    row, card = funded
    first = api.post("/holds", hold_body(card, order="A-1")).json()["hold_id"]
    second = api.post("/holds", hold_body(card, order="A-2")).json()["hold_id"]
    set_status(db, row, CardStatus.BLOCKED)
    assert_problem(api.post(f"/holds/{first}/capture"), 409, "card_blocked")
    assert api.post(f"/holds/{second}/void").json()["status"] == "voided"


def test_hold_refusals(api, funded, make_card, fund, card_id, db):
    _, card = funded
    assert_problem(
        api.post("/holds", hold_body(card, points="100.01", total="1000")), 409, "insufficient_balance"
    )
    assert_problem(api.post("/holds", hold_body(card, points="50.01")), 422, "spend_limit_exceeded")
    assert_problem(api.post("/holds", hold_body(card_id(999))), 404, "unknown_card")
    for status, code in (
        (CardStatus.ACCUMULATION_ONLY, "accumulation_only"),
        (CardStatus.BLOCKED, "card_blocked"),
    ):
        other = make_card()
        fund(other, "100.00")
        set_status(db, other, status)
        assert_problem(api.post("/holds", hold_body(card_id(other), order=f"X-{code}")), 409, code)
    # the order A-1 is bound to the first card it was used with
    assert api.post("/holds", hold_body(card, points="1.00")).status_code == 201
    other = make_card()
    fund(other, "10.00")
    assert_problem(api.post("/holds", hold_body(card_id(other), points="1.00")), 409, "order_card_mismatch")
    with Session(db) as session:  # refusals wrote nothing
        assert session.scalar(select(func.count()).select_from(Hold)) == 1
    assert balance(api, card)["available"] == "99.00"


def test_the_spend_share_counts_the_orders_other_holds(api, funded):
    _, card = funded
    first = api.post("/holds", hold_body(card, points="30.00")).json()["hold_id"]
    api.post(f"/holds/{first}/capture", {"points": "25.00"})
    api.post("/holds", hold_body(card, points="20.00"))
    body = assert_problem(api.post("/holds", hold_body(card, points="5.01")), 422, "spend_limit_exceeded")
    assert "5.00" in str(body["detail"])
    assert api.post("/holds", hold_body(card, points="5.00")).status_code == 201  # 25 + 20 + 5 = half of 100


def test_capture_refusals(api, funded, clock, hub):
    _, card = funded
    hold_id = api.post("/holds", hold_body(card)).json()["hold_id"]
    assert_problem(api.post(f"/holds/{hold_id}/capture", {"points": "30.01"}), 422, "capture_exceeds_hold")
    assert_problem(api.post("/holds/hld_" + "A" * 24 + "/capture"), 404, "unknown_hold")
    assert api.post(f"/holds/{hold_id}/capture", {"points": "10.00"}).status_code == 200
    assert_problem(api.post(f"/holds/{hold_id}/capture", {"points": "10.00"}), 409, "hold_not_pending")

    late = api.post("/holds", hold_body(card, order="A-2")).json()["hold_id"]
    clock.advance(timedelta(minutes=16))
    assert_problem(api.post(f"/holds/{late}/capture"), 409, "hold_expired")
    hub.ledger.release_expired_holds()  # the sweeper (every minute) gives the points back
    assert (balance(api, card)["available"], balance(api, card)["held"]) == ("90.00", "0.00")
    assert api.get(f"/holds/{late}").json()["status"] == "expired"
    assert_problem(api.post(f"/holds/{late}/void"), 409, "hold_not_pending")


def test_another_clients_hold_does_not_exist_for_this_client(api, make_api, funded):
    _, card = funded
    hold_id = api.post("/holds", hold_body(card)).json()["hold_id"]
    other = make_api()
    assert_problem(other.get(f"/holds/{hold_id}"), 404, "unknown_hold")
    assert_problem(other.post(f"/holds/{hold_id}/capture"), 404, "unknown_hold")
    assert_problem(other.post(f"/holds/{hold_id}/void"), 404, "unknown_hold")
    assert api.get(f"/holds/{hold_id}").json()["status"] == "pending"
    # the same order number at another shop is another order
    assert other.post("/holds", hold_body(card, points="10.00")).status_code == 201


def test_a_retried_write_answers_the_same_and_writes_once(api, funded, db):
    _, card = funded
    first = api.post("/holds", hold_body(card), key="same")
    again = api.post("/holds", hold_body(card), key="same")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and again.json()["replayed"] is True
    assert {**again.json(), "replayed": False} == first.json()
    assert balance(api, card)["held"] == "30.00"
    hold_id = first.json()["hold_id"]
    c1 = api.post(f"/holds/{hold_id}/capture", {"points": "5.00"}, key="cap")
    c2 = api.post(f"/holds/{hold_id}/capture", {"points": "5.00"}, key="cap")
    assert c2.json() == {**c1.json(), "replayed": True} and balance(api, card)["available"] == "95.00"


def test_a_key_reused_for_another_request_is_a_conflict(api, funded):
    _, card = funded
    assert api.post("/holds", hold_body(card), key="k").status_code == 201
    body = assert_problem(
        api.post("/holds", hold_body(card, points="31.00"), key="k"), 409, "idempotency_conflict"
    )
    assert "hold" in str(body["detail"])
    hold_id = api.post("/holds", hold_body(card, order="A-2"), key="k2").json()["hold_id"]
    assert_problem(api.post(f"/holds/{hold_id}/void", key="k"), 409, "idempotency_conflict")
    assert balance(api, card)["held"] == "60.00"


def test_keys_are_per_client(api, make_api, funded):
    _, card = funded
    other = make_api()
    assert api.post("/holds", hold_body(card, points="10.00"), key="shared").status_code == 201
    response = other.post("/holds", hold_body(card, points="10.00"), key="shared")
    assert response.status_code == 201 and response.json()["replayed"] is False
    assert balance(api, card)["held"] == "20.00"


def test_a_refused_write_can_be_retried_with_its_key(api, make_card, fund, card_id):
    card = make_card()
    assert_problem(api.post("/holds", hold_body(card_id(card)), key="retry"), 409, "insufficient_balance")
    fund(card, "100.00")
    assert api.post("/holds", hold_body(card_id(card)), key="retry").status_code == 201


def test_writes_need_an_idempotency_key(api, funded):
    _, card = funded
    for headers in ({}, {"Idempotency-Key": ""}, {"Idempotency-Key": "x" * 121}, {"Idempotency-Key": "a b"}):
        response = api.http.post("/api/v1/holds", json=hold_body(card), headers={**api.headers(), **headers})
        body = assert_problem(response, 422, "validation_error")
        assert any("Idempotency-Key" in e["location"] for e in body["errors"])
