"""Staff auto-merge at import: ``bonusbridge migrate apply PLAN --auto-merge program=…|group=…``."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from bonusbridge.models import Card, CardMerge, CardStatus, Customer
from bonusbridge.settings import get_settings
from bonusbridge.unit_of_work import UnitOfWork
from reconciliation.legacy.cli import app
from reconciliation.merges import list_merges, unmerge
from tests.reconciliation.legacy.conftest import EXAMPLE_FILES, EXAMPLE_MAPPINGS


@pytest.fixture
def runner(db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
def plan(runner: CliRunner, tmp_path: Path) -> Path:
    args = ["plan", *map(str, EXAMPLE_FILES), "--out", str(tmp_path / "plan")]
    for mapping in EXAMPLE_MAPPINGS:
        args += ["-m", str(mapping)]
    planned = runner.invoke(app, [*args, "--as-of", "2026-11-30T21:00:00+00:00"])
    assert planned.exit_code == 0, planned.output
    return tmp_path / "plan"


def groups(plan: Path, *, mergeable: bool = True) -> dict[str, list[tuple[str, str]]]:
    """Group id → (program, card number); only the groups auto-merge may merge (``mergeable``)."""
    found: dict[str, list[tuple[str, str]]] = {}
    with (plan / "report.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["kind"] == "phone_group" and (not mergeable or "left to staff" not in row["detail"]):
                found.setdefault(row["group"], []).append((row["program"], row["card_number"]))
    return found


def test_a_group_chosen_by_staff_is_merged_at_import_logged_and_can_be_undone(runner, plan, db):
    all_groups = groups(plan)
    assert all_groups, "the examples have cards sharing a phone"
    group, members = next(iter(all_groups.items()))
    applied = runner.invoke(
        app, ["apply", str(plan), "--auto-merge", f"group={group}", "--merged-by", "olga"]
    )
    assert applied.exit_code == 0, applied.output
    assert "auto-merge: 1 of 1 groups merged" in applied.output
    with UnitOfWork(db) as uow:
        [entry] = list_merges(uow.session)
        assert (entry.actor, entry.origin) == ("olga", "admin") and "auto-merge at import" in (
            entry.reason or ""
        )
        cards = uow.session.scalars(select(Card).where(Card.number.in_([n for _, n in members]))).all()
        owners = {card.customer_id for card in cards}
        assert len(owners) == 1 and None not in owners
        customer = uow.session.get(Customer, owners.pop())
        assert customer.phone_verified_at is None  # the cabinet verifies it at the customer's login
        assert sum(card.is_primary for card in cards) == 1
        assert sum(card.status is CardStatus.BLOCKED for card in cards) == len(members) - 1
    # Again: the plan's batches and the merge are both done already.
    again = runner.invoke(app, ["apply", str(plan), "--auto-merge", f"group={group}", "--merged-by", "olga"])
    assert again.exit_code == 0 and "1 of 1 groups merged (1 before)" in again.output
    with UnitOfWork(db) as uow:
        assert len(uow.session.scalars(select(CardMerge)).all()) == 1
        unmerge(uow, entry.id, actor="olga", reason="wrong", key="undo")
        uow.commit()
    with UnitOfWork(db) as uow:
        cards = uow.session.scalars(select(Card).where(Card.number.in_([n for _, n in members]))).all()
        assert {card.customer_id for card in cards} == {None}
        assert not any(card.status is CardStatus.BLOCKED or card.is_primary for card in cards)


def test_by_program_every_group_with_a_card_of_it_is_merged(runner, plan, db):
    all_groups = groups(plan)
    code = all_groups[next(iter(all_groups))][0][0]
    expected = sum(1 for members in all_groups.values() if any(c == code for c, _ in members))
    applied = runner.invoke(app, ["apply", str(plan), "--auto-merge", f"program={code}"])
    assert applied.exit_code == 0, applied.output
    with UnitOfWork(db) as uow:
        assert len(list_merges(uow.session)) == expected


def test_an_unknown_auto_merge_choice_stops_before_anything_is_applied(runner, plan, db):
    for choice in ("group=P999", "program=nope", "everything"):
        refused = runner.invoke(app, ["apply", str(plan), "--auto-merge", choice])
        assert refused.exit_code == 2, refused.output
    with UnitOfWork(db) as uow:
        assert uow.session.scalars(select(Card)).all() == []
