"""The merge engine: logged from the cabinet and from staff, undone by staff with every lot's date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.models import Card, CardStatus, Lot, Origin
from bonusbridge.services.cards import choose_primary
from reconciliation.merges import (
    AlreadyUnmerged,
    MergedPointsSpent,
    NotSamePhone,
    PrimaryCardBlocked,
    list_merges,
    merge_cards,
    unmerge,
)
from tests.conftest import FakeClock
from tests.services.conftest import COMPLETE, World

D = Decimal
STAFF = Actor("olga.staff", frozenset({Permission.MERGE}))
PHONE = "+79165550101"


@pytest.fixture
def world(db: Engine, clock: FakeClock) -> Iterator[World]:
    yield World(db, clock)
    with db.connect() as conn:
        assert check_ledger(conn) == []


def family(world: World) -> tuple[int, int, int, int]:
    """A customer with three cards: the first primary; points with different expiry dates."""
    customer = world.customer(phone_e164=PHONE, **COMPLETE)
    first = world.card(customer, primary=True, number="2100 0000 0001")
    second = world.card(customer, number="2100 0000 0002")
    third = world.card(customer, number="2100 0000 0003")
    now = world.clock()
    world.accrue(first, "10.00", expires_at=now + timedelta(days=10))
    world.accrue(second, "25.50", expires_at=now + timedelta(days=100))
    world.accrue(second, "4.50")  # never expires
    world.accrue(third, "7.00", expires_at=now + timedelta(days=5))
    return customer, first, second, third


def lots(world: World, card_id: int) -> list[tuple[Decimal, Any]]:
    with world.uow() as uow:
        rows = uow.session.execute(
            select(Lot.remaining, Lot.expires_at).where(Lot.card_id == card_id, Lot.remaining > 0)
        ).all()
    return sorted(((r.remaining, r.expires_at) for r in rows), key=lambda x: (x[1] is None, x[1], x[0]))


def state(world: World, card_id: int) -> tuple[Any, ...]:
    card = world.get_card(card_id)
    return (card.status, card.status_reason, card.merged_into_id, card.is_primary, card.customer_id)


def do_unmerge(world: World, merge_id: int, key: str = "undo-1", **kwargs: Any) -> Any:
    with world.uow() as uow:
        result = unmerge(uow, merge_id, actor="olga.staff", reason="wrong card chosen", key=key, **kwargs)
        uow.commit()
        return result


def test_a_cabinet_merge_is_logged_with_the_customer_as_actor_and_website_as_origin(world):
    customer, first, second, third = family(world)
    with world.uow() as uow:
        choose_primary(uow, customer, third, key="cab-1", origin=Origin.WEBSITE)
        uow.commit()
    with world.uow() as uow:
        [entry] = list_merges(uow.session)
    assert (entry.actor, entry.origin, entry.primary_card_id) == ("customer", "website", third)
    assert {card.card_id: card.points_moved for card in entry.absorbed} == {
        first: D("10.00"),
        second: D("30.00"),
    }
    assert entry.points_moved == D("40.00") and not entry.unmerged
    assert entry.customer_masked == "И*** М***" and entry.primary_card_masked.endswith("0003")
    assert "2100" not in entry.primary_card_masked
    # A replay of the same key logs nothing more.
    with world.uow() as uow:
        assert choose_primary(uow, customer, third, key="cab-1", origin=Origin.WEBSITE).replayed
        uow.commit()
    with world.uow() as uow:
        assert len(list_merges(uow.session)) == 1


def test_a_staff_merge_absorbs_only_the_named_cards_and_is_logged_with_actor_and_reason(world):
    customer, first, second, third = family(world)
    with world.uow() as uow:
        result = merge_cards(uow, customer, second, [third], actor=STAFF, reason="ticket 42", key="m-1")
        uow.commit()
    assert result.absorbed_card_ids == (third,) and result.points_moved == D("7.00")
    assert world.total(second) == D("37.00") and world.total(first) == D("10.00")
    assert state(world, third)[:3] == (CardStatus.BLOCKED, "merged into 210000000002", second)
    assert state(world, second)[3] is True and state(world, first)[3] is False
    with world.uow() as uow:
        [entry] = list_merges(uow.session)
        again = merge_cards(uow, customer, second, [third], actor=STAFF, reason="ticket 42", key="m-1")
    assert (entry.actor, entry.origin, entry.reason) == ("olga.staff", "admin", "ticket 42")
    assert again.replayed and again == result


def test_staff_bind_an_unowned_duplicate_of_the_same_phone_and_unmerge_unbinds_it(world):
    customer, first, _second, _third = family(world)
    stray = world.card(None, number="7700 0000 0077")
    with world.uow() as uow:
        card = uow.session.get(Card, stray)
        card.phone_e164 = PHONE
        uow.commit()
    world.accrue(stray, "3.00")
    other = world.card(None, number="7700 0000 0078")
    with world.uow() as uow, pytest.raises(NotSamePhone):
        merge_cards(uow, customer, first, [other], actor=STAFF, reason="dup", key="m-x")
    with world.uow() as uow:
        result = merge_cards(uow, customer, first, [stray], actor=STAFF, reason="dup", key="m-2")
        uow.commit()
    assert result.bound_card_ids == (stray,) and world.total(first) == D("13.00")
    do_unmerge(world, result.merge_id)
    assert world.get_card(stray).customer_id is None and world.total(stray) == D("3.00")
    assert world.get_card(stray).status is CardStatus.ACTIVE


def test_staff_without_the_merge_permission_or_a_reason_are_refused(world):
    customer, first, second, _ = family(world)
    with world.uow() as uow, pytest.raises(errors.PermissionDenied):
        merge_cards(uow, customer, first, [second], actor=Actor("guest"), reason="x", key="m-3")
    with world.uow() as uow, pytest.raises(errors.MissingReason):
        merge_cards(uow, customer, first, [second], actor=STAFF, reason="  ", key="m-3")


def test_unmerge_restores_every_card_its_points_with_their_expiry_dates_and_the_primary_flag(world):
    customer, first, second, third = family(world)
    before = {
        card: (state(world, card), lots(world, card), world.total(card)) for card in (first, second, third)
    }
    with world.uow() as uow:
        choose_primary(uow, customer, third, key="cab-2", origin=Origin.WEBSITE)
        uow.commit()
    with world.uow() as uow:
        [entry] = list_merges(uow.session)
    mark = world.mark()
    result = do_unmerge(world, entry.id)
    assert result.points_restored == D("40.00") and not result.partial
    after = {
        card: (state(world, card), lots(world, card), world.total(card)) for card in (first, second, third)
    }
    assert after == before
    # The change reaches 1C like any other: each card and each movement queues a message.
    topics = {(m.topic, m.origin) for m in world.outbox(mark)}
    assert ("card", "admin") in topics and ("movement", "admin") in topics
    with world.uow() as uow:
        [entry] = list_merges(uow.session)
    assert (
        entry.unmerged and entry.unmerged_by == "olga.staff" and entry.unmerge_reason == "wrong card chosen"
    )
    assert {card.points_restored for card in entry.absorbed} == {D("10.00"), D("30.00")}


def test_unmerge_is_idempotent_and_a_second_unmerge_with_another_key_is_refused(world):
    customer, first, second, third = family(world)
    with world.uow() as uow:
        merge = merge_cards(uow, customer, first, [second, third], actor=STAFF, reason="dup", key="m-4")
        uow.commit()
    first_result = do_unmerge(world, merge.merge_id)
    snapshot = world.snapshot()
    again = do_unmerge(world, merge.merge_id)
    assert again.replayed and again == first_result
    assert world.snapshot() == snapshot
    with pytest.raises(AlreadyUnmerged):
        do_unmerge(world, merge.merge_id, key="undo-2")


def test_unmerge_is_refused_when_merged_points_were_spent_and_partial_gives_back_what_is_left(world):
    customer, first, second, third = family(world)
    with world.uow() as uow:
        merge = merge_cards(uow, customer, first, [second, third], actor=STAFF, reason="dup", key="m-5")
        uow.commit()
    # 10.00 of the first card's own points expire first, then the third's 7.00 (day 5), then ...
    with world.uow() as uow:
        uow.ledger.redeem(first, "20.00", key="till-1", origin=Origin.ONEC)
        uow.commit()
    snapshot = world.snapshot()
    with pytest.raises(MergedPointsSpent) as caught:
        do_unmerge(world, merge.merge_id)
    assert world.snapshot() == snapshot
    assert "already spent points" in str(caught.value)
    # Spending took the earliest-expiring lots: the third card's 7.00 (day 5), the first card's own
    # 10.00 (day 10), then 3.00 of the second card's 25.50 (day 100).
    assert {(s.card_id, s.spent) for s in caught.value.spent} == {(third, D("7.00")), (second, D("3.00"))}
    result = do_unmerge(world, merge.merge_id, allow_partial=True)
    assert result.partial
    by_card = {card.card_id: card for card in result.cards}
    assert (by_card[third].restored, by_card[third].spent) == (D("0.00"), D("7.00"))
    assert (by_card[second].restored, by_card[second].spent) == (D("27.00"), D("3.00"))
    assert (world.total(first), world.total(second), world.total(third)) == (D("0.00"), D("27.00"), D("0.00"))
    later = world.clock() + timedelta(days=100)
    assert lots(world, second) == [(D("22.50"), later), (D("4.50"), None)]


def test_points_that_expired_on_the_primary_do_not_block_an_unmerge(world):
    customer, first, _second, third = family(world)
    with world.uow() as uow:
        merge = merge_cards(uow, customer, first, [third], actor=STAFF, reason="dup", key="m-6")
        uow.commit()
    world.clock.advance(timedelta(days=6))  # the third card's 7.00 expired (unswept)
    result = do_unmerge(world, merge.merge_id)
    [card] = result.cards
    assert (card.restored, card.expired, card.spent) == (D("0.00"), D("7.00"), D("0.00"))
    assert world.get_card(third).status is CardStatus.ACTIVE


def test_unmerge_of_an_unknown_merge_or_without_reason_is_refused(world):
    with world.uow() as uow, pytest.raises(errors.BonusBridgeError):
        unmerge(uow, 999, actor="olga.staff", reason="x", key="u")
    with world.uow() as uow, pytest.raises(errors.MissingReason):
        unmerge(uow, 999, actor="olga.staff", reason=" ", key="u")


def test_list_merges_pages_newest_first(world, db):
    customer, first, second, third = family(world)
    with world.uow() as uow:
        merge_cards(uow, customer, first, [second], actor=STAFF, reason="a", key="p-1")
        uow.commit()
    world.clock.advance(timedelta(minutes=1))
    with world.uow() as uow:
        merge_cards(uow, customer, first, [third], actor=STAFF, reason="b", key="p-2")
        uow.commit()
    with world.uow() as uow:
        assert [e.reason for e in list_merges(uow.session)] == ["b", "a"]
        assert [e.reason for e in list_merges(uow.session, limit=1, offset=1)] == ["a"]
    with db.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM card_merge_items")).scalar_one() == 2


def test_unmerge_waits_for_a_checkout_holding_merged_points(world):
    customer, first, _second, third = family(world)
    with world.uow() as uow:
        merge = merge_cards(uow, customer, first, [third], actor=STAFF, reason="dup", key="m-7")
        uow.commit()
    world.hold(first, "12.00")  # takes the third card's 7.00 (day 5) and 5.00 of the first's
    snapshot = world.snapshot()
    with pytest.raises(errors.CardHasPendingHold):
        do_unmerge(world, merge.merge_id)
    assert world.snapshot() == snapshot
    world.clock.advance(timedelta(minutes=20))  # the hold ran out: the unmerge releases it and goes on
    result = do_unmerge(world, merge.merge_id)
    assert result.points_restored == D("7.00") and world.total(third) == D("7.00")


def test_unmerge_is_refused_when_the_primary_was_merged_on_since(world):
    customer, first, second, third = family(world)
    with world.uow() as uow:
        merge = merge_cards(uow, customer, first, [third], actor=STAFF, reason="dup", key="m-8")
        uow.commit()
    with world.uow() as uow:
        merge_cards(uow, customer, second, [first], actor=STAFF, reason="dup", key="m-9")
        uow.commit()
    with pytest.raises(PrimaryCardBlocked):
        do_unmerge(world, merge.merge_id)


def test_the_same_merge_key_with_other_cards_is_an_idempotency_conflict(world):
    customer, first, second, third = family(world)
    with world.uow() as uow:
        merge_cards(uow, customer, first, [second], actor=STAFF, reason="dup", key="m-10")
        uow.commit()
    with world.uow() as uow, pytest.raises(errors.IdempotencyConflict):
        merge_cards(uow, customer, first, [third], actor=STAFF, reason="dup", key="m-10")
