"""Each ledger rule of the foundation issue, one test at a time, on the configured real database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.ledger.intents import parse_amount
from bonusbridge.ledger.statements import movements, operations
from bonusbridge.models import CardStatus, HoldStatus, MovementKind, Origin

D = Decimal
WEB = Origin.WEBSITE
STAFF = Actor("ivanova", frozenset({Permission.ADJUST}))


def snapshot(db):
    """Everything a refused call must leave untouched."""
    with db.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(movements)).scalar_one(),
            conn.execute(select(func.count()).select_from(operations)).scalar_one(),
            conn.exec_driver_sql("SELECT card_id, total, held FROM card_balances ORDER BY card_id").all(),
            conn.exec_driver_sql("SELECT id, remaining, held FROM lots ORDER BY id").all(),
            conn.exec_driver_sql("SELECT id, status, captured FROM holds ORDER BY id").all(),
        )


@pytest.fixture(autouse=True)
def ledger_stays_consistent(db):
    yield
    with db.connect() as conn:
        assert check_ledger(conn) == []


# --------------------------------------------------------------------------- amounts


@pytest.mark.parametrize("bad", ["0", 0, "-1", "1.001", "abc", "NaN", "Infinity", 1.5, "10000000000000.00"])
def test_invalid_amounts_are_refused_before_anything(ledger, make_card, db, bad):
    card = make_card()
    before = snapshot(db)
    with pytest.raises(errors.InvalidAmount):
        ledger.accrue(card, bad, key="k", origin=WEB)
    assert snapshot(db) == before


def test_amounts_are_exact_decimals_with_two_places(ledger, make_card):
    card = make_card()
    for index in range(10):
        ledger.accrue(card, "0.10", key=f"dime-{index}", origin=WEB)
    balance = ledger.balance(card)
    assert balance.available == D("1.00")
    assert isinstance(balance.available, Decimal)
    assert parse_amount(5) == D("5.00")


# --------------------------------------------------------------------------- accrual and redemption


def test_redeem_spends_and_never_overdraws(ledger, make_card, db):
    card = make_card()
    ledger.accrue(card, D("100"), key="a", origin=WEB)
    ledger.redeem(card, D("60"), key="r1", origin=WEB)
    before = snapshot(db)
    with pytest.raises(errors.InsufficientBalance) as refused:
        ledger.redeem(card, D("40.01"), key="r2", origin=WEB)
    assert refused.value.available == D("40.00")
    assert snapshot(db) == before
    ledger.redeem(card, D("40"), key="r3", origin=WEB)
    assert ledger.balance(card).available == D("0")


def test_unknown_card(ledger, make_card):
    make_card()
    with pytest.raises(errors.UnknownCard):
        ledger.accrue(999_999, D("1"), key="k", origin=WEB)


def test_blocked_card_accepts_nothing(ledger, make_card, db):
    card = make_card()
    ledger.accrue(card, D("50"), key="a", origin=WEB)
    blocked = make_card(status=CardStatus.BLOCKED)
    before = snapshot(db)
    attempts = [
        lambda: ledger.accrue(blocked, D("1"), key="b1", origin=WEB),
        lambda: ledger.redeem(blocked, D("1"), key="b2", origin=WEB),
        lambda: ledger.hold(blocked, D("1"), key="b3", origin=WEB),
        lambda: ledger.transfer(card, blocked, D("1"), key="b4", origin=WEB),
        lambda: ledger.transfer(blocked, card, D("1"), key="b5", origin=WEB),
        lambda: ledger.adjust(blocked, D("1"), key="b6", origin=Origin.ADMIN, actor=STAFF, reason="fix"),
    ]
    for attempt in attempts:
        with pytest.raises(errors.CardBlocked):
            attempt()
    assert snapshot(db) == before


def test_accumulation_only_card_accrues_but_refuses_spending(ledger, make_card, db):
    card = make_card(status=CardStatus.ACCUMULATION_ONLY)
    ledger.accrue(card, D("80"), key="a", origin=Origin.ONEC)
    before = snapshot(db)
    with pytest.raises(errors.AccumulationOnly):
        ledger.redeem(card, D("10"), key="r", origin=WEB)
    with pytest.raises(errors.AccumulationOnly):
        ledger.hold(card, D("10"), key="h", origin=WEB)
    assert snapshot(db) == before
    assert ledger.balance(card).available == D("80")


def test_a_till_receipt_1c_already_posted_is_recorded_on_an_accumulation_only_card(ledger, make_card):
    """1C's tills enforce the lock themselves; what one posted anyway (before 1C learned the
    status) happened, and the hub records it rather than disagree with 1C's register."""
    card = make_card(status=CardStatus.ACCUMULATION_ONLY)
    ledger.accrue(card, D("80"), key="a", origin=Origin.ONEC)
    ledger.redeem(card, D("10"), key="till-r", origin=Origin.ONEC)
    assert ledger.balance(card).available == D("70")
    with pytest.raises(errors.AccumulationOnly):
        ledger.redeem(card, D("10"), key="r", origin=WEB)


def test_accumulation_only_card_may_still_be_merged_away(ledger, make_card):
    source = make_card(status=CardStatus.ACCUMULATION_ONLY)
    target = make_card()
    ledger.accrue(source, D("25"), key="a", origin=WEB)
    moved = ledger.transfer(source, target, key="merge", origin=WEB)
    assert moved is not None and moved.amount == D("25")


# --------------------------------------------------------------------------- lots, pending points and expiry


def test_pending_points_are_not_spendable_until_available(ledger, make_card, clock):
    card = make_card()
    ledger.accrue(card, D("30"), key="a", origin=WEB, available_from=clock.now + timedelta(days=14))
    balance = ledger.balance(card)
    assert (balance.available, balance.pending, balance.total) == (D("0"), D("30"), D("30"))
    with pytest.raises(errors.InsufficientBalance):
        ledger.redeem(card, D("1"), key="r1", origin=WEB)
    clock.advance(timedelta(days=14))
    assert ledger.balance(card).available == D("30")
    ledger.redeem(card, D("30"), key="r2", origin=WEB)


def test_debits_consume_earliest_expiry_first_never_expiring_last(ledger, make_card, clock, db):
    card = make_card()
    now = clock.now
    forever = ledger.accrue(card, D("10"), key="forever", origin=WEB)
    late = ledger.accrue(card, D("10"), key="late", origin=WEB, expires_at=now + timedelta(days=90))
    soon = ledger.accrue(card, D("10"), key="soon", origin=WEB, expires_at=now + timedelta(days=10))
    ledger.redeem(card, D("15"), key="r", origin=WEB)
    with db.connect() as conn:
        remaining = dict(conn.exec_driver_sql("SELECT movement_id, remaining FROM lots").all())
    as_points = {k: D(str(v)) / (100 if db.dialect.name == "sqlite" else 1) for k, v in remaining.items()}
    assert as_points[soon.id] == 0
    assert as_points[late.id] == D("5")
    assert as_points[forever.id] == D("10")


def test_expired_points_are_not_available_and_expire_due_writes_them_off(ledger, make_card, clock):
    card = make_card()
    ledger.accrue(card, D("40"), key="a", origin=WEB, expires_at=clock.now + timedelta(days=30))
    ledger.accrue(card, D("5"), key="b", origin=WEB)
    assert ledger.balance(card).expiring_soon == D("40")
    clock.advance(timedelta(days=31))
    balance = ledger.balance(card)
    assert (balance.available, balance.expired_unswept) == (D("5"), D("40"))
    with pytest.raises(errors.InsufficientBalance):
        ledger.redeem(card, D("6"), key="r", origin=WEB)
    written = ledger.expire_due(clock.now)
    assert [(m.kind, m.amount) for m in written] == [(MovementKind.EXPIRY, D("-40"))]
    assert ledger.expire_due(clock.now) == []  # running it again expires nothing twice
    balance = ledger.balance(card)
    assert (balance.total, balance.available, balance.expired_unswept) == (D("5"), D("5"), D("0"))


def test_expire_due_resumes_under_the_same_key(ledger, make_card, clock):
    cards = [make_card() for _ in range(3)]
    for index, card in enumerate(cards):
        ledger.accrue(card, D("10"), key=f"a{index}", origin=WEB, expires_at=clock.now + timedelta(days=1))
    clock.advance(timedelta(days=2))
    ledger.run(lambda book: book.expire_card(cards[0], key=f"nightly/card/{cards[0]}", as_of=clock.now))
    finished = ledger.expire_due(clock.now, key="nightly")
    assert sorted(m.card_id for m in finished) == cards[1:]
    assert all(ledger.balance(card).total == 0 for card in cards)


# --------------------------------------------------------------------------- holds


def test_hold_then_partial_capture_releases_the_rest(ledger, make_card):
    card = make_card()
    ledger.accrue(card, D("100"), key="a", origin=WEB)
    hold = ledger.hold(card, D("70"), key="h", origin=WEB, document="order-1")
    balance = ledger.balance(card)
    assert (balance.available, balance.held) == (D("30"), D("70"))
    spent = ledger.capture(hold.id, D("50"), key="c", origin=WEB)
    assert (spent.kind, spent.amount, spent.document) == (MovementKind.REDEMPTION, D("-50"), "order-1")
    balance = ledger.balance(card)
    assert (balance.available, balance.held, balance.total) == (D("50"), D("0"), D("50"))


def test_void_releases_everything_and_second_resolution_is_refused(ledger, make_card, db):
    card = make_card()
    ledger.accrue(card, D("20"), key="a", origin=WEB)
    hold = ledger.hold(card, D("20"), key="h", origin=WEB)
    with pytest.raises(errors.InsufficientBalance):
        ledger.redeem(card, D("1"), key="r", origin=WEB)
    voided = ledger.void(hold.id, key="v", origin=WEB)
    assert voided.status is HoldStatus.VOIDED
    assert ledger.balance(card).available == D("20")
    before = snapshot(db)
    with pytest.raises(errors.HoldNotPending):
        ledger.capture(hold.id, key="c", origin=WEB)
    with pytest.raises(errors.HoldNotPending):
        ledger.void(hold.id, key="v2", origin=WEB)
    assert snapshot(db) == before


def test_capture_above_hold_unknown_and_expired_holds_are_refused(ledger, make_card, clock, db):
    card = make_card()
    ledger.accrue(card, D("50"), key="a", origin=WEB)
    hold = ledger.hold(card, D("30"), key="h", origin=WEB)
    before = snapshot(db)
    with pytest.raises(errors.CaptureExceedsHold):
        ledger.capture(hold.id, D("30.01"), key="c1", origin=WEB)
    with pytest.raises(errors.UnknownHold):
        ledger.capture(424242, key="c2", origin=WEB)
    with pytest.raises(errors.UnknownHold):
        ledger.void(424242, key="v", origin=WEB)
    clock.advance(timedelta(minutes=16))
    with pytest.raises(errors.HoldExpired):
        ledger.capture(hold.id, key="c3", origin=WEB)
    assert snapshot(db) == before


def test_hold_not_captured_within_ttl_is_released(ledger, make_card, clock):
    card = make_card()
    ledger.accrue(card, D("50"), key="a", origin=WEB)
    ledger.hold(card, D("50"), key="h", origin=WEB)
    clock.advance(timedelta(minutes=15))
    assert ledger.release_expired_holds() == D("50")
    assert ledger.balance(card).available == D("50")


def test_abandoned_hold_does_not_block_a_later_redemption(ledger, make_card, clock):
    card = make_card()
    ledger.accrue(card, D("50"), key="a", origin=WEB)
    ledger.hold(card, D("50"), key="h", origin=WEB)
    clock.advance(timedelta(hours=1))
    ledger.redeem(card, D("50"), key="r", origin=WEB)  # releases the stale hold itself
    assert ledger.balance(card).total == 0


# --------------------------------------------------------------------------- transfers


def test_transfer_keeps_each_lots_expiry_date(ledger, make_card, clock, db):
    source, target = make_card(program="legacy-gold"), make_card()
    early, late = clock.now + timedelta(days=20), clock.now + timedelta(days=200)
    ledger.accrue(source, D("12"), key="a1", origin=Origin.MIGRATION, expires_at=late)
    ledger.accrue(source, D("8"), key="a2", origin=Origin.MIGRATION, expires_at=early)
    ledger.accrue(
        source, D("3"), key="a3", origin=Origin.MIGRATION, available_from=clock.now + timedelta(days=5)
    )
    moved = ledger.transfer(source, target, key="merge-1", origin=WEB, reason="primary card chosen")
    assert moved is not None
    assert (moved.outgoing.amount, moved.incoming.amount) == (D("-23"), D("23"))
    balance = ledger.balance(target)
    assert (balance.available, balance.pending, balance.expiring_soon) == (D("20"), D("3"), D("8"))
    assert balance.next_expiry == early
    assert ledger.balance(source).total == 0
    assert ledger.transfer(source, target, key="merge-2", origin=WEB) is None


def test_transfer_lots_moves_exactly_the_named_lots_with_their_dates(make_card, clock, db):
    """What an unmerge needs: not the soonest-expiring points, but these lots, dates kept."""
    from sqlalchemy import select as select_

    from bonusbridge.ledger.book import LotPart
    from bonusbridge.models import Lot
    from bonusbridge.unit_of_work import UnitOfWork

    source, target = make_card(program="legacy-gold"), make_card()
    early, late = clock.now + timedelta(days=20), clock.now + timedelta(days=200)
    with UnitOfWork(db, clock=clock) as uow:
        uow.ledger.accrue(source, D("12"), key="a1", origin=Origin.MIGRATION, expires_at=late)
        uow.ledger.accrue(source, D("8"), key="a2", origin=Origin.MIGRATION, expires_at=early)
        uow.commit()
    with UnitOfWork(db, clock=clock) as uow:
        late_lot = uow.session.scalars(
            select_(Lot).where(Lot.card_id == source, Lot.expires_at == late)
        ).one()
        part = LotPart(late_lot.id, D("5"), late_lot.available_from, late_lot.expires_at)
        first = uow.ledger.transfer_lots(
            source, target, [part], key="undo-1", origin=WEB, actor="staff", reason="r"
        )
        again = uow.ledger.transfer_lots(
            source, target, [part], key="undo-1", origin=WEB, actor="staff", reason="r"
        )
        uow.commit()
    assert first is not None and again == first  # a replay changes nothing
    with UnitOfWork(db, clock=clock) as uow:
        moved = uow.ledger.balance(target)
        left = uow.ledger.balance(source)
    assert (moved.total, moved.next_expiry, moved.expiring_soon) == (D("5"), late, D("0"))
    assert (left.total, left.expiring_soon) == (D("15"), D("8"))  # the early lot stayed where it was
    with db.connect() as conn:
        assert check_ledger(conn) == []


def test_transfer_of_everything_keeps_a_live_hold_but_takes_an_abandoned_one(ledger, make_card, clock):
    """A live checkout keeps its reserved points; an abandoned one (hold expired) gives them back,
    so moving "everything" to the primary card leaves nothing stranded on the blocked one."""
    source, target = make_card(), make_card()
    ledger.accrue(source, D("10"), key="a", origin=WEB)
    ledger.hold(source, D("4"), key="h", origin=WEB)
    first = ledger.transfer(source, target, key="all-1", origin=WEB)
    assert first is not None and first.incoming.amount == D("6")
    clock.advance(timedelta(hours=1))
    second = ledger.transfer(source, target, key="all-2", origin=WEB)
    assert second is not None and second.incoming.amount == D("4")
    assert (ledger.balance(source).total, ledger.balance(target).total) == (D("0"), D("10"))


def test_partial_transfer_and_its_refusals(ledger, make_card, db):
    source, target = make_card(), make_card()
    ledger.accrue(source, D("10"), key="a", origin=WEB)
    ledger.transfer(source, target, D("4"), key="t", origin=WEB)
    assert (ledger.balance(source).total, ledger.balance(target).total) == (D("6"), D("4"))
    before = snapshot(db)
    with pytest.raises(errors.SameCardTransfer):
        ledger.transfer(source, source, D("1"), key="t2", origin=WEB)
    with pytest.raises(errors.InsufficientBalance):
        ledger.transfer(source, target, D("6.01"), key="t3", origin=WEB)
    with pytest.raises(errors.UnknownCard):
        ledger.transfer(source, 987654, D("1"), key="t4", origin=WEB)
    assert snapshot(db) == before


# --------------------------------------------------------------------------- adjustments and reversals


def test_adjust_needs_permission_and_reason(ledger, make_card, db):
    card = make_card()
    before = snapshot(db)
    with pytest.raises(errors.PermissionDenied):
        ledger.adjust(card, D("5"), key="x", origin=Origin.ADMIN, actor=Actor("cashier"), reason="gift")
    with pytest.raises(errors.MissingReason):
        ledger.adjust(card, D("5"), key="x", origin=Origin.ADMIN, actor=STAFF, reason="  ")
    assert snapshot(db) == before
    credit = ledger.adjust(card, D("5"), key="x", origin=Origin.ADMIN, actor=STAFF, reason="complaint #12")
    assert (credit.actor, credit.reason) == ("ivanova", "complaint #12")
    ledger.adjust(card, D("-2"), key="y", origin=Origin.ADMIN, actor=STAFF, reason="double accrual")
    with pytest.raises(errors.InsufficientBalance):
        ledger.adjust(card, D("-4"), key="z", origin=Origin.ADMIN, actor=STAFF, reason="too much")
    assert ledger.balance(card).total == D("3")


def test_reverse_a_refunded_purchase_in_parts(ledger, make_card):
    card = make_card()
    earned = ledger.accrue(card, D("30"), key="order-7", origin=WEB, document="order-7")
    ledger.accrue(card, D("5"), key="other", origin=WEB)
    first = ledger.reverse(earned.id, D("10"), key="refund-7a", origin=WEB)
    assert (first.kind, first.amount, first.reverses_id, first.document) == (
        MovementKind.REVERSAL,
        D("-10"),
        earned.id,
        "order-7",
    )
    ledger.reverse(earned.id, key="refund-7b", origin=WEB)  # the remaining 20
    assert ledger.balance(card).total == D("5")
    with pytest.raises(errors.NotReversible):
        ledger.reverse(earned.id, key="refund-7c", origin=WEB)


def test_reversal_cannot_exceed_what_is_left(ledger, make_card):
    card = make_card()
    earned = ledger.accrue(card, D("30"), key="a", origin=WEB)
    ledger.reverse(earned.id, D("25"), key="r1", origin=WEB)
    with pytest.raises(errors.InvalidAmount):
        ledger.reverse(earned.id, D("5.01"), key="r2", origin=WEB)


def test_refund_of_spent_points_restores_them_with_their_expiry(ledger, make_card, clock):
    card = make_card()
    expiry = clock.now + timedelta(days=60)
    ledger.accrue(card, D("50"), key="a", origin=WEB, expires_at=expiry)
    spent = ledger.redeem(card, D("40"), key="pay", origin=WEB, document="order-9")
    restored = ledger.reverse(spent.id, key="refund-9", origin=WEB)
    assert restored.amount == D("40")
    balance = ledger.balance(card, expiring_within=timedelta(days=61))
    assert (balance.available, balance.expiring_soon, balance.next_expiry) == (D("50"), D("50"), expiry)


def test_reversing_points_already_spent_is_refused(ledger, make_card, db):
    card = make_card()
    earned = ledger.accrue(card, D("30"), key="a", origin=WEB)
    ledger.redeem(card, D("30"), key="spent", origin=WEB)
    before = snapshot(db)
    with pytest.raises(errors.InsufficientBalance):
        ledger.reverse(earned.id, key="refund", origin=WEB)
    assert snapshot(db) == before


def test_transfers_and_expiries_are_not_reversible(ledger, make_card):
    source, target = make_card(), make_card()
    ledger.accrue(source, D("5"), key="a", origin=WEB)
    moved = ledger.transfer(source, target, key="t", origin=WEB)
    assert moved is not None
    with pytest.raises(errors.NotReversible):
        ledger.reverse(moved.incoming.id, key="r", origin=WEB)
    with pytest.raises(errors.UnknownMovement):
        ledger.reverse(10_000_000, key="r2", origin=WEB)


# --------------------------------------------------------------------------- idempotency


def test_same_key_same_arguments_returns_first_result_and_writes_nothing(ledger, make_card, db):
    card, other = make_card(), make_card()
    first = ledger.accrue(card, D("10"), key="receipt-1", origin=Origin.ONEC, document="ЧК-1")
    before = snapshot(db)
    again = ledger.accrue(card, D("10"), key="receipt-1", origin=Origin.ONEC, document="ЧК-1")
    assert again == first and again.replayed and not first.replayed
    hold = ledger.hold(card, D("4"), key="h", origin=WEB)
    assert ledger.hold(card, D("4"), key="h", origin=WEB) == hold
    capture = ledger.capture(hold.id, D("3"), key="c", origin=WEB)
    assert ledger.capture(hold.id, D("3"), key="c", origin=WEB) == capture
    moved = ledger.transfer(card, other, D("2"), key="t", origin=WEB)
    assert ledger.transfer(card, other, D("2"), key="t", origin=WEB) == moved
    after_ops = snapshot(db)
    for _ in range(3):
        ledger.accrue(card, D("10"), key="receipt-1", origin=Origin.ONEC, document="ЧК-1")
        ledger.capture(hold.id, D("3"), key="c", origin=WEB)
        ledger.transfer(card, other, D("2"), key="t", origin=WEB)
    assert snapshot(db) == after_ops
    assert before != after_ops


def test_same_key_other_arguments_is_an_error(ledger, make_card, db):
    card = make_card()
    ledger.accrue(card, D("10"), key="receipt-1", origin=Origin.ONEC)
    before = snapshot(db)
    with pytest.raises(errors.IdempotencyConflict):
        ledger.accrue(card, D("11"), key="receipt-1", origin=Origin.ONEC)
    with pytest.raises(errors.IdempotencyConflict):
        ledger.redeem(card, D("10"), key="receipt-1", origin=Origin.ONEC)
    assert snapshot(db) == before
    # Keys are scoped per origin: the website may use the same text for its own order.
    ledger.accrue(card, D("11"), key="receipt-1", origin=WEB)


def test_a_refused_call_can_be_retried_with_its_key(ledger, make_card):
    card = make_card()
    with pytest.raises(errors.InsufficientBalance):
        ledger.redeem(card, D("5"), key="order-1", origin=WEB)
    ledger.accrue(card, D("5"), key="a", origin=WEB)
    assert ledger.redeem(card, D("5"), key="order-1", origin=WEB).amount == D("-5")


def test_replay_after_status_change_still_returns_the_first_result(ledger, make_card, db):
    from bonusbridge.unit_of_work import UnitOfWork

    card = make_card()
    first = ledger.accrue(card, D("10"), key="k", origin=WEB)
    with UnitOfWork(db) as uow:
        row = uow.cards.get(card)
        assert row is not None
        row.status = CardStatus.BLOCKED
        uow.commit()
    assert ledger.accrue(card, D("10"), key="k", origin=WEB) == first


def test_replay_after_the_expiry_date_passed_still_returns_the_first_result(ledger, make_card, clock, db):
    """Found by the stateful test: the date check must not turn a replay into a refusal."""
    card = make_card()
    soon = clock.now + timedelta(minutes=15)
    first = ledger.accrue(card, D("10"), key="k1", origin=Origin.ONEC, expires_at=soon)
    bonus = ledger.adjust(
        card, D("5"), key="adj", origin=Origin.ADMIN, actor=STAFF, reason="gift", expires_at=soon
    )
    clock.advance(timedelta(minutes=15))
    before = snapshot(db)
    assert ledger.accrue(card, D("10"), key="k1", origin=Origin.ONEC, expires_at=soon) == first
    assert (
        ledger.adjust(
            card, D("5"), key="adj", origin=Origin.ADMIN, actor=STAFF, reason="gift", expires_at=soon
        )
        == bonus
    )
    assert snapshot(db) == before
    with pytest.raises(errors.InvalidDates):
        ledger.accrue(card, D("10"), key="k2", origin=Origin.ONEC, expires_at=soon)
    assert snapshot(db) == before


def test_a_client_key_cannot_collide_with_a_transfers_incoming_half(ledger, make_card):
    """Found by the stateful test: the incoming half used to be stored as '<key>/in'."""
    source, target = make_card(), make_card()
    ledger.accrue(source, D("5"), key="t/in", origin=WEB)
    moved = ledger.transfer(source, target, D("1"), key="t", origin=WEB)
    assert moved is not None
    assert moved.outgoing.external_id == moved.incoming.external_id == "t"


def test_reversing_an_expired_unswept_accrual_takes_its_own_points(ledger, make_card, clock):
    """Found by the stateful test: it used to take the customer's other points, then the sweep
    wrote the expired ones off too."""
    card = make_card()
    promo = ledger.accrue(
        card, D("10"), key="promo", origin=Origin.ONEC, expires_at=clock.now + timedelta(days=1)
    )
    ledger.accrue(card, D("10"), key="receipt", origin=Origin.ONEC)
    clock.advance(timedelta(days=2))
    ledger.reverse(promo.id, key="undo", origin=Origin.ONEC)
    ledger.expire_due(key="nightly")
    balance = ledger.balance(card)
    assert (balance.total, balance.available) == (D("10"), D("10"))


def test_a_repeated_hold_returns_the_hold_as_first_created(ledger, make_card):
    card = make_card()
    ledger.accrue(card, D("5"), key="a", origin=WEB)
    hold = ledger.hold(card, D("2"), key="h", origin=WEB)
    ledger.capture(hold.id, key="cap", origin=WEB)
    again = ledger.hold(card, D("2"), key="h", origin=WEB)
    assert again == hold and again.status is HoldStatus.PENDING and again.replayed


def test_the_actor_is_part_of_the_request(ledger, make_card):
    card = make_card()
    ledger.accrue(card, D("5"), key="a", origin=Origin.ONEC, actor="till-7")
    with pytest.raises(errors.IdempotencyConflict):
        ledger.accrue(card, D("5"), key="a", origin=Origin.ONEC, actor="till-8")


def test_moving_everything_releases_stale_holds_first(ledger, make_card, clock):
    source, target = make_card(), make_card()
    ledger.accrue(source, D("8"), key="a", origin=WEB)
    ledger.hold(source, D("8"), key="h", origin=WEB)
    clock.advance(timedelta(hours=1))
    moved = ledger.transfer(source, target, key="merge", origin=WEB)
    assert moved is not None and moved.amount == D("8")
    assert ledger.balance(source).total == 0
