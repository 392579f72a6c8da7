"""The balance read's short lane (``web_cabinet.api.balance_lane``) in the cabinet's whole app: it
answers a recurring balance call with the same status, headers and bytes as the API's route, and
leaves every other case — first use of a key, missing scope, mangled or unknown ids, SQLite, a
failing read — to the API, whose answers do not change."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from bonusbridge.app import Hub
from bonusbridge.models import Origin
from tests.conftest import FakeClock
from web_cabinet.api import ids
from web_cabinet.api.balance_lane import BalanceLane
from web_cabinet.api.clients import create_client, revoke_client


def _lane(app: FastAPI) -> BalanceLane:
    layer: Any = app.middleware_stack
    while not isinstance(layer, BalanceLane):
        layer = layer.app
    return layer


def _public(hub: Hub, card_id: int) -> str:
    return ids.encode("card", card_id, hub.settings.api_id_secret.get_secret_value().encode())


def _card(world: Any, hub: Hub, clock: FakeClock, number: str) -> int:
    card_id: int = world.card(number)
    hub.ledger.accrue(card_id, Decimal("120.00"), key=f"{number}:1", origin=Origin.ONEC)
    hub.ledger.accrue(
        card_id,
        Decimal("30.50"),
        key=f"{number}:2",
        origin=Origin.WEBSITE,
        available_from=clock() + timedelta(days=2),
    )
    soon = clock() + timedelta(days=5)
    hub.ledger.accrue(card_id, Decimal("9.99"), key=f"{number}:3", origin=Origin.ONEC, expires_at=soon)
    hub.ledger.hold(card_id, Decimal("4.00"), key=f"{number}:h", origin=Origin.WEBSITE)
    return card_id


def _is_postgres(hub: Hub) -> bool:
    return hub.engine.dialect.name == "postgresql"


def test_a_recurring_balance_call_gets_the_routes_exact_answer_from_the_lane(
    app: FastAPI, client: TestClient, hub: Hub, world: Any, clock: FakeClock
) -> None:
    cards = [_card(world, hub, clock, f"LANE-{n}") for n in range(3)]
    key = create_client(hub.engine, "shop", ("read",))
    headers = {"Authorization": f"Bearer {key}"}
    client.get(f"/api/v1/cards/{_public(hub, cards[0])}/balance", headers=headers)
    lane = _lane(app)
    assert lane.served == 0  # a key's first call goes through the API (which checks and caches it)
    lane.enabled = False  # the route's answers, to compare with
    first = [client.get(f"/api/v1/cards/{_public(hub, card)}/balance", headers=headers) for card in cards]
    assert lane.served == 0
    lane.enabled = True
    again = [client.get(f"/api/v1/cards/{_public(hub, card)}/balance", headers=headers) for card in cards]
    by_header = [
        client.get(f"/api/v1/cards/{_public(hub, c)}/balance", headers={"X-API-Key": key}) for c in cards
    ]
    # SQLite has no awaited read: there the route answers every call.
    assert lane.served == (6 if _is_postgres(hub) else 0)
    for before, after, other in zip(first, again, by_header, strict=True):
        assert before.status_code == after.status_code == other.status_code == 200
        assert before.content == after.content == other.content
        strip = {"date"}
        assert {k: v for k, v in before.headers.items() if k not in strip} == {
            k: v for k, v in after.headers.items() if k not in strip
        }
    body = again[0].json()
    assert body["available"] == "125.99" and body["pending"] == "30.50" and body["held"] == "4.00"
    assert body["expiring_soon"] == "5.99"  # the hold took the soonest-expiring points first


def test_every_other_case_is_left_to_the_api_and_answered_as_before(
    app: FastAPI, client: TestClient, hub: Hub, world: Any, clock: FakeClock
) -> None:
    card = _card(world, hub, clock, "LANE-X")
    reader_key = create_client(hub.engine, "reader", ("read",))
    quote_key = create_client(hub.engine, "quoter", ("quote",))
    path = f"/api/v1/cards/{_public(hub, card)}/balance"
    for key in (reader_key, quote_key):  # both keys are now checked and cached
        client.get(path, headers={"Authorization": f"Bearer {key}"})
    lane = _lane(app)
    served = lane.served

    no_key = client.get(path)
    assert no_key.status_code == 401 and no_key.json()["code"] == "missing_api_key"
    wrong_key = client.get(path, headers={"Authorization": "Bearer bb_000000000000_" + "A" * 43})
    assert wrong_key.status_code == 401 and wrong_key.json()["code"] == "invalid_api_key"
    no_scope = client.get(path, headers={"Authorization": f"Bearer {quote_key}"})
    assert no_scope.status_code == 403 and no_scope.json()["code"] == "missing_scope"
    reader = {"Authorization": f"Bearer {reader_key}"}
    mangled = client.get(path[:-12] + ("B" if path[-12] != "B" else "C") + path[-11:], headers=reader)
    assert mangled.status_code == 404 and mangled.json()["code"] == "unknown_card"
    unknown = client.get(f"/api/v1/cards/{_public(hub, card + 1000)}/balance", headers=reader)
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_card"
    assert unknown.headers["content-type"] == "application/problem+json"
    with_query = client.get(path + "?x=1", headers=reader)
    assert with_query.status_code == 200
    assert lane.served == served  # none of these was answered by the lane
    # HEAD answers as GET without its body (web_cabinet.security), the lane's GET included.
    head = client.head(path, headers=reader)
    assert head.status_code == 200 and head.content == b""
    served = lane.served

    # A revoked key stays trusted for at most api_key_cache_seconds, exactly as in the API itself.
    revoke_client(hub.engine, "reader")
    clock.advance(timedelta(seconds=hub.settings.api_key_cache_seconds + 1))
    revoked = client.get(path, headers=reader)
    assert revoked.status_code == 401 and revoked.json()["code"] == "api_key_revoked"
    assert lane.served == served


def test_a_failing_read_in_the_lane_is_answered_by_the_api(
    app: FastAPI, client: TestClient, hub: Hub, world: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _is_postgres(hub):
        pytest.skip("the lane reads on PostgreSQL only (asyncio connections)")
    card = _card(world, hub, clock, "LANE-F")
    key = create_client(hub.engine, "shop", ("read",))
    path, headers = f"/api/v1/cards/{_public(hub, card)}/balance", {"Authorization": f"Bearer {key}"}
    expected = client.get(path, headers=headers)
    reader = hub.async_reader
    assert reader is not None
    real = reader.card_balance
    calls = {"n": 0}

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("the server went away")
        return await real(*args, **kwargs)

    monkeypatch.setattr(reader, "card_balance", fails_once)
    answer = client.get(path, headers=headers)
    assert calls["n"] == 2  # the lane's try failed; the route read again
    assert answer.status_code == 200 and answer.content == expected.content
    assert _lane(app).served == 0
