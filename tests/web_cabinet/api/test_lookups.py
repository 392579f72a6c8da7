"""Finding cards and customers, balances and quotes: the read side, with its refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from bonusbridge.models import Card, CardStatus, Customer
from tests.web_cabinet.api.test_auth import assert_problem


def test_a_card_is_found_however_its_number_is_typed(api, make_card, card_id):
    card = make_card(number="AB200012345678")
    make_card(number="2000-99999999")
    for typed in ("AB200012345678", "ab 2000 1234 5678", "АВ-2000-1234-5678", "ав2000 12345678"):
        response = api.read("/cards/search", {"number": typed})
        assert response.status_code == 200, response.text
        assert [found["card_id"] for found in response.json()["cards"]] == [card_id(card)], typed
    found = response.json()["cards"][0]
    assert found == {
        "card_id": card_id(card),
        "number_masked": "••••••••••5678",
        "program": "dobrostroy",
        "status": "active",
        "can_spend": True,
        "is_primary": False,
    }
    # Stored with dashes, typed without: still the card.
    assert len(api.read("/cards/search", {"number": "2000 9999 9999"}).json()["cards"]) == 1


def test_a_card_number_shared_by_two_programs_lists_both_and_none_lists_none(api, make_card):
    make_card(number="555", program="dobrostroy")
    make_card(number="555", program="stroymir")
    assert [c["program"] for c in api.read("/cards/search", {"number": "555"}).json()["cards"]] == [
        "dobrostroy",
        "stroymir",
    ]
    assert api.read("/cards/search", {"number": "556"}).json() == {"cards": []}


def test_a_card_number_with_other_characters_is_refused(api):
    assert_problem(api.read("/cards/search", {"number": "12#34"}), 422, "invalid_card_number")
    assert_problem(api.read("/cards/search", {"number": " - "}), 422, "invalid_card_number")


def test_a_customer_is_found_by_phone_in_any_notation(api, db, make_card, card_id, clock):
    bound = make_card(number="1001")
    loose = make_card(number="1002", program="stroymir")
    make_card(number="1003")
    with Session(db) as session:
        customer = Customer(phone_e164="+79161234567", phone_verified_at=clock.now, last_name="Иванова")
        session.add(customer)
        session.flush()
        session.get(Card, bound).customer_id = customer.id  # type: ignore[union-attr]
        session.get(Card, bound).is_primary = True  # type: ignore[union-attr]
        session.get(Card, loose).phone_e164 = "+79161234567"  # type: ignore[union-attr]
        session.commit()
    for typed in ("+7 (916) 123-45-67", "8 916 123 45 67", "9161234567"):
        response = api.read("/customers/search", {"phone": typed})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["customers"]) == 1
        found = body["customers"][0]
        assert found["customer_id"].startswith("cus_") and found["phone_verified"] is True
        assert found["profile_complete"] is False  # first name and birth date missing
        assert [c["card_id"] for c in found["cards"]] == [card_id(bound)] and found["cards"][0]["is_primary"]
        assert [c["card_id"] for c in body["unbound_cards"]] == [card_id(loose)]
        assert "+7916" not in response.text and "1234567" not in response.text
    assert api.read("/customers/search", {"phone": "+79261112233"}).json() == {
        "customers": [],
        "unbound_cards": [],
    }


def test_an_invalid_phone_is_refused(api):
    body = assert_problem(api.read("/customers/search", {"phone": "not a phone"}), 422, "invalid_phone")
    assert "not a phone" not in str(body)


def test_balance_shows_available_pending_held_and_expiring_soon(api, make_card, card_id, fund, clock):
    card = make_card()
    fund(card, "100.00", expires_at=clock.now + timedelta(days=10))
    fund(card, "50.50", available_from=clock.now + timedelta(days=14))
    fund(card, "20.00")
    hold = api.post(
        "/holds", {"card_id": card_id(card), "order_id": "B-1", "points": "30.00", "order_total": "500"}
    )
    assert hold.status_code == 201, hold.text
    response = api.get(f"/cards/{card_id(card)}/balance")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("available", "pending", "held", "expiring_soon")} == {
        "available": "90.00",
        "pending": "50.50",
        "held": "30.00",
        "expiring_soon": "70.00",  # the 100 expiring in 10 days, less the 30 held from them
    }
    assert body["status"] == "active" and body["can_spend"] is True
    assert body["next_expiry"].startswith("2026-01-25")


def test_balance_of_an_unknown_forged_or_wrong_kind_id_is_404(api, make_card, card_id, settings):
    from web_cabinet.api import ids

    secret = settings.api_id_secret.get_secret_value().encode()
    assert_problem(api.get(f"/cards/{card_id(999)}/balance"), 404, "unknown_card")
    real = card_id(make_card())
    forged = real[:-2] + ("AA" if not real.endswith("AA") else "BB")
    assert_problem(api.get(f"/cards/{forged}/balance"), 404, "unknown_card")
    other_secret = ids.encode("card", 1, b"another secret")
    assert_problem(api.get(f"/cards/{other_secret}/balance"), 404, "unknown_card")
    hold_kind = "crd_" + ids.encode("hold", 1, secret)[4:]
    assert_problem(api.get(f"/cards/{hold_kind}/balance"), 404, "unknown_card")
    assert_problem(api.get("/cards/12/balance"), 422, "validation_error")


def test_quote_earns_at_the_simple_rate_and_spends_at_most_the_share(api, make_card, card_id, fund):
    card = make_card()
    fund(card, "1000.00")
    lines = [
        {"sku": "cement-50", "quantity": "3", "price": "450.00", "discount": "50.00"},
        {"sku": "nails", "quantity": "1.25", "price": "199.99"},
    ]
    response = api.read("/quotes", {"card_id": card_id(card), "lines": lines})
    assert response.status_code == 200, response.text
    # 3*450-50 = 1300.00; 1.25*199.99 = 249.9875 -> 249.99; total 1549.99
    # (the default program version is the settings' rate: the engine's lines add to these figures)
    assert response.json()["lines"][0]["points"] == "13.00" and response.json()["program_version"] is None
    assert (
        response.json().items()
        >= {
            "card_id": card_id(card),
            "order_total": "1549.99",
            "points_earned": "15.49",  # 0.01 per unit, rounded down
            "points_earned_value": "15.49",
            "max_spend_points": "774.99",  # half the order, rounded down; the balance (1000) is more
            "max_spend_value": "774.99",
            "available": "1000.00",
            "spend_refused": None,
        }.items()
    )
    small = api.read(
        "/quotes", {"card_id": card_id(card), "lines": [{"sku": "x", "quantity": "1", "price": "5000"}]}
    )
    assert small.json()["max_spend_points"] == "1000.00"  # bounded by the balance now


def test_quote_allows_no_spending_on_accumulation_only_or_blocked_cards(api, make_card, card_id, fund):
    for status in (CardStatus.ACCUMULATION_ONLY, CardStatus.BLOCKED):
        card = make_card(status=CardStatus.ACTIVE)
        fund(card, "100.00")
        with Session(api.http.app.state.hub.engine) as session:  # type: ignore[attr-defined]
            session.get(Card, card).status = status  # type: ignore[union-attr]
            session.commit()
        body = api.read(
            "/quotes", {"card_id": card_id(card), "lines": [{"sku": "x", "quantity": "1", "price": "100"}]}
        )
        assert body.json()["max_spend_points"] == "0.00" and body.json()["max_spend_value"] == "0.00"
        assert body.json()["spend_refused"] == status.value
        assert body.json()["points_earned"] == "1.00"


def test_quote_refusals(api, make_card, card_id):
    card = card_id(make_card())
    line = {"sku": "x", "quantity": "1", "price": "10.00"}
    assert_problem(
        api.read("/quotes", {"card_id": card, "lines": [{**line, "discount": "10.01"}]}),
        422,
        "invalid_basket",
    )
    assert_problem(api.read("/quotes", {"card_id": card_id(999), "lines": [line]}), 404, "unknown_card")
    for bad in (
        {**line, "price": 10.0},
        {**line, "price": "10.001"},
        {**line, "quantity": "0"},
        {**line, "x": 1},
    ):
        body = assert_problem(api.read("/quotes", {"card_id": card, "lines": [bad]}), 422, "validation_error")
        assert body["errors"] and all(e["location"].startswith("body.lines.0") for e in body["errors"])
    assert_problem(api.read("/quotes", {"card_id": card, "lines": []}), 422, "validation_error")


def test_quote_follows_the_configured_rate_point_value_and_share(api, hub, make_card, fund, card_id):
    from decimal import Decimal

    hub.settings = hub.settings.model_copy(
        update={
            "api_points_per_currency_unit": Decimal("0.05"),
            "api_point_value": Decimal("0.50"),
            "api_max_spend_share": Decimal("0.3"),
        }
    )
    card = make_card()
    fund(card, "1000.00")
    body = api.read(
        "/quotes", {"card_id": card_id(card), "lines": [{"sku": "x", "quantity": "1", "price": "999.99"}]}
    )
    assert (
        body.json().items()
        >= {
            "card_id": card_id(card),
            "order_total": "999.99",
            "points_earned": "49.99",  # 5% of the total, rounded down
            "points_earned_value": "25.00",  # 49.99 * 0.50, rounded half up
            "max_spend_points": "599.99",  # 30% of 999.99 = 299.997 currency / 0.50 per point, rounded down
            "max_spend_value": "300.00",
            "available": "1000.00",
            "spend_refused": None,
        }.items()
    )


def test_a_read_that_meets_a_dead_connection_is_run_again_on_a_fresh_one(api, make_card, card_id, fund, hub):
    """The read engine has no pre-ping: after the database dropped its connections (a restart), a
    quote still answers — the read is repeated once on a new connection, and nothing shows."""
    if hub.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads use the one engine, with no server to drop connections")
    card = make_card()
    fund(card, "100.00")
    body = {"card_id": card_id(card), "lines": [{"sku": "x", "quantity": "1", "price": "100.00"}]}
    first = api.read("/quotes", body)
    assert first.status_code == 200, first.text
    with hub.read_engine.connect() as conn:
        mine = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with hub.engine.connect() as conn:
        dropped = conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid = %(pid)s",
            {"pid": mine},
        ).scalar()
    assert dropped == 1
    again = api.read("/quotes", body)
    assert again.status_code == 200, again.text
    assert again.json()["points_earned"] == first.json()["points_earned"]
