"""Orders: the hold, stock and codes reserved together; capture on payment; cancel restores; the
cart's quote with its suggestion; every refusal typed, in ru and en, and writing nothing."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Hold, HoldStatus
from bonusbridge.rewards import cart, catalog, errors, orders
from bonusbridge.rewards.models import (
    MailMessage,
    OrderState,
    Reward,
    RewardOrder,
    RewardVoucherCode,
)
from bonusbridge.rewards.orders import Wanted
from bonusbridge.rewards.payments import ManualPayments
from tests.conftest import FakeClock
from tests.rewards.conftest import Member
from tests.rewards.factories import Reward as RewardFactory


def stock(db: Engine, reward_id: int) -> int | None:
    with db.connect() as conn:
        return conn.execute(select(Reward.stock).where(Reward.id == reward_id)).scalar_one()


def test_points_only_order_is_captured_and_mailed(
    db: Engine, service: LedgerService, member: Member, reward: RewardFactory, supplier: int
) -> None:
    customer, card = member("1000.00")
    thermos = reward(points_price="300.00", stock=5)
    placed = service.run(
        lambda book: orders.place(book, customer, [Wanted(thermos, 2)], key="k1", language="en")
    )
    assert placed.state is OrderState.PAID and placed.points_total == Decimal("600.00")
    assert service.balance(card).available == Decimal("400.00")
    assert stock(db, thermos) == 3
    again = service.run(
        lambda book: orders.place(book, customer, [Wanted(thermos, 2)], key="k1", language="en")
    )
    assert again.replayed and again.id == placed.id and stock(db, thermos) == 3
    with db.connect() as conn:
        mails = {row.template: row.to_address for row in conn.execute(select(MailMessage))}
    assert mails == {"order_placed": "member1@example.test", "order_to_fulfil": "orders@gifts.test"}


def test_cash_part_waits_for_payment_then_captures(
    db: Engine, service: LedgerService, member: Member, reward: RewardFactory
) -> None:
    customer, card = member("500.00")
    bike = reward(points_price="200.00", cash_price="1200.00", vat_rate="20")
    placed = service.run(
        lambda book: orders.place(book, customer, [Wanted(bike, 1)], key="k", payments=ManualPayments())
    )
    assert placed.state is OrderState.AWAITING_PAYMENT and placed.invoice_number == "2026-000001"
    assert placed.vat_total == Decimal("200.00")
    balance = service.balance(card)
    assert balance.held == Decimal("200.00") and balance.available == Decimal("300.00")
    with pytest.raises(errors.UnpaidCashPart) as caught:
        service.run(lambda book: orders.mark_processed(book, placed.lines[0].supplier_id or 0, placed.id))
    assert "1200.00" in caught.value.user_message("ru")
    paid = service.run(lambda book: orders.confirm_payment(book, placed.id, key="pay-1"))
    assert paid.state is OrderState.PAID and service.balance(card).held == Decimal("0.00")
    second = service.run(lambda book: orders.place(book, customer, [Wanted(bike, 1)], key="k2"))
    assert second.invoice_number == "2026-000002"  # the embedded default pays at once


def test_cancel_voids_or_refunds_and_restores_stock(
    db: Engine, service: LedgerService, member: Member, reward: RewardFactory
) -> None:
    customer, card = member("1000.00")
    lamp = reward(points_price="100.00", stock=3, cash_price="10.00")
    held = service.run(
        lambda book: orders.place(book, customer, [Wanted(lamp, 2)], key="a", payments=ManualPayments())
    )
    paid = service.run(lambda book: orders.place(book, customer, [Wanted(lamp, 1)], key="b"))
    assert stock(db, lamp) == 0
    service.run(
        lambda book: orders.cancel(book, held.id, customer_id=customer, reason="changed mind", actor="m")
    )
    service.run(
        lambda book: orders.cancel(book, paid.id, customer_id=customer, reason="changed mind", actor="m")
    )
    assert stock(db, lamp) == 3 and service.balance(card).available == Decimal("1000.00")
    with db.connect() as conn:
        assert (
            conn.execute(select(Hold.status).where(Hold.id == held.hold_id)).scalar_one() is HoldStatus.VOIDED
        )


def test_refusals_are_typed_translated_and_write_nothing(
    db: Engine, clock: FakeClock, service: LedgerService, member: Member, reward: RewardFactory
) -> None:
    customer, _ = member("250.00")
    one = reward(points_price="100.00", stock=1)
    limited = reward(points_price="10.00", per_member_limit=1)
    gold = reward(points_price="10.00", min_tier="gold")
    gone = reward(points_price="10.00", visible_until=(clock() + timedelta(hours=1)).isoformat())
    cases = [
        ([Wanted(one, 2)], errors.OutOfStock),
        ([Wanted(limited, 2)], errors.MemberLimitReached),
        ([Wanted(gold, 1)], errors.NotEligible),
        ([Wanted(one, 1, points_price=Decimal("90.00"))], errors.PriceChanged),
        ([Wanted(one, 1), Wanted(limited, 1), Wanted(gone, 1), Wanted(reward(points_price="200"), 1)],
         errors.NotEnoughPoints),
    ]  # fmt: skip
    for n, (wanted, kind) in enumerate(cases):
        with pytest.raises(kind) as caught:
            service.run(lambda book, w=wanted, n=n: orders.place(book, customer, w, key=f"x{n}"))
        assert caught.value.user_message("ru") != caught.value.user_message("en")
    clock.advance(timedelta(hours=2))
    with pytest.raises(errors.RewardNotVisible):
        service.run(lambda book: orders.place(book, customer, [Wanted(gone, 1)], key="late"))
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RewardOrder)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(Hold)).scalar_one() == 0
    assert stock(db, one) == 1


def test_vouchers_issued_once_and_shown_when_paid(
    db: Engine, clock: FakeClock, service: LedgerService, member: Member, reward: RewardFactory
) -> None:
    customer, _ = member("1000.00")
    voucher = reward(kind="e_voucher", supplier_id="", points_price="50")
    with db.begin() as conn:
        catalog.upload_voucher_codes(conn, voucher, "C1\nC2\nC3\n", batch="b", actor="s", now=clock())
    first = service.run(lambda book: orders.place(book, customer, [Wanted(voucher, 2)], key="v1"))
    second = service.run(lambda book: orders.place(book, customer, [Wanted(voucher, 1)], key="v2"))
    assert first.lines[0].codes == ("C1", "C2") and second.lines[0].codes == ("C3",)
    with pytest.raises(errors.OutOfStock):
        service.run(lambda book: orders.place(book, customer, [Wanted(voucher, 1)], key="v3"))
    with pytest.raises(errors.OrderNotCancellable):
        service.run(lambda book: orders.cancel(book, first.id, customer_id=customer, reason="", actor="m"))


def test_fulfilment_and_tier_cashback_once(
    db: Engine, service: LedgerService, member: Member, reward: RewardFactory, supplier: int
) -> None:
    from sqlalchemy import insert

    from bonusbridge.models import CardTier

    customer, card = member("1000.00")
    with db.begin() as conn:
        now = service.clock()
        conn.execute(
            insert(CardTier).values(
                card_id=card,
                tier="gold",
                spend_12m=Decimal("0"),
                qualified_at=now,
                reviewed_at=now,
                changed_at=now,
            )
        )
    mug = reward(points_price="400.00")
    placed = service.run(lambda book: orders.place(book, customer, [Wanted(mug, 1)], key="m"))
    other = member("10.00")[0]
    with pytest.raises(errors.NotYourOrder):
        service.run(lambda book: orders.mark_processed(book, supplier + 999, placed.id))
    done = service.run(
        lambda book: orders.mark_processed(book, supplier, placed.id, tracking="TR1",
                                           cashback_percent={"gold": Decimal("5")})
    )  # fmt: skip
    assert done.state is OrderState.FULFILLED and done.lines[0].tracking == "TR1"
    assert service.balance(card).available == Decimal("620.00")  # 1000 - 400 + 5 % of 400
    service.run(
        lambda book: orders.mark_processed(book, supplier, placed.id, cashback_percent={"gold": Decimal("5")})
    )
    assert service.balance(card).available == Decimal("620.00")
    assert other


def test_cart_quote_suggests_and_flags_changed_prices(
    db: Engine, clock: FakeClock, service: LedgerService, member: Member, reward: RewardFactory
) -> None:
    customer, card = member("800.00")
    a, b = reward(points_price="600.00"), reward(points_price="400.00")
    with db.begin() as conn:
        cart.set_quantity(conn, customer, a, 1, now=clock())
        cart.set_quantity(conn, customer, b, 2, now=clock())
    facts = service.run(lambda book: orders.member_facts(book, customer, card, language="en"))
    with db.connect() as conn:
        quote = cart.cart_quote(conn, customer, facts, clock())
    assert quote.over_budget and quote.points_total == Decimal("1400.00")
    assert quote.suggestion == {a: 0, b: 2} and quote.suggested_points == Decimal("800.00")
    with db.begin() as conn:
        row = conn.execute(select(catalog.rewards).where(catalog.rewards.c.id == b)).one()
        form = {"code": row.code, "kind": "physical", "category": "gifts", "name_en": "Thermos",
                "points_price": "350.00", "supplier_id": str(row.supplier_id)}  # fmt: skip
        catalog.update_reward(conn, b, catalog.parse_draft(form), expected_version=1, actor="s", reason=None,
                              now=clock())  # fmt: skip
    with db.connect() as conn:
        quote = cart.cart_quote(conn, customer, facts, clock())
    assert [line.price_changed for line in quote.lines] == [False, True]


def test_two_members_buy_the_last_item_at_once(
    db: Engine, service: LedgerService, member: Member, reward: RewardFactory, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("the race needs PostgreSQL's row locks (SQLite runs writers one at a time)")
    last = reward(points_price="10.00", stock=1)
    buyers = [member("100.00")[0] for _ in range(8)]
    barrier = threading.Barrier(len(buyers))
    results: list[object] = []

    def buy(customer: int) -> None:
        barrier.wait()
        try:
            results.append(
                service.run(lambda book: orders.place(book, customer, [Wanted(last, 1)], key=f"c{customer}"))
            )
        except errors.RewardsError as exc:
            results.append(exc)

    threads = [threading.Thread(target=buy, args=(c,)) for c in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [r for r in results if isinstance(r, orders.PlacedOrder)]
    lost = [r for r in results if isinstance(r, errors.OutOfStock)]
    assert len(won) == 1 and len(lost) == len(buyers) - 1
    assert stock(db, last) == 0
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Hold)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(RewardVoucherCode)).scalar_one() == 0
