"""bind_card, refresh_spending_status and block_card: every rule and every refusal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bonusbridge import errors
from bonusbridge.models import CardStatus, Customer, Origin
from bonusbridge.services.cards import bind_card, block_card, refresh_spending_status, spending_status
from tests.services.conftest import COMPLETE, REQUIRED, Message, World

WEB = Origin.WEBSITE


def bind(world: World, customer_id: int, card_id: int, *, origin: Origin = WEB) -> None:
    with world.uow() as uow:
        bind_card(uow, customer_id, card_id, origin=origin, required_fields=REQUIRED)
        uow.commit()


def block(world: World, card_id: int, reason: str = "lost", *, origin: Origin = WEB) -> None:
    with world.uow() as uow:
        block_card(uow, card_id, reason=reason, origin=origin)
        uow.commit()


def refresh(world: World, customer_id: int, *, origin: Origin = WEB, required: Any = REQUIRED) -> list[int]:
    with world.uow() as uow:
        customer = uow.customers.get(customer_id)
        changed = refresh_spending_status(uow, customer, required_fields=required, origin=origin)
        uow.commit()
        return [card.id for card in changed]


def refused(world: World, error: type[Exception], call: Any) -> Exception:
    """Expect a refusal; commit anyway, as a careless caller might, and prove nothing changed."""
    before = world.snapshot()
    with world.uow() as uow:
        with pytest.raises(error) as caught:
            call(uow)
        uow.commit()
    assert world.snapshot() == before
    return caught.value


# --------------------------------------------------------------------------- bind_card


def test_binding_ties_the_card_and_makes_the_first_one_primary(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card()
    mark = world.mark()
    bind(world, customer, card_id)
    card = world.get_card(card_id)
    assert (card.customer_id, card.is_primary, card.status, card.changed_by) == (
        customer,
        True,
        CardStatus.ACTIVE,
        WEB,
    )
    assert world.outbox(mark) == [Message("card", card_id, "website")]


def test_a_second_card_is_bound_but_not_primary(world):
    customer = world.customer(**COMPLETE)
    first, second = world.card(customer, primary=True), world.card()
    bind(world, customer, second)
    assert (world.get_card(first).is_primary, world.get_card(second).is_primary) == (True, False)
    assert world.get_card(second).customer_id == customer


def test_a_card_bound_to_an_incomplete_profile_only_accumulates(world):
    customer = world.customer(first_name="Мария")
    card_id = world.card()
    bind(world, customer, card_id)
    card = world.get_card(card_id)
    assert card.status is CardStatus.ACCUMULATION_ONLY
    assert card.status_reason == "profile incomplete, missing: last_name, birth_date"


def test_an_accumulation_only_card_bound_to_a_complete_profile_may_spend(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(status=CardStatus.ACCUMULATION_ONLY)
    bind(world, customer, card_id)
    assert world.get_card(card_id).status is CardStatus.ACTIVE


def test_binding_a_card_already_bound_as_it_should_be_writes_nothing(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(customer, primary=True)
    before = world.snapshot()
    bind(world, customer, card_id)
    assert world.snapshot() == before


def test_a_bound_card_becomes_primary_when_the_customer_has_none(world):
    customer = world.customer(**COMPLETE)
    world.card(customer, status=CardStatus.BLOCKED)
    card_id = world.card(customer)
    mark = world.mark()
    bind(world, customer, card_id)
    assert world.get_card(card_id).is_primary
    assert world.outbox(mark) == [Message("card", card_id, "website")]


def test_binding_from_1c_queues_no_message(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card()
    mark = world.mark()
    bind(world, customer, card_id, origin=Origin.ONEC)
    assert world.get_card(card_id).changed_by is Origin.ONEC
    assert world.outbox(mark) == []


def test_binding_from_1c_still_tells_1c_a_status_the_hub_derived(world):
    customer = world.customer()  # incomplete: the active card must become accumulation-only
    card_id = world.card()
    mark = world.mark()
    bind(world, customer, card_id, origin=Origin.ONEC)
    assert world.get_card(card_id).status is CardStatus.ACCUMULATION_ONLY
    assert world.outbox(mark) == [Message("card", card_id, "system")]


def test_binding_a_card_of_another_customer_is_refused(world):
    owner, other = world.customer(**COMPLETE), world.customer(**COMPLETE)
    card_id = world.card(owner, primary=True)
    error = refused(
        world, errors.CardOfAnotherCustomer, lambda uow: bind_card(uow, other, card_id, origin=WEB)
    )
    assert (error.code, error.card_id, error.customer_id) == ("card_of_another_customer", card_id, other)


def test_binding_a_blocked_card_is_refused(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(status=CardStatus.BLOCKED)
    error = refused(world, errors.CardBlocked, lambda uow: bind_card(uow, customer, card_id, origin=WEB))
    assert error.code == "card_blocked"


def test_binding_to_an_unknown_customer_is_refused(world):
    card_id = world.card()
    refused(world, errors.UnknownCustomer, lambda uow: bind_card(uow, 404, card_id, origin=WEB))


def test_binding_an_unknown_card_is_refused(world):
    customer = world.customer()
    refused(world, errors.UnknownCard, lambda uow: bind_card(uow, customer, 404, origin=WEB))


# --------------------------------------------------------------------------- refresh_spending_status


def test_the_spending_status_follows_the_required_fields():
    assert spending_status(Customer(**COMPLETE), REQUIRED) == (CardStatus.ACTIVE, None)
    assert spending_status(Customer(last_name="Иванова"), REQUIRED) == (
        CardStatus.ACCUMULATION_ONLY,
        "profile incomplete, missing: first_name, birth_date",
    )


def test_refresh_sets_each_usable_card_and_credits_the_change(world):
    customer = world.customer()
    active, already, blocked = (
        world.card(customer, primary=True),
        world.card(customer, status=CardStatus.ACCUMULATION_ONLY),
        world.card(customer, status=CardStatus.BLOCKED),
    )
    mark = world.mark()
    assert refresh(world, customer, origin=Origin.ADMIN) == [active, already]  # `already` gets its reason
    for card_id in (active, already):
        card = world.get_card(card_id)
        assert (card.status, card.changed_by) == (CardStatus.ACCUMULATION_ONLY, Origin.ADMIN)
        assert card.status_reason == "profile incomplete, missing: last_name, first_name, birth_date"
    assert world.get_card(blocked).status is CardStatus.BLOCKED
    assert [m.entity_id for m in world.outbox(mark)] == [active, already]


def test_refresh_leaves_a_card_in_the_right_state_untouched(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(customer, primary=True)
    before = world.snapshot()
    assert refresh(world, customer) == []
    assert world.snapshot() == before
    assert world.get_card(card_id).changed_by is Origin.ONEC


def test_refresh_updates_the_reason_when_the_missing_fields_change(world):
    customer = world.customer()
    card_id = world.card(customer, primary=True)
    refresh(world, customer)
    with world.uow() as uow:  # 1C fills one field, without the service
        uow.customers.get(customer).last_name = "Иванова"
        uow.customers.get(customer).changed_by = Origin.ONEC
        uow.commit()
    assert refresh(world, customer, origin=Origin.SYSTEM) == [card_id]
    card = world.get_card(card_id)
    assert card.status_reason == "profile incomplete, missing: first_name, birth_date"
    assert card.changed_by is Origin.SYSTEM


def test_a_status_derived_from_1cs_change_is_credited_to_the_system_so_1c_learns_it(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(customer, primary=True, status=CardStatus.ACCUMULATION_ONLY)
    mark = world.mark()
    assert refresh(world, customer, origin=Origin.ONEC) == [card_id]
    card = world.get_card(card_id)
    assert (card.status, card.changed_by) == (CardStatus.ACTIVE, Origin.SYSTEM)
    assert world.outbox(mark) == [Message("card", card_id, "system")]


# --------------------------------------------------------------------------- block_card


def test_blocking_sets_status_reason_and_origin_and_queues_one_message(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(customer)
    mark = world.mark()
    block(world, card_id, "  lost at the till  ")
    card = world.get_card(card_id)
    assert (card.status, card.status_reason, card.changed_by) == (CardStatus.BLOCKED, "lost at the till", WEB)
    assert world.outbox(mark) == [Message("card", card_id, "website")]


def test_a_blocked_card_stops_being_primary(world):
    customer = world.customer(**COMPLETE)
    card_id = world.card(customer, primary=True)
    block(world, card_id)
    assert not world.get_card(card_id).is_primary


def test_blocking_twice_is_not_an_error_and_writes_nothing(world):
    card_id = world.card()
    block(world, card_id, "stolen")
    before = world.snapshot()
    block(world, card_id, "another reason")
    assert world.snapshot() == before
    assert world.get_card(card_id).status_reason == "stolen"


def test_blocking_from_1c_queues_no_message(world):
    card_id = world.card()
    mark = world.mark()
    block(world, card_id, origin=Origin.ONEC)
    assert world.get_card(card_id).status is CardStatus.BLOCKED
    assert world.outbox(mark) == []


@pytest.mark.parametrize("reason", ["", "   "])
def test_blocking_needs_a_reason(world, reason):
    card_id = world.card()
    refused(world, errors.MissingReason, lambda uow: block_card(uow, card_id, reason=reason, origin=WEB))


def test_blocking_an_unknown_card_is_refused(world):
    refused(world, errors.UnknownCard, lambda uow: block_card(uow, 404, reason="lost", origin=WEB))


def test_a_blocked_card_accepts_no_ledger_operation(world):
    card_id = world.card()
    world.accrue(card_id, "10.00")
    block(world, card_id)
    with world.uow() as uow, pytest.raises(errors.CardBlocked):
        uow.ledger.accrue(card_id, "5.00", key="after-block", origin=WEB)
    assert world.total(card_id) == Decimal("10.00")
