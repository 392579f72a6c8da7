"""Issue 18 item 4: in УТ 11 bonuses belong to the partner, not to a card.

Against the live ut11 emulator (Иванов has two cards, 2000000000011 and 2000000000028, and 750
points on the partner) and the hub database of the run (SQLite, or PostgreSQL + the fast path):
every card of a partner shows and spends the partner's one balance (``ledger.accounts``), a merge
in УТ 11 only changes card statuses, and retail keeps a balance per card.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bonusbridge.errors import CardBlocked
from bonusbridge.ledger import accounts
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import (
    Card,
    CardStatus,
    HoldStatus,
    InboxMessage,
    Movement,
    MovementKind,
    Origin,
    OutboxMessage,
    SyncState,
)
from bonusbridge.services.cards import merge_locked
from bonusbridge.unit_of_work import UnitOfWork
from connectors.sync.accounts import share_all
from connectors.sync.outbound import push_movement
from connectors.sync.pull import pull_full
from reconciliation.compare import DifferenceKind, compare_hub_with_onec
from tests.onec_live import PARTNER_IVANOV
from tests.sync.conftest import Harness

FIRST, SECOND = "2000000000011", "2000000000028"
DOCS = "Document_НачислениеИСписаниеБонусныхБаллов"


@pytest.fixture
def h(ut11, db):
    harness = Harness(ut11, db)
    yield harness
    harness.close()


def card_of(h: Harness, number: str) -> Card:
    with h.ctx.session_factory() as session:
        card = session.scalars(select(Card).where(Card.number == number)).one()
        session.expunge(card)
        return card


def shown(h: Harness, *numbers: str) -> list[Decimal]:
    """What the hub shows for each card (the balance read of the cabinet and the shop API)."""
    ids = [card_of(h, n).id for n in numbers]
    with h.ctx.engine.connect() as conn:
        views = LedgerBook(conn, now=h.ctx.clock()).balances(ids)
    return [views[i].total for i in ids]


def parked(h: Harness) -> list[str]:
    with h.ctx.session_factory() as s:
        rows = s.scalars(select(InboxMessage).where(InboxMessage.state == SyncState.PARKED)).all()
        return [str(r.last_error) for r in rows]


def balance_differences(h: Harness) -> list[object]:
    """``reconcile balances``: the partner's points in the hub against 1C's register."""
    result = compare_hub_with_onec(h.ctx.engine, h.ctx.client, h.ctx.profile)
    balance_kinds = (DifferenceKind.PARTNER_BALANCE, DifferenceKind.CARD_BALANCE)
    return [d for d in result.differences if d.kind in balance_kinds]


def test_every_card_of_a_partner_shows_the_partners_balance(h):
    pull_full(h.ctx)
    first, second = card_of(h, FIRST), card_of(h, SECOND)
    assert shown(h, FIRST, SECOND) == [Decimal("750.00"), Decimal("750.00")]
    with h.ctx.engine.connect() as conn:
        assert accounts.account_card(conn, first.id) == accounts.account_card(conn, second.id)
        # The partner's points are counted once in the ledger, not once per card.
        total = conn.scalar(
            select(func.sum(Movement.amount)).where(Movement.card_id.in_([first.id, second.id]))
        )
    assert total == Decimal("750.00") == h.onec_balance(PARTNER_IVANOV)
    service = LedgerService(h.ctx.engine, clock=h.ctx.clock)
    assert service.balance(second.id).available == Decimal("750.00")


def test_a_till_spend_on_the_second_card_applies_and_the_partner_agrees_with_1c(h):
    pull_full(h.ctx)
    h.till(SECOND, redeemed="30")
    h.sync()
    assert parked(h) == []
    with h.ctx.session_factory() as s:
        waiting = s.scalars(select(InboxMessage).where(InboxMessage.state != SyncState.DONE)).all()
        assert [(w.state, w.last_error) for w in waiting if w.state is not SyncState.SKIPPED] == []
    assert shown(h, FIRST, SECOND) == [Decimal("720.00"), Decimal("720.00")]
    assert h.onec_balance(PARTNER_IVANOV) == Decimal("720")
    h.till(FIRST, accrued="5")
    h.sync()
    assert (
        shown(h, FIRST, SECOND)
        == [Decimal("725.00"), Decimal("725.00")]
        == [h.onec_balance(PARTNER_IVANOV)] * 2
    )
    assert balance_differences(h) == []


def test_holds_and_captures_on_the_second_card_spend_the_partners_points(h):
    pull_full(h.ctx)
    second = card_of(h, SECOND)
    service = LedgerService(h.ctx.engine, clock=h.ctx.clock)
    hold = service.hold(second.id, "100", key="checkout-1", origin=Origin.WEBSITE)
    assert hold.status is HoldStatus.PENDING
    assert [service.balance(card_of(h, n).id).available for n in (FIRST, SECOND)] == [Decimal("650.00")] * 2
    service.capture(hold.id, "40", key="capture-1", origin=Origin.WEBSITE)
    service.redeem(second.id, "10", key="spend-1", origin=Origin.WEBSITE)
    assert shown(h, FIRST, SECOND) == [Decimal("700.00")] * 2
    h.sync()  # the hub's spending reaches 1C as the partner's
    assert h.onec_balance(PARTNER_IVANOV) == Decimal("700")


def test_a_merge_in_ut11_only_changes_statuses_and_a_till_receipt_on_the_merged_card_applies(h):
    pull_full(h.ctx)
    h.sync()
    first, second = card_of(h, FIRST), card_of(h, SECOND)
    with h.ctx.engine.connect() as conn:
        outbox_before = conn.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.topic == "movement")
        )
    with UnitOfWork(h.ctx.engine) as uow:
        cards = [uow.session.get_one(Card, first.id), uow.session.get_one(Card, second.id)]
        record = merge_locked(
            uow,
            cards[0].customer_id,
            cards[1],
            [cards[0]],
            cards,
            key="merge-ut11",
            origin=Origin.WEBSITE,
            actor=None,
            note="cabinet",
        )
        uow.commit()
    assert record is not None and record.points_moved == 0
    assert card_of(h, FIRST).status is CardStatus.BLOCKED
    assert shown(h, FIRST, SECOND) == [Decimal("750.00")] * 2
    with h.ctx.engine.connect() as conn:
        moved = conn.scalar(
            select(func.count())
            .select_from(Movement)
            .where(Movement.kind.in_([MovementKind.TRANSFER_IN, MovementKind.TRANSFER_OUT]))
        )
        outbox_after = conn.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.topic == "movement")
        )
    assert moved == 0 and outbox_after == outbox_before  # no points to send to 1C
    # Before 1C learns the new status a till still takes the merged card, and 1C posts the
    # receipt: a fact for the partner's balance, not a change to park as "card is blocked".
    h.till(FIRST, accrued="25")
    h.sync()
    with h.ctx.session_factory() as session:
        assert session.get_one(Card, first.id).status is CardStatus.BLOCKED
    assert parked(h) == []
    assert shown(h, FIRST, SECOND) == [Decimal("775.00")] * 2 == [h.onec_balance(PARTNER_IVANOV)] * 2
    # The website cannot spend on the merged card; the partner's other card can.
    service = LedgerService(h.ctx.engine, clock=h.ctx.clock)
    with pytest.raises(CardBlocked):
        service.hold(first.id, "10", key="blocked-hold", origin=Origin.WEBSITE)
    service.hold(second.id, "10", key="ok-hold", origin=Origin.WEBSITE)
    with h.ctx.engine.connect() as conn:
        assert check_ledger(conn) == []


def test_retail_keeps_a_balance_per_card(retail, db):
    h = Harness(retail, db)
    try:
        pull_full(h.ctx)
        with h.ctx.engine.connect() as conn:
            named = conn.scalar(
                select(func.count()).select_from(Card).where(Card.account_card_id.is_not(None))
            )
        assert named == 0
        ids = [c.id for c in (card_of(h, FIRST), card_of(h, SECOND))]
        with h.ctx.engine.connect() as conn:
            assert accounts.accounts_of(conn, ids) == {i: i for i in ids}
    finally:
        h.close()


def transfer_halves(h: Harness, key: str) -> tuple[int, int]:
    with h.ctx.session_factory() as s:
        rows = s.execute(select(Movement.id, Movement.kind).where(Movement.external_id == key)).all()
    kinds = {kind: movement_id for movement_id, kind in rows}
    return kinds[MovementKind.TRANSFER_OUT], kinds[MovementKind.TRANSFER_IN]


def delivered_in_order(h: Harness, monkeypatch: pytest.MonkeyPatch, movement_id: int) -> list[str]:
    """Deliver one movement's outbox message as a worker would, noting the signed amounts of the
    bonus documents it creates in 1C, in the order 1C gets them."""
    created: list[str] = []
    real_create = h.ctx.client.create

    def noting(entity_set, body):
        found = real_create(entity_set, body)
        if entity_set == DOCS:
            sign = "-" if body.get("ВидОперации") == "Списание" else "+"
            created.append(sign + str(body["Начисление"][0]["СуммаБонусныхБаллов"]))
        return found

    monkeypatch.setattr(h.ctx.client, "create", noting)
    push_movement(h.ctx, movement_id)
    monkeypatch.undo()
    return created


def test_a_cross_partner_move_reaches_1c_incoming_half_first_never_a_transient_zero(h, monkeypatch):
    pull_full(h.ctx)
    h.sync()
    petrova, ivanov = card_of(h, "2000000000035"), card_of(h, SECOND)
    service = LedgerService(h.ctx.engine, clock=h.ctx.clock)
    moved = service.transfer(
        petrova.id, ivanov.id, None, key="move-across", origin=Origin.ADMIN, reason="staff"
    )
    assert moved is not None and moved.amount == Decimal("1200.00")
    outgoing, incoming = transfer_halves(h, "move-across")
    # Whichever outbox row a worker takes first, the partner receiving the points has them in 1C
    # before the other partner's points leave: the outgoing half delivers its incoming half first.
    assert delivered_in_order(h, monkeypatch, outgoing) == ["+1200.00", "-1200.00"]
    assert h.onec_balance(PARTNER_IVANOV) == Decimal("1950")
    assert delivered_in_order(h, monkeypatch, incoming) == []  # found by its marker: not twice
    h.sync()
    assert h.onec_balance(PARTNER_IVANOV) == Decimal("1950")
    assert shown(h, FIRST, SECOND, "2000000000035") == [Decimal("1950.00")] * 2 + [Decimal("0.00")]
    assert balance_differences(h) == []


def test_a_card_joining_its_partners_account_moves_its_points_without_telling_1c(h):
    pull_full(h.ctx)
    h.sync()
    first, second = card_of(h, FIRST), card_of(h, SECOND)
    with UnitOfWork(h.ctx.engine) as uow:  # as if the second card had points of its own (before this fix)
        uow.session.execute(Card.__table__.update().where(Card.id == second.id).values(account_card_id=None))
        uow.ledger.accrue(second.id, "40", key="own-points", origin=Origin.ONEC)
        uow.commit()
    assert shown(h, SECOND) == [Decimal("40.00")]
    with UnitOfWork(h.ctx.engine) as uow:
        account = accounts.share_customer_account(uow.ledger, first.customer_id)
        uow.commit()
    assert account == first.id
    assert shown(h, FIRST, SECOND) == [Decimal("790.00")] * 2
    with h.ctx.session_factory() as session:
        key = session.scalars(
            select(Movement.external_id).where(
                Movement.card_id == second.id, Movement.kind == MovementKind.TRANSFER_OUT
            )
        ).one()
    assert key.startswith(f"account:{first.id}:join:{second.id}:")
    outgoing, incoming = transfer_halves(h, key)
    assert push_movement(h.ctx, outgoing) is None and push_movement(h.ctx, incoming) is None
    h.sync()
    assert h.onec_balance(PARTNER_IVANOV) == Decimal("750")  # the partner's total did not change


def test_a_hub_that_kept_a_balance_per_card_is_put_on_accounts_per_partner(h):
    pull_full(h.ctx)
    h.sync()
    with UnitOfWork(h.ctx.engine) as uow:  # the state before migration 0018: every card on its own
        uow.session.execute(Card.__table__.update().values(account_card_id=None))
        uow.commit()
    assert shown(h, FIRST, SECOND) == [Decimal("750.00"), Decimal("0.00")]
    assert share_all(h.ctx) == 4  # Иванов, Петрова, Сидоров, Кузнецова
    assert shown(h, FIRST, SECOND) == [Decimal("750.00")] * 2
    assert share_all(h.ctx) == 0
    h.till(SECOND, redeemed="30")
    h.sync()
    assert parked(h) == []
    assert shown(h, FIRST, SECOND) == [Decimal("720.00")] * 2 == [h.onec_balance(PARTNER_IVANOV)] * 2
    assert balance_differences(h) == []


def test_retail_a_merge_moves_points_and_1c_gets_the_incoming_half_first(retail, db, monkeypatch):
    h = Harness(retail, db)
    try:
        pull_full(h.ctx)
        h.sync()
        first, second = card_of(h, FIRST), card_of(h, SECOND)
        before = shown(h, FIRST, SECOND)
        with UnitOfWork(h.ctx.engine) as uow:
            cards = [uow.session.get_one(Card, first.id), uow.session.get_one(Card, second.id)]
            record = merge_locked(
                uow,
                cards[0].customer_id,
                cards[1],
                [cards[0]],
                cards,
                key="merge-retail",
                origin=Origin.WEBSITE,
                actor=None,
                note="cabinet",
            )
            uow.commit()
        assert record is not None and record.points_moved == before[0] > 0
        assert shown(h, FIRST, SECOND) == [Decimal("0.00"), before[0] + before[1]]
        outgoing, _ = transfer_halves(h, f"merge-retail/merge/{first.id}")
        amount = f"{before[0]:.2f}"
        assert delivered_in_order(h, monkeypatch, outgoing) == [f"+{amount}", f"-{amount}"]
        h.sync()
        assert h.onec_balance(card_of(h, SECOND).onec_ref) == before[0] + before[1]
        assert h.onec_balance(card_of(h, FIRST).onec_ref) == 0
    finally:
        h.close()
