"""Expired holds read as expired in the cabinet and on the balance's short lane (issue 15, item 6):
a checkout abandoned past its hold's time to live no longer shows its points as reserved, before
the sweeper runs; the lane's bytes still equal the route's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from starlette.testclient import TestClient

from bonusbridge.app import Hub
from bonusbridge.models import Origin
from tests.conftest import FakeClock
from tests.web_cabinet.conftest import PHONE, log_in
from tests.web_cabinet.test_balance_lane import _is_postgres, _lane, _public
from web_cabinet.api.clients import create_client


def test_the_home_page_shows_an_abandoned_holds_points_as_available(client, settings, world, clock):
    card = world.card("2000-0000-0042", phone=PHONE)
    world.accrue(card, "100.00", key="a1", expires_at=clock.now + timedelta(days=5))
    world.accrue(card, "20.00", key="a2")
    world.hub.ledger.hold(card, "15.00", key="h1", origin=Origin.WEBSITE)  # 15 minutes to live
    log_in(client, settings)
    home = client.get("/")
    assert 'id="balance-available">105,00<' in home.text
    assert 'id="balance-held">15,00<' in home.text

    clock.advance(timedelta(minutes=20))  # the checkout was abandoned; no sweeper ran
    home = client.get("/")
    assert 'id="balance-available">120,00<' in home.text
    assert 'id="balance-held">0,00<' in home.text
    expiring = home.text.split('id="expiring"')[1].split("</section>")[0]
    assert "100,00" in expiring, "the hold's points expire with their lot, all 100 of it"


def test_the_lane_and_the_route_agree_on_an_expired_hold(
    app: FastAPI, client: TestClient, hub: Hub, world: Any, clock: FakeClock
) -> None:
    card = world.card("LANE-X")
    hub.ledger.accrue(card, Decimal("120.00"), key="a", origin=Origin.ONEC)
    hub.ledger.hold(card, Decimal("40.00"), key="h1", origin=Origin.WEBSITE)
    hub.ledger.hold(card, Decimal("5.00"), key="h2", origin=Origin.WEBSITE, ttl=timedelta(days=1))
    key = create_client(hub.engine, "shop", ("read",))
    headers = {"Authorization": f"Bearer {key}"}
    path = f"/api/v1/cards/{_public(hub, card)}/balance"
    client.get(path, headers=headers)  # the key's first call: checked and cached by the API
    clock.advance(timedelta(hours=1))  # the first hold is over, the second still lives
    lane = _lane(app)
    lane.enabled = False
    by_route = client.get(path, headers=headers)
    lane.enabled = True
    by_lane = client.get(path, headers=headers)
    assert lane.served == (1 if _is_postgres(hub) else 0)
    assert by_route.status_code == by_lane.status_code == 200
    assert by_route.content == by_lane.content
    body = by_lane.json()
    assert (body["available"], body["held"]) == ("115.00", "5.00")
