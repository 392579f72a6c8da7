"""Services racing each other and the ledger: whichever wins, no point is lost or stranded and no
decision is overwritten. Each call runs in its own unit of work and thread, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from bonusbridge import errors
from bonusbridge.models import CardStatus, HoldStatus, Origin
from bonusbridge.services.cards import PrimaryChoice, block_card, choose_primary
from bonusbridge.services.profiles import update_profile
from bonusbridge.unit_of_work import UnitOfWork
from tests.services.conftest import COMPLETE, REQUIRED, World

WEB = Origin.WEBSITE


def race(world: World, *calls: Callable[[UnitOfWork], Any]) -> list[Any]:
    """Start every call at once, each committing its own unit of work; results or typed errors."""
    barrier = threading.Barrier(len(calls))

    def one(call: Callable[[UnitOfWork], Any]) -> Any:
        barrier.wait()
        try:
            with world.uow() as uow:
                result = call(uow)
                uow.commit()
                return result
        except errors.BonusBridgeError as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_a_checkout_hold_racing_a_merge_never_strands_points_on_a_blocked_card(world):
    for attempt in range(5):
        customer = world.customer(**COMPLETE)
        chosen, other = world.card(customer, primary=True), world.card(customer)
        world.accrue(other, "20.00")
        merge, hold = race(
            world,
            lambda uow, c=customer, k=chosen, a=attempt: choose_primary(uow, c, k, key=f"m{a}", origin=WEB),
            lambda uow, o=other, a=attempt: uow.ledger.hold(o, "5.00", key=f"h{a}", origin=Origin.ONEC),
        )
        if isinstance(merge, PrimaryChoice):  # the merge went first: the hold found a blocked card
            assert isinstance(hold, errors.CardBlocked)
            assert world.total(chosen) == Decimal("20.00") and world.total(other) == Decimal("0.00")
        else:  # the hold went first: the merge waits for the checkout
            assert isinstance(merge, errors.CardHasPendingHold)
            assert hold.status is HoldStatus.PENDING
            assert world.get_card(other).status is CardStatus.ACTIVE
        assert world.customer_total(customer) == Decimal("20.00")


def test_a_profile_edit_racing_a_block_never_unblocks_the_card(world):
    for _ in range(5):
        customer = world.customer()
        card_id = world.card(customer, primary=True, status=CardStatus.ACCUMULATION_ONLY)
        race(
            world,
            lambda uow, c=customer: update_profile(uow, c, COMPLETE, origin=WEB, required_fields=REQUIRED),
            lambda uow, k=card_id: block_card(uow, k, reason="stolen", origin=Origin.ADMIN),
        )
        card = world.get_card(card_id)
        assert (card.status, card.status_reason) == (CardStatus.BLOCKED, "stolen")


def test_two_edits_from_the_same_version_one_wins_the_other_is_told(world):
    customer = world.customer()
    results = race(
        world,
        lambda uow: update_profile(uow, customer, {"city": "Тверь"}, origin=WEB, expected_version=1),
        lambda uow: update_profile(uow, customer, {"city": "Клин"}, origin=WEB, expected_version=1),
    )
    stale = [result for result in results if isinstance(result, errors.StaleVersion)]
    assert len(stale) == 1 and stale[0].actual == 2
    stored = world.get_customer(customer)
    assert stored.version == 2 and stored.city in ("Тверь", "Клин")
