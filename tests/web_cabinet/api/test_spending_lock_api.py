"""What the shop API says of a card (``can_spend``, ``profile_complete``) and what a hold on it
does always agree, for a card bound by any path (issue 15, item 1): a card whose owner's profile is
incomplete is ``can_spend: false`` and its hold is refused ``409 accumulation_only``; once the
profile is complete it is ``can_spend: true`` and the hold is made."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from bonusbridge.models import Origin
from bonusbridge.services.cabinet import customer_for_verified_phone
from bonusbridge.services.profiles import update_profile
from bonusbridge.unit_of_work import UnitOfWork
from tests.conftest import FakeClock
from tests.services.lock_paths import BIRTH, PATHS, Env, wrong
from tests.web_cabinet.api.test_auth import assert_problem

#: The recheck path runs with other required fields than the API's settings: tested on its own.
API_PATHS = {name: path for name, path in PATHS.items() if not name.startswith("settings:")}


def owner_phone(env: Env, card: int) -> str | None:
    with UnitOfWork(env.db) as uow:
        row = uow.cards.get(card)
        assert row is not None and row.customer_id is not None
        owner = uow.customers.get(row.customer_id)
        assert owner is not None
        return owner.phone_e164


def what_the_api_says(api: Any, env: Env, card: int, public_id: str) -> dict[str, Any]:
    found = api.read("/cards/search", {"number": env.number(card)}).json()["cards"]
    [by_number] = [c for c in found if c["card_id"] == public_id]
    said: dict[str, Any] = {"can_spend": by_number["can_spend"]}
    phone = owner_phone(env, card)
    if phone is not None:
        customers = api.read("/customers/search", {"phone": phone}).json()["customers"]
        [owner] = [c for c in customers if public_id in [x["card_id"] for x in c["cards"]]]
        [listed] = [x for x in owner["cards"] if x["card_id"] == public_id]
        said.update(profile_complete=owner["profile_complete"], listed_can_spend=listed["can_spend"])
    return said


def hold(api: Any, public_id: str, order: str) -> Any:
    body = {"card_id": public_id, "order_id": order, "points": "10.00", "order_total": "100.00"}
    return api.post("/holds", body)


@pytest.mark.parametrize("complete", [False, True], ids=["incomplete", "complete"])
def test_can_spend_and_a_hold_agree_with_the_profile_for_a_card_bound_by_any_path(
    complete: bool, api: Any, card_id: Any, fund: Any, db: Engine, clock: FakeClock
) -> None:
    env = Env(db, clock)
    disagreements: dict[str, Any] = {}
    for n, (name, path) in enumerate(API_PATHS.items()):
        for card in path(env, complete):
            public_id = card_id(card)
            fund(card, "100.00")
            said = what_the_api_says(api, env, card, public_id)
            answer = hold(api, public_id, f"L-{n}-{card}")
            did = answer.status_code
            code = answer.json().get("code") if did != 201 else None
            consistent = (
                said["can_spend"] is complete
                and said.get("listed_can_spend", complete) is complete
                and said.get("profile_complete", complete) is complete
                and (did == 201 if complete else (did, code) == (409, "accumulation_only"))
            )
            if not consistent:
                disagreements[name] = {**said, "hold": did, "code": code}
    assert disagreements == {}


def test_the_issues_customer_cannot_spend_until_the_profile_is_complete(
    api: Any, card_id: Any, fund: Any, db: Engine, clock: FakeClock
) -> None:
    """The demo's +7 916 234-56-78: phone verified and card bound before, profile incomplete. The
    API said ``profile_complete: false, can_spend: true`` and the hold was 201."""
    env = Env(db, clock)
    phone = "+79162345678"
    customer = env.customer(False, phone=phone, verified=True)
    card = env.card(customer, wrong(False), primary=True)
    fund(card, "1580.50")
    with env.uow() as uow:  # the customer logs in to the cabinet
        customer_for_verified_phone(uow, phone)
        uow.commit()
    [found] = api.read("/customers/search", {"phone": phone}).json()["customers"]
    assert (found["profile_complete"], found["cards"][0]["can_spend"]) == (False, False)
    assert api.get(f"/cards/{card_id(card)}/balance").json()["can_spend"] is False
    assert_problem(hold(api, card_id(card), "A-1"), 409, "accumulation_only")
    with env.uow() as uow:
        update_profile(uow, customer, BIRTH, origin=Origin.WEBSITE)
        uow.commit()
    [found] = api.read("/customers/search", {"phone": phone}).json()["customers"]
    assert (found["profile_complete"], found["cards"][0]["can_spend"]) == (True, True)
    assert hold(api, card_id(card), "A-2").status_code == 201
