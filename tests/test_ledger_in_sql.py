"""``LedgerBook.balances`` (many cards in one query) and ``LedgerBook(in_sql=True)`` (accruals and
redemptions as the PostgreSQL functions ``bb_accrue``/``bb_redeem`` inside the caller's transaction).

The balance tests run on every database; the ``in_sql`` tests on PostgreSQL only, where they compare
the functions' writes with the Python path's, row by row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import DBAPIError

from bonusbridge import errors
from bonusbridge.ledger import fastpath
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.fastpath import TakePythonPath
from bonusbridge.ledger.records import BalanceView, MovementRecord
from bonusbridge.ledger.statements import cards, lot_allocations, lots, movements, operations
from bonusbridge.models import CardStatus, MovementKind, Origin

D = Decimal
WEB = Origin.WEBSITE
UNKNOWN_CARD = 999_999


@pytest.fixture(autouse=True)
def ledger_stays_consistent(db: Engine) -> Iterator[None]:
    yield
    with db.connect() as conn:
        assert check_ledger(conn) == []


def counts(db: Engine) -> dict[str, int]:
    """Rows in every table a ledger operation writes, read on a connection of its own."""
    with db.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (operations, movements, lots, lot_allocations)
        }


def view_on_own_connection(db: Engine, now: Any, card_id: int) -> BalanceView:
    with db.connect() as conn:
        return LedgerBook(conn, now=now).balance(card_id)


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of the database error a fast-path refusal was raised from (``from None`` keeps it
    as the context)."""
    cause = exc.__context__
    return getattr(getattr(cause, "orig", None), "sqlstate", None)


def set_status(db: Engine, card_id: int, status: CardStatus) -> None:
    with db.begin() as conn:
        conn.execute(update(cards).where(cards.c.id == card_id).values(status=status))


# =============================================================================== balances()


@pytest.fixture
def four_cards(ledger, make_card, clock) -> dict[str, int]:
    """Cards covering every part of a balance, read at start + 2 hours:

    * ``rich``: 100 expiring in 20 days (40 of it held, 25 redeemed), 50 expiring in 60 days,
      30 never expiring, 10 that expired an hour after the start and were not swept yet;
    * ``pending``: 20 spendable only from day 3 (expiring on day 45), 5 never expiring;
    * ``empty``: no lot at all;
    * ``spent``: 10 accrued and all redeemed (only a lot with nothing remaining).
    """
    start = clock.now
    rich, pending, empty, spent = make_card(), make_card(), make_card(), make_card()
    ledger.accrue(rich, D("100"), key="r-soon", origin=WEB, expires_at=start + timedelta(days=20))
    ledger.accrue(rich, D("50"), key="r-later", origin=WEB, expires_at=start + timedelta(days=60))
    ledger.accrue(rich, D("30"), key="r-never", origin=WEB)
    ledger.accrue(rich, D("10"), key="r-brief", origin=WEB, expires_at=start + timedelta(hours=1))
    ledger.accrue(
        pending,
        D("20"),
        key="p-later",
        origin=WEB,
        available_from=start + timedelta(days=3),
        expires_at=start + timedelta(days=45),
    )
    ledger.accrue(pending, D("5"), key="p-now", origin=WEB)
    ledger.accrue(spent, D("10"), key="s-a", origin=WEB, expires_at=start + timedelta(days=5))
    ledger.redeem(spent, D("10"), key="s-r", origin=WEB)
    clock.advance(timedelta(hours=2))
    ledger.hold(rich, D("40"), key="r-hold", origin=WEB, ttl=timedelta(days=1))
    ledger.redeem(rich, D("25"), key="r-spend", origin=WEB)
    return {"rich": rich, "pending": pending, "empty": empty, "spent": spent}


def expected_views(cards_by_name: dict[str, int], start: Any, now: Any) -> dict[int, BalanceView]:
    horizon = now + timedelta(days=30)

    def view(name: str, **values: Any) -> BalanceView:
        base: dict[str, Any] = {
            "total": D("0"),
            "available": D("0"),
            "pending": D("0"),
            "held": D("0"),
            "expired_unswept": D("0"),
            "expiring_soon": D("0"),
            "next_expiry": None,
        }
        base.update(values)
        return BalanceView(card_id=cards_by_name[name], expiring_horizon=horizon, as_of=now, **base)

    return {
        cards_by_name["rich"]: view(
            "rich",
            total=D("165"),  # 100 + 50 + 30 + 10 - 25
            available=D("115"),  # 35 free of the 20-day lot + 50 + 30
            held=D("40"),
            expired_unswept=D("10"),
            expiring_soon=D("35"),  # the 20-day lot's free part; the held part is not "available"
            next_expiry=start + timedelta(days=20),
        ),
        cards_by_name["pending"]: view(
            "pending",
            total=D("25"),
            available=D("5"),
            pending=D("20"),
            next_expiry=start + timedelta(days=45),
        ),
        cards_by_name["empty"]: view("empty"),
        cards_by_name["spent"]: view("spent"),
    }


def test_balances_returns_each_known_card_as_balance_does(db, four_cards, clock):
    start = clock.now - timedelta(hours=2)
    expected = expected_views(four_cards, start, clock.now)
    wanted = [*four_cards.values(), UNKNOWN_CARD, four_cards["rich"]]  # unknown and repeated ids
    with db.connect() as conn:
        book = LedgerBook(conn, now=clock.now)
        found = book.balances(iter(wanted))  # any iterable, consumed once
        one_by_one = {card_id: book.balance(card_id) for card_id in four_cards.values()}
        assert found == expected
        assert found == one_by_one
        for card_id, view in found.items():
            assert view.card_id == card_id
            assert view.total == view.available + view.pending + view.held + view.expired_unswept
        # A subset, in another order, gives the same views: cards do not leak into each other.
        subset = [four_cards["spent"], four_cards["rich"]]
        assert book.balances(subset) == {card_id: expected[card_id] for card_id in subset}


def test_balances_of_more_cards_than_one_query_takes(db, four_cards, clock, monkeypatch):
    """Past ``BALANCES_PER_QUERY`` cards the read goes in several queries (PostgreSQL refuses more
    than 65,535 parameters in one); the answer is the same."""
    from bonusbridge.ledger import book as book_module

    expected = expected_views(four_cards, clock.now - timedelta(hours=2), clock.now)
    monkeypatch.setattr(book_module, "BALANCES_PER_QUERY", 2)
    with db.connect() as conn:
        found = LedgerBook(conn, now=clock.now).balances([*four_cards.values(), UNKNOWN_CARD])
    assert found == expected
    with db.connect() as conn:  # 70,000 ids: more than one PostgreSQL statement may carry
        monkeypatch.setattr(book_module, "BALANCES_PER_QUERY", 10_000)
        many = LedgerBook(conn, now=clock.now).balances(range(UNKNOWN_CARD, UNKNOWN_CARD + 70_000))
    assert many == {}


def test_balances_pass_the_horizon_through(db, four_cards, clock):
    rich, pending = four_cards["rich"], four_cards["pending"]
    within = timedelta(days=90)
    with db.connect() as conn:
        book = LedgerBook(conn, now=clock.now)
        found = book.balances([rich, pending], expiring_within=within)
        assert found[rich] == book.balance(rich, expiring_within=within)
        assert found[pending] == book.balance(pending, expiring_within=within)
        assert found[rich].expiring_soon == D("85")  # the 60-day lot joins the 20-day lot's 35
        assert found[rich].expiring_horizon == clock.now + within
        # Pending points are not "expiring soon", whatever the horizon.
        assert (found[pending].expiring_soon, found[pending].pending) == (D("0"), D("20"))


def test_balances_of_no_known_card_is_empty(db, make_card, clock):
    make_card()
    with db.connect() as conn:
        book = LedgerBook(conn, now=clock.now)
        assert book.balances([]) == {}
        assert book.balances(iter(())) == {}
        assert book.balances([UNKNOWN_CARD, UNKNOWN_CARD + 1]) == {}


def test_balance_of_an_unknown_card_still_raises(db, make_card, clock):
    known = make_card()
    with db.connect() as conn:
        book = LedgerBook(conn, now=clock.now)
        with pytest.raises(errors.UnknownCard) as refused:
            book.balance(UNKNOWN_CARD)
        assert refused.value.card_id == UNKNOWN_CARD
        assert book.balance(known).total == D("0")


# =============================================================================== in_sql (PostgreSQL)


@pytest.fixture
def pg(db: Engine) -> Engine:
    if db.dialect.name != "postgresql":
        pytest.skip("the ledger's SQL functions exist on PostgreSQL only")
    assert fastpath.available(db)
    return db


def run_batch(db: Engine, now: Any, work: Any, *, in_sql: bool) -> Any:
    """``work(book)`` in one transaction, committed."""
    with db.connect() as conn, conn.begin():
        return work(LedgerBook(conn, now=now, in_sql=in_sql))


def batch_of(prefix: str, card_id: int, now: Any) -> Any:
    """Several accruals (every optional argument used, one pending lot) and two redemptions, the
    first spanning two lots."""

    def work(book: LedgerBook) -> list[MovementRecord]:
        return [
            book.accrue(
                card_id,
                D("30"),
                key=f"{prefix}a1",
                origin=WEB,
                document="receipt-1",
                actor="till-7",
                reason="purchase",
                expires_at=now + timedelta(days=25),
            ),
            book.accrue(
                card_id, D("20.50"), key=f"{prefix}a2", origin=WEB, expires_at=now + timedelta(days=10)
            ),
            book.accrue(card_id, D("15"), key=f"{prefix}a3", origin=WEB, occurred_at=now - timedelta(days=1)),
            book.accrue(
                card_id,
                D("12"),
                key=f"{prefix}a4",
                origin=Origin.ONEC,
                available_from=now + timedelta(days=2),
                expires_at=now + timedelta(days=90),
            ),
            book.redeem(
                card_id,
                D("35.50"),
                key=f"{prefix}r1",
                origin=WEB,
                document="order-9",
                actor="web",
                reason="pay",
            ),
            book.redeem(card_id, D("5"), key=f"{prefix}r2", origin=Origin.ONEC, document="receipt-2"),
        ]

    return work


def ledger_rows(conn: Connection, card_id: int, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """The card's movements, operations, lots and allocations, ids replaced by positions and the key
    prefix removed, so that two cards' rows compare."""
    moves = conn.execute(
        select(movements).where(movements.c.card_id == card_id).order_by(movements.c.id)
    ).all()
    move_pos = {row.id: index for index, row in enumerate(moves)}
    card_lots = conn.execute(select(lots).where(lots.c.card_id == card_id).order_by(lots.c.id)).all()
    lot_pos = {row.id: index for index, row in enumerate(card_lots)}
    ops = conn.execute(
        select(operations)
        .where(operations.c.id.in_([row.operation_id for row in moves]))
        .order_by(operations.c.id)
    ).all()
    allocations = conn.execute(
        select(lot_allocations)
        .where(lot_allocations.c.movement_id.in_(list(move_pos)))
        .order_by(lot_allocations.c.id)
    ).all()
    return {
        "movements": [
            {
                **{k: v for k, v in row._mapping.items() if k not in ("id", "card_id", "operation_id")},
                "external_id": row.external_id.removeprefix(prefix),
            }
            for row in moves
        ],
        "operations": [
            {
                "origin": row.origin,
                "key": row.idempotency_key.removeprefix(prefix),
                "kind": row.kind,
                "actor": row.actor,
                "created_at": row.created_at,
                "hold_id": row.hold_id,
            }
            for row in ops
        ],
        "lots": [
            {
                **{k: v for k, v in row._mapping.items() if k not in ("id", "card_id", "movement_id")},
                "movement": move_pos[row.movement_id],
            }
            for row in card_lots
        ],
        "allocations": [
            {"movement": move_pos[row.movement_id], "lot": lot_pos[row.lot_id], "amount": row.amount}
            for row in allocations
        ],
    }


def comparable(record: MovementRecord, prefix: str) -> MovementRecord:
    return replace(record, id=0, card_id=0, external_id=record.external_id.removeprefix(prefix))


def test_in_sql_batch_writes_what_the_python_path_writes(pg, make_card, clock):
    now = clock.now
    by_sql, by_python = make_card(), make_card()
    sql_records = run_batch(pg, now, batch_of("sql-", by_sql, now), in_sql=True)
    python_records = run_batch(pg, now, batch_of("py-", by_python, now), in_sql=False)

    assert [comparable(r, "sql-") for r in sql_records] == [comparable(r, "py-") for r in python_records]
    assert [r.card_id for r in sql_records] == [by_sql] * 6
    assert not any(r.replayed for r in sql_records)
    with pg.connect() as conn:
        sql_rows, python_rows = ledger_rows(conn, by_sql, "sql-"), ledger_rows(conn, by_python, "py-")
        assert sql_rows == python_rows
        # The records the in_sql book returned are the rows it wrote.
        assert [r.id for r in sql_records] == list(
            conn.execute(
                select(movements.c.id).where(movements.c.card_id == by_sql).order_by(movements.c.id)
            ).scalars()
        )
        book = LedgerBook(conn, now=now)
        for record in sql_records:
            operation_id = conn.execute(
                select(movements.c.operation_id).where(movements.c.id == record.id)
            ).scalar_one()
            assert book.replay_movement(operation_id) == record
        views = book.balances([by_sql, by_python])
    assert replace(views[by_sql], card_id=0) == replace(views[by_python], card_id=0)

    # And both are right, not merely alike: r1 took the 10-day lot (20.50), then 15 of the 25-day
    # lot; r2 took 5 more of it. Left: 10 of a1, 15 of a3 (never expiring), 12 pending of a4.
    assert [row["kind"] for row in sql_rows["movements"]] == [MovementKind.ACCRUAL] * 4 + [
        MovementKind.REDEMPTION
    ] * 2
    assert [(row["movement"], row["lot"], row["amount"]) for row in sql_rows["allocations"]] == [
        (4, 1, D("20.50")),
        (4, 0, D("15.00")),
        (5, 0, D("5.00")),
    ]
    assert [row["remaining"] for row in sql_rows["lots"]] == [D("10"), D("0"), D("15"), D("12")]
    view = views[by_sql]
    assert (view.total, view.available, view.pending, view.held) == (D("37"), D("25"), D("12"), D("0"))
    assert (view.expiring_soon, view.next_expiry) == (D("10"), now + timedelta(days=25))


def test_in_sql_writes_nothing_visible_before_commit_and_nothing_after_rollback(pg, make_card, clock):
    card = make_card()
    empty = counts(pg)
    with pg.connect() as conn:
        conn.begin()
        book = LedgerBook(conn, now=clock.now, in_sql=True)
        book.accrue(card, D("40"), key="a1", origin=WEB)
        book.accrue(card, D("2"), key="a2", origin=WEB)
        book.redeem(card, D("12"), key="r1", origin=WEB)
        assert book.balance(card).total == D("30")  # the transaction sees its own work
        assert counts(pg) == empty  # another connection does not
        assert view_on_own_connection(pg, clock.now, card).total == D("0")
        conn.rollback()
        assert book.balance(card).total == D("0")
    assert counts(pg) == empty
    assert view_on_own_connection(pg, clock.now, card).total == D("0")

    # The rolled-back keys were never used: the same operations commit as new ones.
    def again(book: LedgerBook) -> list[MovementRecord]:
        return [
            book.accrue(card, D("40"), key="a1", origin=WEB),
            book.redeem(card, D("12"), key="r1", origin=WEB),
        ]

    records = run_batch(pg, clock.now, again, in_sql=True)
    assert not any(record.replayed for record in records)
    assert counts(pg) == {"ledger_operations": 2, "movements": 2, "lots": 1, "lot_allocations": 1}
    assert view_on_own_connection(pg, clock.now, card).available == D("28")


def test_in_sql_replay_in_a_new_transaction_returns_the_first_record(pg, make_card, clock):
    card = make_card()
    expiry = clock.now + timedelta(days=40)

    def work(book: LedgerBook) -> list[MovementRecord]:
        return [
            book.accrue(card, D("25"), key="a", origin=WEB, document="d-1", expires_at=expiry),
            book.redeem(card, D("10"), key="r", origin=WEB, document="d-2"),
        ]

    first = run_batch(pg, clock.now, work, in_sql=True)
    before, balance_before = counts(pg), view_on_own_connection(pg, clock.now, card)
    assert balance_before.available == D("15")

    clock.advance(timedelta(hours=1))  # a later batch, another "now"
    replayed = run_batch(pg, clock.now, work, in_sql=True)
    assert replayed == first
    assert all(record.replayed for record in replayed)
    # The Python path replays the same keys to the same records.
    assert run_batch(pg, clock.now, work, in_sql=False) == first
    # Even once the card is blocked: the key is answered before the card is looked at.
    set_status(pg, card, CardStatus.BLOCKED)
    assert run_batch(pg, clock.now, work, in_sql=True) == first
    assert counts(pg) == before
    after = view_on_own_connection(pg, clock.now, card)
    assert (after.total, after.available, after.next_expiry) == (D("15"), D("15"), expiry)


def test_in_sql_replays_a_key_first_written_by_the_python_path(pg, make_card, clock):
    card = make_card()

    def work(book: LedgerBook) -> list[MovementRecord]:
        return [
            book.accrue(card, D("8"), key="a", origin=WEB),
            book.redeem(card, D("3"), key="r", origin=WEB),
        ]

    first = run_batch(pg, clock.now, work, in_sql=False)
    before = counts(pg)
    again = run_batch(pg, clock.now, work, in_sql=True)
    assert again == first and all(record.replayed for record in again)
    assert counts(pg) == before


@pytest.mark.parametrize("in_sql", [True, False], ids=["in_sql", "python"])
def test_a_key_reused_with_other_arguments_conflicts(pg, make_card, clock, in_sql):
    card = make_card()
    run_batch(pg, clock.now, lambda book: book.accrue(card, D("10"), key="k1", origin=WEB), in_sql=False)
    before = counts(pg)
    attempts = [
        lambda book: book.accrue(card, D("11"), key="k1", origin=WEB),  # other amount
        lambda book: book.accrue(card, D("10"), key="k1", origin=WEB, document="x"),  # other document
        lambda book: book.redeem(card, D("10"), key="k1", origin=WEB),  # other kind
    ]
    for attempt in attempts:
        with pg.connect() as conn:
            conn.begin()
            with pytest.raises(errors.IdempotencyConflict) as refused:
                attempt(LedgerBook(conn, now=clock.now, in_sql=in_sql))
            assert refused.value.key == "k1"
            conn.rollback()
    assert counts(pg) == before
    assert view_on_own_connection(pg, clock.now, card).total == D("10")


@pytest.mark.parametrize(
    ("setup", "amount", "available"),
    [
        pytest.param([("30", None)], "30.01", "30.00", id="more-than-the-total"),
        pytest.param(
            [("10", None), ("20", timedelta(days=1))], "25", "10.00", id="covered-only-with-pending"
        ),
    ],
)
def test_in_sql_redemption_beyond_the_spendable_points_declines(
    pg, make_card, clock, setup, amount, available
):
    card = make_card()

    def seed(book: LedgerBook) -> None:
        for index, (points, delay) in enumerate(setup):
            available_from = clock.now + delay if delay else None
            book.accrue(card, D(points), key=f"seed-{index}", origin=WEB, available_from=available_from)

    run_batch(pg, clock.now, seed, in_sql=False)
    before, balance_before = counts(pg), view_on_own_connection(pg, clock.now, card)

    with pg.connect() as conn:
        conn.begin()
        book = LedgerBook(conn, now=clock.now, in_sql=True)
        book.accrue(card, D("1"), key="in-batch", origin=WEB)  # earlier work of the same batch
        with pytest.raises(TakePythonPath) as declined:
            book.redeem(card, D(amount) + 1, key="too-much", origin=WEB)
        assert sqlstate_of(declined.value) == fastpath.PYTHON_PATH
        with pytest.raises(DBAPIError) as aborted:  # the transaction is aborted: roll back
            conn.exec_driver_sql("SELECT 1")
        assert getattr(aborted.value.orig, "sqlstate", None) == "25P02"
        conn.rollback()
    assert counts(pg) == before  # the batch's accrual went with it

    with pg.connect() as conn:
        conn.begin()
        book = LedgerBook(conn, now=clock.now)
        book.accrue(card, D("1"), key="in-batch", origin=WEB)
        with pytest.raises(errors.InsufficientBalance) as refused:
            book.redeem(card, D(amount) + 1, key="too-much", origin=WEB)
        assert refused.value.available == D(available) + 1
        conn.rollback()
    assert counts(pg) == before
    assert view_on_own_connection(pg, clock.now, card) == balance_before


def _accrue(book: LedgerBook, card: int) -> MovementRecord:
    return book.accrue(card, D("5"), key="op", origin=WEB)


def _redeem(book: LedgerBook, card: int) -> MovementRecord:
    return book.redeem(card, D("5"), key="op", origin=WEB)


@pytest.mark.parametrize(
    ("status", "operation", "refusal"),
    [
        pytest.param(CardStatus.BLOCKED, _accrue, errors.CardBlocked, id="accrue-blocked"),
        pytest.param(CardStatus.BLOCKED, _redeem, errors.CardBlocked, id="redeem-blocked"),
        pytest.param(
            CardStatus.ACCUMULATION_ONLY, _redeem, errors.AccumulationOnly, id="redeem-accumulation-only"
        ),
        pytest.param(None, _accrue, errors.UnknownCard, id="accrue-unknown-card"),
        pytest.param(None, _redeem, errors.UnknownCard, id="redeem-unknown-card"),
    ],
)
def test_in_sql_leaves_card_refusals_to_the_python_path(pg, make_card, clock, status, operation, refusal):
    card = make_card()
    run_batch(pg, clock.now, lambda book: book.accrue(card, D("50"), key="seed", origin=WEB), in_sql=False)
    if status is None:
        card = UNKNOWN_CARD
    else:
        set_status(pg, card, status)
    before = counts(pg)

    with pg.connect() as conn:
        conn.begin()
        with pytest.raises(TakePythonPath) as declined:
            operation(LedgerBook(conn, now=clock.now, in_sql=True), card)
        assert sqlstate_of(declined.value) == fastpath.PYTHON_PATH
        conn.rollback()
    assert counts(pg) == before

    with pg.connect() as conn:
        conn.begin()
        with pytest.raises(refusal) as refused:
            operation(LedgerBook(conn, now=clock.now), card)
        assert refused.value.card_id == card
        conn.rollback()
    assert counts(pg) == before
