"""No 500 from any input, and expired holds read as expired (issue 15, items 5 and 6), through
``/api/v1``: times without an offset, amounts and balances at the numeric limit, lax booleans,
signed ids beyond the tables' range, and a hold read after its time to live."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bonusbridge.ledger.intents import MAX_BALANCE
from bonusbridge.ledger.statements import holds
from bonusbridge.models import HoldStatus
from tests.web_cabinet.api.test_auth import assert_problem
from web_cabinet.api import ids

LINE = {"sku": "00-1", "quantity": "1", "price": "1000.00"}
NAIVE = "2026-01-10T10:00:00"


@pytest.fixture
def funded(make_card, fund, card_id):
    card = make_card(number="2000-7700-0001")
    fund(card, "100.00")
    return card, card_id(card)


def field_errors(response) -> dict[str, str]:
    body = assert_problem(response, 422, "validation_error")
    return {error["location"]: error["message"] for error in body["errors"]}


# --------------------------------------------------------------------------- times without an offset


@pytest.mark.parametrize("at", [NAIVE, "2026-01-10T10:00", "2026-01-10"])
def test_a_time_without_an_offset_is_a_422_naming_the_field_on_every_endpoint(api, funded, at):
    _, card = funded
    answers = [
        api.read("/quotes", {"card_id": card, "lines": [LINE], "at": at}),
        api.read("/onec/quote", {"card_number": "2000-7700-0001", "lines": [LINE], "at": at}),
        api.post("/receipts", {"card_id": card, "receipt_id": "R-1", "lines": [LINE], "at": at}),
    ]
    for answer in answers:
        found = field_errors(answer)
        assert list(found) == ["body.at"], answer.text
        assert "time-zone offset" in found["body.at"]
    with_offset = api.read("/quotes", {"card_id": card, "lines": [LINE], "at": "2026-01-10T10:00:00+03:00"})
    assert with_offset.status_code == 200, with_offset.text


def test_the_document_says_a_time_needs_its_offset(api):
    document = api.http.get("/api/v1/openapi.json").json()
    for name in ("QuoteIn", "TillQuoteIn", "ReceiptIn"):
        description = document["components"]["schemas"][name]["properties"]["at"]["description"]
        assert "offset" in description and "refused" in description and "body.at" in description


# --------------------------------------------------------------------------- the most a card may hold


def test_an_accrual_above_the_most_a_card_may_hold_is_its_own_problem(api, make_card, fund, card_id):
    """The issue's case: a card at the maximum, then one more accrual — a 500 (numeric overflow)
    on PostgreSQL before; now a 422 ``balance_limit_exceeded`` that changes nothing."""
    row = make_card()
    card = card_id(row)
    fund(row, str(MAX_BALANCE))
    before = api.get(f"/cards/{card}/balance").json()
    refused = api.post("/accruals", {"card_id": card, "order_id": "O-2", "order_total": "1000.00"})
    body = assert_problem(refused, 422, "balance_limit_exceeded")
    assert "9999999999999.99" in body["detail"] and "card " + str(row) not in body["detail"]
    receipt = api.post("/receipts", {"card_id": card, "receipt_id": "R-2", "lines": [LINE]})
    assert_problem(receipt, 422, "balance_limit_exceeded")
    assert api.get(f"/cards/{card}/balance").json() == before


@pytest.mark.parametrize(
    ("path", "field", "value", "words"),
    [
        ("/accruals", "order_total", "10000000000000.00", "must be at most 9999999999999.99"),
        ("/accruals", "order_total", "99999999999999999999", "must be at most 9999999999999.99"),
        ("/accruals", "order_total", "1.001", "must have at most 2 decimals"),
        ("/accruals", "order_total", "-1.00", "must not be negative"),
        ("/accruals", "order_total", "1,50", 'such as "150.00"'),
        ("/accruals", "order_total", "1e3", 'such as "150.00"'),
        ("/accruals", "order_total", "007.50", 'must not start with a zero (write "7.50")'),
        ("/holds", "points", "0.00", "must be more than 0"),
        ("/holds", "points", "10000000000000", "must be at most 9999999999999.99"),
        ("/holds", "points", "1.999", "must have at most 2 decimals"),
    ],
)
def test_amount_messages_say_what_is_wrong_in_words(api, funded, path, field, value, words):
    _, card = funded
    body = {"card_id": card, "order_id": "O-1", "order_total": "100.00", "points": "1.00"}
    if path == "/accruals":
        del body["points"]
    body[field] = value
    found = field_errors(api.post(path, body))
    assert found == {f"body.{field}": found[f"body.{field}"]}
    assert words in found[f"body.{field}"]
    assert "^" not in found[f"body.{field}"] and "[0-9]" not in found[f"body.{field}"]
    assert not found[f"body.{field}"].startswith("Value error")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("quantity", "1.0001", "must have at most 3 decimals"),
        ("quantity", "0", "must be more than 0"),
        ("quantity", "1000000000", "must be at most 999999999.999"),
        ("price", "12.345", "must have at most 2 decimals"),
        ("vat_rate", "100", "must be at most 99.99"),
        ("discount", 5, "not a JSON number"),
    ],
)
def test_basket_messages_say_what_is_wrong_in_words(api, funded, field, value, words):
    _, card = funded
    found = field_errors(api.read("/quotes", {"card_id": card, "lines": [{**LINE, field: value}]}))
    assert words in found[f"body.lines.0.{field}"]


def test_small_quantities_with_trailing_zeros_are_quantities(api, funded):
    _, card = funded
    for quantity in ("0.10", "0.100", "0.010", "0.5"):
        answer = api.read("/quotes", {"card_id": card, "lines": [{**LINE, "quantity": quantity}]})
        assert answer.status_code == 200, (quantity, answer.text)


# --------------------------------------------------------------------------- strict booleans


@pytest.mark.parametrize("value", ["yes", 1, "true", 0, "false", "1", None])
def test_join_program_takes_a_json_boolean_only(api, funded, value):
    _, card = funded
    accrual = api.post(
        "/accruals", {"card_id": card, "order_id": "O-1", "order_total": "10.00", "join_program": value}
    )
    assert list(field_errors(accrual)) == ["body.join_program"]
    receipt = api.post(
        "/receipts", {"card_id": card, "receipt_id": "R-1", "lines": [LINE], "join_program": value}
    )
    assert list(field_errors(receipt)) == ["body.join_program"]
    accepted = api.post(
        "/accruals", {"card_id": card, "order_id": "O-1", "order_total": "10.00", "join_program": False}
    )
    assert accepted.status_code == 201, accepted.text


# --------------------------------------------------------------------------- ids beyond the tables


@pytest.mark.parametrize("row_id", [0, 2**31, 2**63 - 1, 2**63, 2**64 - 1])
def test_signed_ids_beyond_the_tables_name_nothing(api, settings, row_id):
    """A well-signed id whose row id no table can hold answers as an unknown id (404), never as
    the database's refusal of the number (500)."""
    secret = settings.api_id_secret.get_secret_value().encode()
    card, hold = ids.encode("card", row_id, secret), ids.encode("hold", row_id, secret)
    assert_problem(api.get(f"/cards/{card}/balance"), 404, "unknown_card")
    assert_problem(api.get(f"/holds/{hold}"), 404, "unknown_hold")
    assert_problem(api.post(f"/holds/{hold}/capture"), 404, "unknown_hold")
    assert_problem(api.post(f"/holds/{hold}/void"), 404, "unknown_hold")
    body = {"card_id": card, "order_id": "O-1", "order_total": "10.00"}
    assert_problem(api.post("/accruals", body), 404, "unknown_card")
    assert_problem(api.post("/holds", {**body, "points": "1.00"}), 404, "unknown_card")
    assert_problem(api.read("/quotes", {"card_id": card, "lines": [LINE]}), 404, "unknown_card")
    receipt = {"card_id": card, "receipt_id": "R-1", "lines": [LINE]}
    assert_problem(api.post("/receipts", receipt), 404, "unknown_card")


# --------------------------------------------------------------------------- expired holds


def test_a_hold_past_its_time_to_live_reads_as_expired_and_frees_its_points(api, funded, clock, db):
    row, card = funded
    made = api.post(
        "/holds", {"card_id": card, "order_id": "A-1", "points": "30.00", "order_total": "100.00"}
    )
    assert made.status_code == 201, made.text
    hold_id = made.json()["hold_id"]
    assert api.get(f"/holds/{hold_id}").json()["status"] == "pending"

    clock.advance(timedelta(minutes=15))  # no sweeper runs
    read = api.get(f"/holds/{hold_id}")
    assert read.status_code == 200 and read.json()["status"] == "expired"
    balance = api.get(f"/cards/{card}/balance").json()
    assert (balance["available"], balance["held"]) == ("100.00", "0.00")
    with db.connect() as conn:  # nothing was written by the reads
        stored = conn.execute(select(holds.c.status).where(holds.c.card_id == row)).scalar_one()
    assert stored is HoldStatus.PENDING
    assert_problem(api.post(f"/holds/{hold_id}/capture"), 409, "hold_expired")
    assert api.get(f"/holds/{hold_id}").json()["status"] == "expired"
    quote = api.read("/quotes", {"card_id": card, "lines": [LINE]}).json()
    assert Decimal(quote["available"]) == Decimal("100.00")
