"""Retries racing their original (a timeout, then the client retries at once): one effect, one answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from tests.web_cabinet.api.test_checkout import balance, hold_body
from tests.web_cabinet.api.test_orders import paid_order

RACERS = 6


def race(api, path: str, body: dict[str, str], key: str) -> list:
    barrier = Barrier(RACERS)

    def one(_: int):
        barrier.wait()
        return api.post(path, body, key=key)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(one, range(RACERS)))


def test_racing_retries_of_a_hold_make_one_hold(api, make_card, fund, card_id):
    card = make_card()
    fund(card, "100.00")
    answers = race(api, "/holds", hold_body(card_id(card)), "same")
    assert [a.status_code for a in answers] == [201] * RACERS, [a.text for a in answers]
    assert sorted(a.json()["replayed"] for a in answers) == [False] + [True] * (RACERS - 1)
    assert len({a.json()["hold_id"] for a in answers}) == 1
    assert balance(api, card_id(card))["held"] == "30.00"


def test_racing_retries_of_a_refund_refund_once(api, make_card, fund, card_id):
    card = make_card()
    fund(card, "100.00")
    paid_order(api, card_id(card), total="100.00", spend="20.00")
    # 70 of 100: a retry that computed its own effect after the original would find 140 refunded
    answers = race(api, "/refunds", {"order_id": "O-1", "amount": "70.00"}, "refund-1")
    assert [a.status_code for a in answers] == [201] * RACERS, [a.text for a in answers]
    assert {a.json()["points_returned"] for a in answers} == {"14.00"}
    assert api.get("/orders/O-1").json()["refunded_total"] == "70.00"
