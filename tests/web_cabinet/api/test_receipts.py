"""The points engine through the API: quotes with a stored program version, receipts accrued once
with their dates, returns of lines, the tills' quote, and accrual-then-full-return as a property."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bonusbridge.points import store
from tests.web_cabinet.api.test_auth import assert_problem
from tests.web_cabinet.api.test_checkout import balance, hold_body

LINES = [
    {"sku": "drill", "quantity": "1", "price": "42.00", "discount": "7.00", "category": "tools"},
    {"sku": "paint", "quantity": "2", "price": "10.00", "category": "paint", "brand": "Tikkurila"},
    {"sku": "cigs", "quantity": "1", "price": "12.00", "category": "tobacco"},
]


@pytest.fixture
def program(hub, db, clock):
    """Seed 003's kind of program, effective now; the API re-reads it on every call."""
    hub.settings = hub.settings.model_copy(update={"points_cache_seconds": 0})
    with db.begin() as conn:
        store.add_version(
            conn,
            hub.settings,
            {
                "effective_from": clock.now.isoformat(),
                "earn_rate": "1",
                "point_value": "0.10",
                "spend_threshold": "200",
                "exclude_discounted": True,
                "excluded_categories": ["tobacco"],
                "validity_months": 12,
                "pending_days": 14,
            },
            now=clock.now,
            actor="test",
        )
        store.add_campaign(
            conn,
            hub.settings,
            {
                "code": "paint-x3",
                "multiplier": "3",
                "categories": ["paint"],
                "starts_at": clock.now.isoformat(),
                "ends_at": (clock.now + timedelta(days=30)).isoformat(),
            },
            now=clock.now,
            actor="test",
        )


def test_the_quote_explains_each_line_and_applies_the_stored_version(api, program, make_card, fund, card_id):
    card = make_card()
    fund(card, "300.00")
    body = api.read("/quotes", {"card_id": card_id(card), "lines": LINES}).json()
    assert [line["points"] for line in body["lines"]] == ["0.00", "60.00", "0.00"]
    assert body["lines"][0]["rules"] == ["discounted items earn nothing"]
    assert body["lines"][1]["multiplier"] == "3" and "campaign paint-x3 x3" in body["lines"][1]["rules"]
    assert body["lines"][2]["rules"] == ["category tobacco earns nothing"]
    assert body["points_earned"] == "60.00" and body["order_total"] == "67.00"
    assert body["max_spend_points"] == "300.00" and body["max_spend_value"] == "30.00"
    assert body["rule"] == "10 points = 1.00 RUB" and body["program_version"] == 1
    low = make_card()
    fund(low, "199.00")
    assert (
        api.read("/quotes", {"card_id": card_id(low), "lines": LINES}).json()["spend_refused"]
        == "below_threshold"
    )


def test_quote_refusals_of_the_engine(api, program, make_card, card_id, clock):
    card = card_id(make_card())
    assert_problem(
        api.read("/quotes", {"card_id": card, "lines": LINES, "currency": "EUR"}), 422, "unknown_currency"
    )
    early = (clock.now - timedelta(days=1)).isoformat()
    assert_problem(
        api.read("/quotes", {"card_id": card, "lines": LINES, "at": early}), 422, "before_program_start"
    )
    negative = {"sku": "x", "quantity": "-1", "price": "1.00"}
    assert_problem(api.read("/quotes", {"card_id": card, "lines": [negative]}), 422, "validation_error")
    for far in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):  # found by schemathesis: a 500
        assert_problem(
            api.read("/quotes", {"card_id": card, "lines": LINES, "at": far}), 422, "validation_error"
        )
    negative = {"sku": "x", "quantity": "1", "price": "-1.00"}
    assert_problem(api.read("/quotes", {"card_id": card, "lines": [negative]}), 422, "validation_error")


def test_a_receipt_accrues_once_with_its_pending_period_and_expiry(api, program, make_card, card_id, clock):
    card = card_id(make_card())
    receipt = {"card_id": card, "receipt_id": "R-1", "lines": LINES}
    first = api.post("/receipts", receipt, key="r1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["points_accrued"] == "60.00" and body["program_version"] == 1
    assert body["available_from"].startswith("2026-01-29") and body["expires_at"].startswith("2027-01-15")
    assert balance(api, card)["pending"] == "60.00" and balance(api, card)["available"] == "0.00"
    assert body["balance"] == "60.00" and body["print_lines"] == [
        "Начислено баллов: 60,00",
        "Начисленные баллы действуют до 15.01.2027",
        "Баллы станут доступны 29.01.2026",
        "Баланс баллов: 60,00",
        "200 баллов = 20,00 RUB скидки",
    ]
    replay = api.post("/receipts", receipt, key="r1")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == {**body, "replayed": True}
    assert_problem(api.post("/receipts", receipt, key="r2"), 409, "order_already_accrued")
    assert_problem(
        api.post("/receipts", {**receipt, "lines": LINES[:1]}, key="r1"), 409, "idempotency_conflict"
    )
    future = {**receipt, "receipt_id": "R-2", "at": (clock.now + timedelta(hours=1)).isoformat()}
    assert_problem(api.post("/receipts", future), 422, "invalid_dates")
    assert balance(api, card)["pending"] == "60.00"


def test_returning_lines_takes_back_their_points_and_gives_back_spent_ones(
    api, program, make_card, fund, card_id
):
    row = make_card()
    fund(row, "300.00")
    card = card_id(row)
    hold = api.post("/holds", hold_body(card, points="200.00", order="R-1", total="67.00")).json()
    assert api.post(f"/holds/{hold['hold_id']}/capture").status_code == 200
    applied = api.post("/receipts", {"card_id": card, "receipt_id": "R-1", "lines": LINES}).json()
    # 20 RUB of 67 paid with points: the paint's base is 20 * 47/67, tripled
    assert applied["points_spent"] == "200.00" and applied["points_accrued"] == "42.08"
    one_paint = api.post("/receipts/R-1/returns", {"lines": [{"line": 1, "quantity": "1"}]}).json()
    assert one_paint["amount"] == "10.00" and one_paint["points_reversed"] == "21.04"
    assert one_paint["points_returned"] == "29.85"  # 200 * 10/67, rounded half up
    assert_problem(
        api.post("/receipts/R-1/returns", {"lines": [{"line": 1, "quantity": "2"}]}), 422, "invalid_return"
    )
    assert_problem(
        api.post("/receipts/R-1/returns", {"lines": [{"line": 7, "quantity": "1"}]}), 422, "invalid_return"
    )
    assert_problem(
        api.post("/receipts/NOPE/returns", {"lines": [{"line": 0, "quantity": "1"}]}), 404, "unknown_order"
    )
    rest = api.post(
        "/receipts/R-1/returns",
        {"lines": [{"line": 0, "quantity": "1"}, {"line": 1, "quantity": "1"}, {"line": 2, "quantity": "1"}]},
    ).json()
    assert rest["refunded_total"] == rest["order_total"] == "67.00"
    assert Decimal(rest["points_reversed"]) + Decimal("21.04") == Decimal("42.08")
    assert Decimal(rest["points_returned"]) + Decimal("29.85") == Decimal("200.00")
    after = balance(api, card)
    assert after["available"] == "300.00" and after["pending"] == "0.00"


def test_the_tills_quote_finds_the_card_by_number_and_computes_alike(
    make_api, program, make_card, fund, card_id
):
    row = make_card(number="2000-0000-0042")
    fund(row, "250.00")
    till, shop = make_api("till"), make_api("quote")
    at_till = till.read("/onec/quote", {"card_number": "2000 0000 0042", "lines": LINES})
    assert at_till.status_code == 200, at_till.text
    on_site = shop.read("/quotes", {"card_id": card_id(row), "lines": LINES})
    assert at_till.json() == on_site.json()
    assert_problem(till.read("/onec/quote", {"card_number": "9999", "lines": LINES}), 404, "unknown_card")
    assert_problem(
        till.read("/onec/quote", {"card_number": "%%", "lines": LINES}), 422, "invalid_card_number"
    )


receipt_ids = count(1)
lines_strategy = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=5),
        st.integers(min_value=0, max_value=100_000),
        st.sampled_from(["tools", "paint", "tobacco"]),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=lines_strategy, spend=st.integers(min_value=0, max_value=200), data=st.data())
def test_accrual_then_full_return_leaves_the_balance_where_it_was(
    api, program, make_card, fund, card_id, clock, lines, spend, data
):
    row = make_card()
    fund(row, "500.00")
    card = card_id(row)
    clock.advance(timedelta(days=15))  # earlier receipts' pending points become spendable: start clean
    before = balance(api, card)
    receipt_id = f"P-{next(receipt_ids)}"
    basket = [
        {"sku": f"s{i}", "quantity": str(q), "price": f"{cents / 100:.2f}", "category": category}
        for i, (q, cents, category) in enumerate(lines)
    ]
    total = sum(q * cents for q, cents, _ in lines) / 100
    points = min(Decimal(spend), Decimal(str(total)) * 10).quantize(Decimal("0.01"))
    if points > 0:
        hold = api.post(
            "/holds", hold_body(card, points=f"{points:.2f}", order=receipt_id, total=f"{total:.2f}")
        )
        assert hold.status_code == 201, hold.text
        assert api.post(f"/holds/{hold.json()['hold_id']}/capture").status_code == 200
    applied = api.post("/receipts", {"card_id": card, "receipt_id": receipt_id, "lines": basket})
    assert applied.status_code == 201, applied.text
    order = data.draw(st.permutations(range(len(lines))))
    for index in order:
        returned = api.post(
            f"/receipts/{receipt_id}/returns", {"lines": [{"line": index, "quantity": str(lines[index][0])}]}
        )
        assert returned.status_code == 201, returned.text
    after = balance(api, card)
    assert (after["available"], after["pending"], after["held"]) == (
        before["available"],
        before["pending"],
        before["held"],
    )


def test_a_receipt_moves_the_card_up_a_tier_and_a_return_moves_it_back(
    api, hub, db, clock, make_card, card_id
):
    hub.settings = hub.settings.model_copy(update={"points_cache_seconds": 0})
    tiers = [{"name": "silver", "min_spend": "100", "earn_rate": "2"}]
    with db.begin() as conn:
        store.add_version(
            conn,
            hub.settings,
            {"effective_from": clock.now.isoformat(), "earn_rate": "1", "tiers": tiers},
            now=clock.now,
            actor="test",
        )
    card = card_id(make_card())
    line = [{"sku": "x", "quantity": "1", "price": "100.00"}]
    assert api.read("/quotes", {"card_id": card, "lines": line}).json()["points_earned"] == "100.00"
    assert api.post("/receipts", {"card_id": card, "receipt_id": "T-1", "lines": line}).status_code == 201
    silver = api.read("/quotes", {"card_id": card, "lines": line}).json()
    assert (
        silver["points_earned"] == "200.00" and "tier silver: 2 points per RUB" in silver["lines"][0]["rules"]
    )
    assert api.post("/receipts/T-1/returns", {"lines": [{"line": 0, "quantity": "1"}]}).status_code == 201
    assert api.read("/quotes", {"card_id": card, "lines": line}).json()["points_earned"] == "100.00"
