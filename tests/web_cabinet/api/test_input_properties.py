"""No 500 from any input (issue 15, item 5), as a property: generated requests to every endpoint
with what schemathesis' document-driven generation never sends — well-signed ids of rows beyond
the tables' range (up to 2^64 - 1), times without an offset or at the calendar's ends, amounts at
and past the numeric limit (NUMERIC(15,2)), on cards whose balance is at the limit — answer with
a problem (4xx) or a success, never a server error, and ``ledger check`` stays clean after each."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from bonusbridge.ledger.audit import check_ledger
from bonusbridge.ledger.intents import MAX_BALANCE
from web_cabinet.api import ids

EXAMPLES = int(os.environ.get("BONUSBRIDGE_PROPERTY_EXAMPLES", "150"))

#: Amounts at the numeric limits, and just past them, in every notation a client might send.
LIMIT_AMOUNTS = [
    "9999999999999.99",
    "9999999999999.98",
    "10000000000000.00",
    "10000000000000",
    "9999999999999.995",
    "99999999999999999999999999999999",
    "0.01",
    "0.001",
    "0",
    "0.00",
    "-0.01",
    "1e13",
    "NaN",
    "Infinity",
    "",
    " 1.00",
]

amounts = st.one_of(
    st.sampled_from(LIMIT_AMOUNTS),
    st.decimals(min_value=0, max_value=Decimal("20000000000000"), places=2, allow_nan=False).map(
        lambda value: f"{value:f}"
    ),
    st.integers(min_value=0, max_value=10**20).map(str),
    st.integers(min_value=-(10**20), max_value=10**20),  # a JSON number
    st.floats(allow_nan=False, allow_infinity=False),
)
quantities = st.one_of(
    st.sampled_from(["999999999.999", "1000000000", "0.001", "0.0001", "1", "0"]),
    st.decimals(min_value=0, max_value=Decimal("2000000000"), places=3, allow_nan=False).map(
        lambda value: f"{value:f}"
    ),
)
#: Row ids no table holds (a SQL INTEGER ends at 2^31 - 1), the edges of 8 bytes included.
huge_row_ids = st.one_of(
    st.sampled_from([0, 2**31, 2**63 - 1, 2**63, 2**64 - 1]),
    st.integers(min_value=2**31, max_value=2**64 - 1),
)
offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
        datetime.isoformat
    ),  # naive: no offset at all
    st.builds(
        lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        offsets,
    ),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2999-12-31T23:59:59-23:59",
            "2000-01-01T00:00:00+23:59",
            "2026-01-10",
            "2026-01-10T10:00",
            "2026-13-01T00:00:00Z",
        ]
    ),
    st.integers(min_value=-(2**63), max_value=2**63),
)
json_values = st.one_of(st.booleans(), st.none(), st.integers(), st.text(max_size=5), amounts)


def _line(price: Any, quantity: Any, discount: Any) -> dict[str, Any]:
    return {"sku": "00-1", "quantity": quantity, "price": price, "discount": discount, "vat_rate": "20"}


lines = st.lists(st.builds(_line, amounts, quantities, amounts), min_size=1, max_size=3)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("BONUSBRIDGE_PROPERTY_EXAMPLES") is None,  # CI: reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_generated_input_is_a_server_error(
    data: st.DataObject, api: Any, make_card: Any, fund: Any, card_id: Any, settings: Any, db: Engine
) -> None:
    secret = settings.api_id_secret.get_secret_value().encode()
    if not hasattr(api, "cards"):  # the fixtures live for the whole test: set the cards up once
        full, spare = make_card(number="2000-9900-0001"), make_card(number="2000-9900-0002")
        fund(full, str(MAX_BALANCE - Decimal("0.50")))
        fund(spare, "1000.00")
        api.cards = [card_id(full), card_id(spare)]
        api.holds = []
        api.orders = ["P-1"]

    # Every draw is made whatever the database holds, so that a failing example replays exactly.
    def card() -> str:
        real = data.draw(st.booleans(), label="real card")
        index = data.draw(st.integers(0, 1), label="card")
        row_id = data.draw(huge_row_ids, label="card row id")
        return api.cards[index] if real else ids.encode("card", row_id, secret)

    def hold() -> str:
        real = data.draw(st.booleans(), label="real hold")
        index = data.draw(st.integers(0, 1000), label="hold")
        row_id = data.draw(huge_row_ids, label="hold row id")
        if real and api.holds:
            return str(api.holds[index % len(api.holds)])
        return ids.encode("hold", row_id, secret)

    def order() -> str:
        return data.draw(
            st.one_of(st.sampled_from(api.orders), st.sampled_from(["P-2", "P-3"])), label="order"
        )

    def maybe(body: dict[str, Any], field: str, values: Any) -> dict[str, Any]:
        if data.draw(st.booleans(), label=f"send {field}"):
            body[field] = data.draw(values, label=field)
        return body

    kind = data.draw(
        st.sampled_from(
            [
                "balance",
                "hold",
                "read hold",
                "capture",
                "void",
                "accrual",
                "refund",
                "quote",
                "till quote",
                "receipt",
                "return",
                "order",
            ]
        ),
        label="endpoint",
    )
    if kind == "balance":
        answer = api.get(f"/cards/{card()}/balance")
    elif kind == "hold":
        body = {
            "card_id": card(),
            "order_id": order(),
            "points": data.draw(amounts),
            "order_total": data.draw(amounts),
        }
        answer = api.post("/holds", body)
        if answer.status_code == 201:
            api.holds.append(answer.json()["hold_id"])
    elif kind == "read hold":
        answer = api.get(f"/holds/{hold()}")
    elif kind == "capture":
        answer = api.post(f"/holds/{hold()}/capture", maybe({}, "points", amounts))
    elif kind == "void":
        answer = api.post(f"/holds/{hold()}/void")
    elif kind == "accrual":
        body = maybe(
            {"card_id": card(), "order_id": order(), "order_total": data.draw(amounts)},
            "join_program",
            json_values,
        )
        answer = api.post("/accruals", body)
    elif kind == "refund":
        answer = api.post("/refunds", {"order_id": order(), "amount": data.draw(amounts)})
    elif kind in ("quote", "till quote", "receipt"):
        body = {"lines": data.draw(lines, label="lines")}
        for field in ("at", "vouchers", "points_to_spend") if kind != "receipt" else ("at", "vouchers"):
            maybe(body, field, moments if field == "at" else amounts)
        if kind == "quote":
            answer = api.read("/quotes", {**body, "card_id": card()})
        elif kind == "till quote":
            number = data.draw(st.sampled_from(["2000-9900-0001", "2000 9900 0002", "9" * 40]))
            answer = api.read("/onec/quote", {**body, "card_number": number})
        else:
            maybe(body, "join_program", json_values)
            answer = api.post("/receipts", {**body, "card_id": card(), "receipt_id": order()})
    elif kind == "return":
        returned = [{"line": data.draw(st.integers(-1, 600)), "quantity": data.draw(quantities)}]
        answer = api.post(f"/receipts/{order()}/returns", {"lines": returned})
    else:
        answer = api.get(f"/orders/{order()}")
    assert answer.status_code < 500, (kind, answer.status_code, answer.text)
    assert answer.headers["content-type"].startswith(("application/json", "application/problem+json"))
    with db.connect() as conn:
        assert check_ledger(conn) == []
