"""choose_primary: the chosen card becomes the only primary and every other card is merged into it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.models import CardStatus, HoldStatus, MovementKind, Origin
from bonusbridge.services.cards import PrimaryChoice, choose_primary
from tests.services.conftest import COMPLETE, World

D = Decimal
WEB = Origin.WEBSITE


@dataclass(frozen=True)
class Family:
    customer: int
    old_primary: int  # 10.00 points
    second: int  # 25.50 points
    chosen: int  # 4.50 points


def family(world: World, **profile: Any) -> Family:
    """A customer with three cards of one phone, the first of them primary, all with points."""
    customer = world.customer(**(profile or COMPLETE))
    cards = Family(
        customer,
        world.card(customer, primary=True, number="2100 0000 0001"),
        world.card(customer, number="2100 0000 0002"),
        world.card(customer, number="2100 0000 0003"),
    )
    world.accrue(cards.old_primary, "10.00")
    world.accrue(cards.second, "25.50")
    world.accrue(cards.chosen, "4.50")
    return cards


def choose(world: World, customer: int, card: int, *, key: str = "choice-1", **kwargs: Any) -> PrimaryChoice:
    kwargs.setdefault("origin", WEB)
    with world.uow() as uow:
        result = choose_primary(uow, customer, card, key=key, **kwargs)
        uow.commit()
        return result


def refused(world: World, error: type[Exception], customer: int, card: int, **kwargs: Any) -> Any:
    """Expect a refusal; commit anyway, as a careless caller might, and prove nothing changed."""
    kwargs.setdefault("origin", WEB)
    kwargs.setdefault("key", "choice-1")
    before = world.snapshot()
    with world.uow() as uow:
        with pytest.raises(error) as caught:
            choose_primary(uow, customer, card, **kwargs)
        uow.commit()
    assert world.snapshot() == before
    return caught.value


# --------------------------------------------------------------------------- the merge


def test_every_point_moves_to_the_chosen_card_and_the_customer_keeps_them_all(world):
    f = family(world)
    before = world.customer_total(f.customer)
    choose(world, f.customer, f.chosen)
    assert world.customer_total(f.customer) == before == D("40.00")
    assert world.total(f.chosen) == D("40.00")
    assert world.total(f.old_primary) == world.total(f.second) == D("0.00")


def test_the_result_names_the_primary_the_merged_cards_and_the_points_moved(world):
    f = family(world)
    result = choose(world, f.customer, f.chosen)
    assert result == PrimaryChoice(f.customer, f.chosen, (f.old_primary, f.second), D("35.50"))
    assert result.replayed is False
    assert isinstance(result.points_moved, Decimal)


def test_the_other_cards_are_blocked_as_merged_into_the_chosen_one(world):
    f = family(world)
    choose(world, f.customer, f.chosen)
    for card_id in (f.old_primary, f.second):
        card = world.get_card(card_id)
        assert (card.status, card.status_reason, card.merged_into_id) == (
            CardStatus.BLOCKED,
            "merged into 210000000003",
            f.chosen,
        )
        assert (card.is_primary, card.changed_by) == (False, WEB)


def test_the_chosen_card_becomes_the_only_primary(world):
    f = family(world)
    choose(world, f.customer, f.chosen)
    with world.uow() as uow:
        primaries = [card.id for card in uow.cards.of_customer(f.customer) if card.is_primary]
    assert primaries == [f.chosen]
    chosen = world.get_card(f.chosen)
    assert (chosen.status, chosen.changed_by) == (CardStatus.ACTIVE, WEB)


def test_the_transfers_are_keyed_per_card_and_say_why(world):
    f = family(world)
    choose(world, f.customer, f.chosen, key="cabinet-42")
    with world.db.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT card_id, kind, external_id, reason, counterpart_card_id FROM movements "
            "WHERE kind IN ('transfer_in', 'transfer_out') ORDER BY id"
        ).all()
    assert [tuple(row) for row in rows] == [
        (
            f.old_primary,
            "transfer_out",
            f"cabinet-42/merge/{f.old_primary}",
            "merged into 210000000003",
            f.chosen,
        ),
        (
            f.chosen,
            "transfer_in",
            f"cabinet-42/merge/{f.old_primary}",
            "merged into 210000000003",
            f.old_primary,
        ),
        (f.second, "transfer_out", f"cabinet-42/merge/{f.second}", "merged into 210000000003", f.chosen),
        (f.chosen, "transfer_in", f"cabinet-42/merge/{f.second}", "merged into 210000000003", f.second),
    ]


def test_the_outbox_gets_one_message_per_changed_card_and_per_movement(world):
    f = family(world)
    mark = world.mark()
    choose(world, f.customer, f.chosen)
    for card_id in (f.old_primary, f.second, f.chosen):
        assert [m.origin for m in world.messages(mark, "card", card_id)] == ["website"]
    movements = [m for m in world.outbox(mark) if m.topic == "movement"]
    assert len(movements) == 4 and len({m.entity_id for m in movements}) == 4
    assert {m.origin for m in movements} == {"website"}
    assert len(world.outbox(mark)) == 7
    assert world.messages(mark, "customer", f.customer) == []


def test_a_merge_made_by_1c_queues_no_message(world):
    f = family(world)
    mark = world.mark()
    choose(world, f.customer, f.chosen, origin=Origin.ONEC)
    assert world.get_card(f.second).status is CardStatus.BLOCKED
    assert world.total(f.chosen) == D("40.00")
    assert world.outbox(mark) == []


def test_accumulation_only_cards_are_merged_too(world):
    f = family(world, first_name="Мария")
    with world.uow() as uow:
        for card in uow.cards.of_customer(f.customer):
            card.status = CardStatus.ACCUMULATION_ONLY
        uow.commit()
    result = choose(world, f.customer, f.chosen)
    assert result.points_moved == D("35.50")
    assert world.get_card(f.chosen).status is CardStatus.ACCUMULATION_ONLY


def test_a_card_without_points_is_merged_and_blocked_without_movements(world):
    customer = world.customer(**COMPLETE)
    chosen, empty = world.card(customer, primary=True), world.card(customer)
    mark = world.mark()
    result = choose(world, customer, chosen)
    assert result == PrimaryChoice(customer, chosen, (empty,), D("0.00"))
    assert world.get_card(empty).status is CardStatus.BLOCKED
    assert world.outbox(mark) == [world.messages(mark, "card", empty)[0]]


def test_choosing_the_primary_card_of_a_customer_with_one_card_changes_no_card(world):
    customer = world.customer(**COMPLETE)
    only = world.card(customer, primary=True)
    mark = world.mark()
    assert choose(world, customer, only) == PrimaryChoice(customer, only, (), D("0.00"))
    assert world.outbox(mark) == []


def test_cards_already_blocked_are_left_as_they_are(world):
    f = family(world)
    with world.uow() as uow:
        uow.cards.get(f.second).status = CardStatus.BLOCKED
        uow.commit()
    mark = world.mark()
    result = choose(world, f.customer, f.chosen)
    assert result.merged_card_ids == (f.old_primary,)
    assert world.total(f.second) == D("25.50")
    second = world.get_card(f.second)
    assert (second.merged_into_id, second.status_reason) == (None, None)
    assert world.messages(mark, "card", f.second) == []


def test_a_blocked_old_primary_loses_its_flag(world):
    customer = world.customer(**COMPLETE)
    old = world.card(customer, primary=True, status=CardStatus.BLOCKED)
    chosen = world.card(customer)
    mark = world.mark()
    choose(world, customer, chosen)
    assert (world.get_card(old).is_primary, world.get_card(chosen).is_primary) == (False, True)
    assert world.get_card(old).status is CardStatus.BLOCKED
    assert [m.entity_id for m in world.outbox(mark)] == [old, chosen]


def test_points_not_yet_spendable_move_and_keep_their_dates(world, clock):
    f = family(world)
    spendable_from, expires = clock.now + timedelta(days=14), clock.now + timedelta(days=365)
    world.accrue(f.second, "7.00", available_from=spendable_from, expires_at=expires)
    choose(world, f.customer, f.chosen)
    with world.uow() as uow:
        balance = uow.ledger.balance(f.chosen)
    assert (balance.total, balance.pending, balance.available) == (D("47.00"), D("7.00"), D("40.00"))
    assert balance.next_expiry == expires


def test_expired_points_not_yet_written_off_stay_for_the_sweep(world, clock):
    f = family(world)
    world.accrue(f.second, "3.00", expires_at=clock.now + timedelta(days=1))
    clock.advance(timedelta(days=2))
    before = world.customer_total(f.customer)
    result = choose(world, f.customer, f.chosen)
    assert result.points_moved == D("35.50")
    assert world.customer_total(f.customer) == before == D("43.00")
    assert world.total(f.second) == D("3.00")
    with world.uow() as uow:
        expiry = uow.ledger.expire_card(f.second, key="sweep", as_of=clock.now)
        uow.commit()
    assert expiry is not None and expiry.kind is MovementKind.EXPIRY and world.total(f.second) == D("0.00")


# --------------------------------------------------------------------------- pending holds


def test_a_card_with_a_checkout_in_progress_is_not_merged(world, clock):
    f = family(world)
    world.hold(f.second, "5.00")
    error = refused(world, errors.CardHasPendingHold, f.customer, f.chosen)
    assert (error.code, error.card_id, error.held) == ("card_has_pending_hold", f.second, D("5.00"))
    assert error.until == clock.now + timedelta(minutes=15)


def test_after_the_checkout_ends_the_merge_moves_everything(world):
    f = family(world)
    hold_id = world.hold(f.second, "5.00")
    refused(world, errors.CardHasPendingHold, f.customer, f.chosen)
    with world.uow() as uow:
        uow.ledger.capture(hold_id, "5.00", key="till-capture", origin=Origin.ONEC)
        uow.commit()
    result = choose(world, f.customer, f.chosen)
    assert result.points_moved == D("30.50")
    assert world.total(f.chosen) == D("35.00") and world.total(f.second) == D("0.00")


def test_a_voided_hold_gives_its_points_back_and_they_move(world):
    f = family(world)
    hold_id = world.hold(f.second, "5.00")
    with world.uow() as uow:
        uow.ledger.void(hold_id, key="till-void", origin=Origin.ONEC)
        uow.commit()
    assert choose(world, f.customer, f.chosen).points_moved == D("35.50")


def test_a_hold_past_its_time_to_live_is_released_and_its_points_move(world, clock):
    f = family(world)
    hold_id = world.hold(f.second, "5.00")
    clock.advance(timedelta(minutes=16))
    assert choose(world, f.customer, f.chosen).points_moved == D("35.50")
    assert world.customer_total(f.customer) == D("40.00") == world.total(f.chosen)
    with world.db.connect() as conn:
        status = conn.exec_driver_sql(f"SELECT status FROM holds WHERE id = {hold_id}").scalar_one()
    assert status == HoldStatus.EXPIRED.value


def test_a_hold_on_the_chosen_card_does_not_stop_the_merge(world):
    f = family(world)
    hold_id = world.hold(f.chosen, "4.00")
    choose(world, f.customer, f.chosen)
    with world.uow() as uow:
        uow.ledger.capture(hold_id, key="till-capture", origin=Origin.ONEC)
        uow.commit()
    assert world.total(f.chosen) == D("36.00")


# --------------------------------------------------------------------------- idempotency


def test_the_same_call_again_changes_nothing_and_returns_the_same_result(world):
    f = family(world)
    first = choose(world, f.customer, f.chosen)
    before = world.snapshot()
    again = choose(world, f.customer, f.chosen)
    assert again == first and again.replayed is True
    assert world.snapshot() == before


def test_a_replay_returns_the_first_result_even_after_later_changes(world):
    f = family(world)
    first = choose(world, f.customer, f.chosen, key="k")
    world.accrue(f.chosen, "100.00")
    late = world.card(f.customer)
    world.accrue(late, "1.00")
    again = choose(world, f.customer, f.chosen, key="k")
    assert (again, again.replayed) == (first, True)
    assert world.get_card(late).status is CardStatus.ACTIVE


def test_a_new_key_merges_cards_bound_since(world):
    f = family(world)
    choose(world, f.customer, f.chosen, key="first")
    late = world.card(f.customer)
    world.accrue(late, "1.00")
    result = choose(world, f.customer, f.chosen, key="second")
    assert result == PrimaryChoice(f.customer, f.chosen, (late,), D("1.00"))


def test_the_same_key_for_another_card_is_a_conflict(world):
    f = family(world)
    choose(world, f.customer, f.chosen, key="k")
    error = refused(world, errors.IdempotencyConflict, f.customer, f.old_primary, key="k")
    assert error.code == "idempotency_conflict"


def test_the_same_key_for_another_customer_is_a_conflict(world):
    f, other = family(world), world.customer(**COMPLETE)
    other_card = world.card(other)
    choose(world, f.customer, f.chosen, key="k")
    refused(world, errors.IdempotencyConflict, other, other_card, key="k")


def test_the_same_key_by_another_actor_is_a_conflict(world):
    f = family(world)
    choose(world, f.customer, f.chosen, key="k")
    staff = Actor("petrova", frozenset({Permission.MERGE}))
    refused(world, errors.IdempotencyConflict, f.customer, f.chosen, key="k", actor=staff)


def test_a_key_a_ledger_operation_used_is_a_conflict(world):
    f = family(world)
    with world.uow() as uow:
        uow.ledger.transfer(f.second, f.chosen, "1.00", key="k", origin=WEB)
        uow.commit()
    error = refused(world, errors.IdempotencyConflict, f.customer, f.chosen, key="k")
    assert "transfer" in str(error)


def test_keys_are_per_origin(world):
    f = family(world)
    choose(world, f.customer, f.chosen, key="k", origin=Origin.ADMIN)
    assert choose(world, f.customer, f.chosen, key="k", origin=WEB).replayed is False


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_an_invalid_key_is_refused(world, key):
    f = family(world)
    refused(world, errors.InvalidKey, f.customer, f.chosen, key=key)


def test_a_key_too_long_for_its_merge_keys_is_refused(world):
    f = family(world)
    refused(world, errors.InvalidKey, f.customer, f.chosen, key="k" * 195)


# --------------------------------------------------------------------------- refusals


def test_a_card_of_another_customer_is_refused(world):
    f, other = family(world), world.customer(**COMPLETE)
    stranger = world.card(other, primary=True)
    error = refused(world, errors.CardNotOwned, f.customer, stranger)
    assert (error.code, error.card_id, error.customer_id) == ("card_not_owned", stranger, f.customer)


def test_an_unbound_card_is_refused(world):
    f = family(world)
    refused(world, errors.CardNotOwned, f.customer, world.card())


def test_an_unknown_card_is_refused(world):
    f = family(world)
    refused(world, errors.UnknownCard, f.customer, 404)


def test_an_unknown_customer_is_refused(world):
    card = world.card()
    refused(world, errors.UnknownCustomer, 404, card)


def test_a_blocked_card_cannot_be_chosen(world):
    f = family(world)
    with world.uow() as uow:
        uow.cards.get(f.chosen).status = CardStatus.BLOCKED
        uow.commit()
    refused(world, errors.CardBlocked, f.customer, f.chosen)


def test_staff_need_the_merge_permission(world):
    f = family(world)
    clerk = Actor("sidorov", frozenset({Permission.ADJUST}))
    refused(world, errors.PermissionDenied, f.customer, f.chosen, actor=clerk)


def test_staff_with_the_merge_permission_are_recorded_on_the_movements(world):
    f = family(world)
    choose(
        world,
        f.customer,
        f.chosen,
        actor=Actor("petrova", frozenset({Permission.MERGE})),
        origin=Origin.ADMIN,
    )
    with world.db.connect() as conn:
        actors = conn.exec_driver_sql("SELECT DISTINCT actor FROM movements WHERE kind = 'transfer_in'").all()
    assert actors == [("petrova",)]


# --------------------------------------------------------------------------- concurrency


def run_together(world: World, calls: list[tuple[int, int, str]]) -> list[Any]:
    """Run choose_primary calls at once, each in its own unit of work; results or errors."""
    barrier = threading.Barrier(len(calls))

    def one(call: tuple[int, int, str]) -> Any:
        customer, card, key = call
        barrier.wait()
        try:
            return choose(world, customer, card, key=key)
        except errors.BonusBridgeError as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_the_same_choice_sent_twice_at_once_is_done_once(world):
    f = family(world)
    results = run_together(world, [(f.customer, f.chosen, "k"), (f.customer, f.chosen, "k")])
    assert sorted(result.replayed for result in results) == [False, True]
    assert (
        results[0] == results[1] == PrimaryChoice(f.customer, f.chosen, (f.old_primary, f.second), D("35.50"))
    )
    assert world.total(f.chosen) == D("40.00")


def test_two_different_choices_at_once_leave_one_primary_and_every_point(world):
    f = family(world)
    results = run_together(world, [(f.customer, f.chosen, "a"), (f.customer, f.second, "b")])
    winners = [result for result in results if isinstance(result, PrimaryChoice)]
    assert len(winners) == 1
    assert [type(result) for result in results if result not in winners] == [errors.CardBlocked]
    with world.uow() as uow:
        cards = uow.cards.of_customer(f.customer)
        assert [card.id for card in cards if card.is_primary] == [winners[0].primary_card_id]
        assert [card.status for card in cards].count(CardStatus.BLOCKED) == 2
    assert world.customer_total(f.customer) == D("40.00") == world.total(winners[0].primary_card_id)
