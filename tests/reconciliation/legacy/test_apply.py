"""``migrate apply``: what lands in the hub, that it is what the ledger itself would have written,
that applying twice (the same plan, or the same file in another plan) writes nothing twice, and
that a card created since planning is reported, not overwritten."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from bonusbridge.ledger.audit import check_ledger
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Card, CardStatus, LegacyCard, Movement, Origin, Program, utcnow
from bonusbridge.unit_of_work import UnitOfWork
from reconciliation.legacy.applier import ACTOR, PlanInvalid, apply_plan, can_load_fast, opening_key
from reconciliation.legacy.planner import make_plan
from tests.reconciliation.legacy.conftest import AS_OF, EXAMPLE_FILES, EXAMPLE_MAPPINGS, snapshot


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    make_plan(EXAMPLE_FILES, tmp_path / "plan", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF)
    return tmp_path / "plan"


def _card(db: Engine, code: str, number: str) -> Card:
    with UnitOfWork(db) as uow:
        program = uow.session.scalars(select(Program).where(Program.code == code)).one()
        card = uow.cards.by_number(program.id, number)
        assert card is not None
        uow.session.expunge(card)
        return card


def test_examples_land_as_cards_balances_and_outbox_rows(db: Engine, plan: Path) -> None:
    result = apply_plan(db, plan)
    # 15: the card with a broken birth date and the one with a negative balance are imported too
    assert (result.created, result.skipped, result.batches_applied) == (15, 0, 1)
    with db.connect() as conn:
        assert check_ledger(conn) == []
        programs = conn.execute(select(Program.code, Program.is_legacy)).all()
        assert sorted(programs) == [("dobrostroy_bonus", True), ("sad_club", True), ("stroy_discount", True)]
    ivanov = _card(db, "dobrostroy_bonus", "200000000001")
    assert (ivanov.status, ivanov.phone_raw, ivanov.phone_e164, ivanov.changed_by) == (
        CardStatus.ACCUMULATION_ONLY,
        "8 (916) 123-45-67",
        "+79161234567",
        Origin.MIGRATION,
    )
    gold = _card(db, "stroy_discount", "D1002")
    blocked = _card(db, "stroy_discount", "D1004")
    with UnitOfWork(db) as uow:
        balance = uow.ledger.balance(ivanov.id)
        assert balance.total == Decimal("1250.50") and balance.next_expiry == datetime(
            2027, 12, 31, 21, tzinfo=UTC
        )
        assert gold.status is CardStatus.ACTIVE and uow.ledger.balance(gold.id).available == Decimal(
            "5000.00"
        )
        assert blocked.status is CardStatus.BLOCKED and uow.ledger.balance(blocked.id).total == Decimal(
            "153.90"
        )
        legacy = uow.session.get(LegacyCard, gold.id)
        assert legacy is not None and (legacy.tier, legacy.last_name, legacy.line) == ("gold", "Орлова", 3)
        movement = uow.session.scalars(select(Movement).where(Movement.card_id == ivanov.id)).one()
        assert (movement.origin, movement.external_id, movement.occurred_at) == (
            Origin.MIGRATION,
            opening_key("dobrostroy_bonus", "200000000001"),
            AS_OF,
        )
    state = snapshot(db)
    # 1C learns every imported card and every opening balance, as the outbox triggers promise.
    assert len(state["outbox_cards"]) == 15 and all(
        row[1:] == ("True", "migration", "pending") or row[1:] == ("1", "migration", "pending")
        for row in state["outbox_cards"]
    )
    assert len(state["outbox_movements"]) == len(state["movements"]) == 10


def test_opening_balances_are_what_the_ledger_writes(db: Engine, plan: Path) -> None:
    """Booking each opening balance again through ``LedgerBook.accrue`` with the same key and
    arguments is a replay of the stored movement (same fingerprint), and writes nothing."""
    apply_plan(db, plan)
    before = snapshot(db)
    header = json.loads((plan / "plan.json").read_text(encoding="utf-8"))
    names = {p["code"]: p["name"] for p in header["programs"]}
    with db.begin() as conn:
        rows = conn.execute(
            select(
                Movement.id, Movement.card_id, Movement.amount, Movement.expires_at, Program.code, Card.number
            )
            .join(Card, Card.id == Movement.card_id)
            .join(Program, Program.id == Card.program_id)
        ).all()
        assert len(rows) == 10
        book = LedgerBook(conn, now=utcnow())
        for movement_id, card_id, amount, expires_at, code, number in rows:
            again = book.accrue(
                card_id,
                amount,
                key=opening_key(code, number),
                origin=Origin.MIGRATION,
                actor=ACTOR,
                reason=f"opening balance from legacy program {code} ({names[code]})",
                occurred_at=AS_OF,
                expires_at=expires_at,
            )
            assert again.replayed and again.id == movement_id
    assert snapshot(db) == before


def test_applying_again_changes_nothing(db: Engine, plan: Path) -> None:
    apply_plan(db, plan)
    first = snapshot(db)
    again = apply_plan(db, plan)
    assert (again.batches_applied, again.batches_skipped, again.created) == (0, 1, 0)
    assert snapshot(db) == first


def test_the_same_file_in_another_plan_is_not_applied_twice(db: Engine, plan: Path, tmp_path: Path) -> None:
    apply_plan(db, plan)
    first = snapshot(db)
    # Planned without looking at the database (or before the first apply): another plan, same cards.
    other = make_plan(EXAMPLE_FILES[:1], tmp_path / "other", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF)
    assert other.header["cards"] == 7
    result = apply_plan(db, tmp_path / "other")
    assert (result.created, result.skipped) == (0, 7)
    assert {i["kind"] for i in result.issues} == {"already_imported"}
    state = snapshot(db)
    assert {k: v for k, v in state.items() if k not in ("batches", "issues")} == {
        k: v for k, v in first.items() if k not in ("batches", "issues")
    }
    # Planned with the database at hand, the imported cards are left out of the plan already.
    third = make_plan(EXAMPLE_FILES, tmp_path / "third", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF, engine=db)
    assert third.header["cards"] == 0
    assert sum(s["already_present"] for s in third.header["stats"]) == 15


def test_a_card_created_since_planning_is_reported_not_overwritten(db: Engine, plan: Path) -> None:
    with UnitOfWork(db) as uow:
        program = uow.programs.get_or_create("stroy_discount", "СтройСкидка", is_legacy=True)
        card = uow.cards.add(
            Card(
                program_id=program.id,
                number="D1002",
                status=CardStatus.ACTIVE,
                phone_e164="+79990000000",
                changed_by=Origin.ONEC,
            )
        )
        uow.commit()
    result = apply_plan(db, plan)
    assert (result.created, result.skipped) == (14, 1)
    (issue,) = result.issues
    assert (issue["kind"], issue["program"], issue["card_number"], issue["file"], issue["line"]) == (
        "changed_since_plan",
        "stroy_discount",
        "D1002",
        "stroy_discount.csv",
        3,
    )
    assert "last changed by onec" in issue["detail"]
    kept = _card(db, "stroy_discount", "D1002")
    assert (kept.id, kept.phone_e164, kept.status) == (card.id, "+79990000000", CardStatus.ACTIVE)
    with UnitOfWork(db) as uow:
        assert uow.ledger.balance(card.id).total == 0  # no opening balance booked on someone else's card
    with db.connect() as conn:
        assert check_ledger(conn) == []


def test_a_tampered_plan_is_refused(db: Engine, plan: Path) -> None:
    data = plan / "cards.tsv"
    data.write_text(data.read_text(encoding="utf-8").replace("1250.50", "9250.50"), encoding="utf-8")
    with pytest.raises(PlanInvalid, match="hash mismatch"):
        apply_plan(db, plan)
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cards")).scalar() == 0


def test_fast_load_writes_what_the_triggers_write(db: Engine, plan: Path, is_postgres: bool) -> None:
    """PostgreSQL: with triggers off the load writes the outbox rows itself; the end state equals a
    load with the triggers (and foreign-key checks) on. SQLite always loads with triggers."""
    apply_plan(db, plan, fast=False)
    with_triggers = snapshot(db)
    with db.begin() as conn:
        outbox_triggers = conn.execute(
            text("SELECT topic, key, slot, origin, state, attempts FROM sync_outbox ORDER BY id")
        ).all()
        for table in (
            "legacy_cards",
            "legacy_import_issues",
            "legacy_import_batches",
            "legacy_import_runs",
            "sync_outbox",
            "lots",
            "movements",
            "ledger_operations",
            "card_balances",
            "cards",
        ):
            conn.execute(text(f"DELETE FROM {table}"))
    assert can_load_fast(db) == is_postgres
    apply_plan(db, plan, fast=True)
    assert snapshot(db) == with_triggers
    with db.connect() as conn:
        fast_rows = conn.execute(
            text("SELECT topic, key, slot, origin, state, attempts FROM sync_outbox ORDER BY id")
        ).all()
        assert check_ledger(conn) == []
    # Same rows in the same order, up to the ids the sequences gave the cards.
    assert [(r[0], r[3], r[4], r[5]) for r in fast_rows] == [
        (r[0], r[3], r[4], r[5]) for r in outbox_triggers
    ]
