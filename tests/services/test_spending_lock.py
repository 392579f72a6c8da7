"""The accumulation-only lock is a derived invariant (issue 15, item 1): every path that can leave a
card bound to a customer leaves it ``accumulation_only`` while the owner's profile is incomplete
and ``active`` once it is complete — the cabinet, staff, merges and unmerges, the legacy import,
1C's initial load and its partner and card updates, the demos' seeds, and a change of the required
fields (``bonusbridge cards recheck``, also run by beat every night). Status changes the rule
derives reach 1C through the outbox, credited to the system, never to 1C."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bonusbridge.celery_app import RECHECK_CARDS_TASK, app
from bonusbridge.models import Card, CardStatus, Origin, OutboxMessage
from bonusbridge.services.cards import recheck_all_cards
from bonusbridge.unit_of_work import UnitOfWork
from connectors.sync.pull import pull_full
from tests.conftest import FakeClock
from tests.onec_live import CARD_1, CARD_2, PARTNER_IVANOV, PARTNER_PETROVA, Base
from tests.services.lock_paths import PATHS, REQUIRED, Env, expected, wrong
from tests.sync.conftest import Harness

PETROVA_CARD = "40000000-0000-4000-8000-000000000003"  # 2000000000035, the demo's verified phone
KUZNETSOVA_CARD = "40000000-0000-4000-8000-000000000005"  # 2000000000059
PARTNER_KUZNETSOVA = "10000000-0000-4000-8000-000000000004"
CARDS = "Catalog_ИнформационныеКарты"
PARTNERS = "Catalog_Партнеры"


@pytest.fixture
def env(db: Engine, clock: FakeClock) -> Env:
    return Env(db, clock)


def hub_card(engine: Engine, ref: str) -> Card:
    with UnitOfWork(engine) as uow:
        card = uow.session.scalars(select(Card).where(Card.onec_ref == ref)).one()
        uow.session.expunge(card)
        return card


# --------------------------------------------------------------------------- 1C's paths


def onec_paths(h: Harness, complete: bool) -> dict[str, list[int]]:
    """1C's initial load (``sync pull``), then 1C changing a card's owner and a partner's profile,
    each through the sync as deployed (change feed, inbox, drains) against the emulated 1C.

    The demo base: Иванов (names and birth date: complete) owns cards 1 and 2; Петрова and
    Кузнецова (no birth date: incomplete) own 2000000000035 and 2000000000059."""
    engine = h.ctx.engine
    produced: dict[str, list[int]] = {}
    if complete:  # 1C says "accumulation only" of a complete customer's card: the rule wins
        h.onec.patch(CARDS, CARD_1, {"Статус": "ТолькоНакопление"})
        pull_full(h.ctx)
        produced["1C: initial load (sync pull)"] = [hub_card(engine, CARD_1).id]
        h.sync()
        h.onec.patch(CARDS, KUZNETSOVA_CARD, {"ВладелецКарты": PARTNER_IVANOV})
        h.sync()
        produced["1C: card update (new owner)"] = [hub_card(engine, KUZNETSOVA_CARD).id]
        h.onec.patch(PARTNERS, PARTNER_PETROVA, {"ДатаРождения": "1990-05-17T00:00:00"})
        h.sync()
        produced["1C: partner update"] = [hub_card(engine, PETROVA_CARD).id]
    else:
        pull_full(h.ctx)
        produced["1C: initial load (sync pull)"] = [hub_card(engine, PETROVA_CARD).id]
        h.sync()
        h.onec.patch(CARDS, CARD_1, {"ВладелецКарты": PARTNER_KUZNETSOVA})
        h.sync()
        produced["1C: card update (new owner)"] = [hub_card(engine, CARD_1).id]
        h.onec.patch(PARTNERS, PARTNER_IVANOV, {"ДатаРождения": "0001-01-01T00:00:00"})
        h.sync()
        produced["1C: partner update"] = [hub_card(engine, CARD_2).id]
    return produced


# --------------------------------------------------------------------------- every path


@pytest.mark.parametrize("complete", [False, True], ids=["incomplete", "complete"])
def test_every_path_that_binds_a_card_leaves_the_lock_the_profile_calls_for(
    complete: bool, env: Env, retail: Base, db: Engine
) -> None:
    want = expected(complete)
    outcomes: dict[str, list[tuple[int, CardStatus, int | None]]] = {}
    h = Harness(retail, db)
    try:
        for name, cards in onec_paths(h, complete).items():
            outcomes[name] = [(card, env.status(card), env.owner(card)) for card in cards]
        h.sync()  # and 1C learns the status the hub derived
        onec_status = h.onec.get(CARDS, PETROVA_CARD)["Статус"]
    finally:
        h.close()
    for name, path in PATHS.items():
        outcomes[name] = [(card, env.status(card), env.owner(card)) for card in path(env, complete)]
    assert len(outcomes) == len(PATHS) + 3
    unbound = [name for name, cards in outcomes.items() for _, _, owner in cards if owner is None]
    assert unbound == [], "every path binds its card"
    wrong_paths = {
        name: [status.value for _, status, _ in cards if status is not want]
        for name, cards in outcomes.items()
        if any(status is not want for _, status, _ in cards)
    }
    assert wrong_paths == {}, f"these paths leave the card other than {want.value}"
    assert onec_status == ("Действует" if complete else "ТолькоНакопление"), "1C learns the lock"


# --------------------------------------------------------------------------- the lock reaches 1C


def test_a_status_the_rule_derives_from_1cs_changes_is_sent_to_1c(retail: Base, db: Engine) -> None:
    h = Harness(retail, db)
    try:
        pull_full(h.ctx)
        card = hub_card(db, PETROVA_CARD)
        assert (card.status, card.changed_by) == (CardStatus.ACCUMULATION_ONLY, Origin.SYSTEM)
        with UnitOfWork(db) as uow:
            queued = uow.session.scalars(
                select(OutboxMessage.origin).where(
                    OutboxMessage.topic == "card", OutboxMessage.entity_id == card.id
                )
            ).all()
        assert queued == [Origin.SYSTEM]
        h.sync()
        assert h.onec.get(CARDS, PETROVA_CARD)["Статус"] == "ТолькоНакопление"
        h.onec.patch(PARTNERS, PARTNER_PETROVA, {"ДатаРождения": "1990-05-17T00:00:00"})
        h.sync()
        assert hub_card(db, PETROVA_CARD).status is CardStatus.ACTIVE
        assert h.onec.get(CARDS, PETROVA_CARD)["Статус"] == "Действует"
    finally:
        h.close()


# --------------------------------------------------------------------------- the recheck


def test_the_recheck_reports_what_it_changed_and_changes_nothing_the_second_time(env: Env) -> None:
    right = env.card(env.customer(True), CardStatus.ACTIVE, primary=True)
    locked_wrongly = env.card(env.customer(True), CardStatus.ACCUMULATION_ONLY, primary=True)
    open_wrongly = env.card(env.customer(False), CardStatus.ACTIVE, primary=True)
    blocked = env.card(env.customer(False), CardStatus.BLOCKED)
    nobodys = env.card(None, CardStatus.ACTIVE)
    first = recheck_all_cards(env.uow, required_fields=REQUIRED, chunk=1)
    assert (first.checked, first.changed) == (3, 2)
    assert [env.status(c) for c in (right, locked_wrongly, open_wrongly, blocked, nobodys)] == [
        CardStatus.ACTIVE,
        CardStatus.ACTIVE,
        CardStatus.ACCUMULATION_ONLY,
        CardStatus.BLOCKED,
        CardStatus.ACTIVE,
    ]
    again = recheck_all_cards(env.uow, required_fields=REQUIRED)
    assert (again.checked, again.changed) == (3, 0)


def test_the_recheck_runs_nightly_from_beat() -> None:
    assert any(entry["task"] == RECHECK_CARDS_TASK for entry in app.conf.beat_schedule.values())
    import bonusbridge.tasks  # noqa: F401 - registers the task

    assert RECHECK_CARDS_TASK in app.tasks


def test_the_beat_task_rechecks_with_the_configured_fields(env: Env) -> None:
    from bonusbridge import tasks

    card = env.card(env.customer(False), wrong(False), primary=True)
    tasks.use_hub(env.hub())
    try:
        outcome = tasks.recheck_cards.apply().get()
    finally:
        tasks.use_hub(None)
    assert outcome == {"checked": 1, "changed": 1}
    assert env.status(card) is CardStatus.ACCUMULATION_ONLY


def bonusbridge(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "BONUSBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}", **env}
    return subprocess.run(
        [sys.executable, "-m", "bonusbridge", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cards_recheck_prints_how_many_changed_and_follows_the_setting(tmp_path: Path) -> None:
    assert bonusbridge(tmp_path, "demo").returncode == 0  # Демидова: names, no birth date
    names_only = bonusbridge(
        tmp_path, "cards", "recheck", BONUSBRIDGE_PROFILE_REQUIRED_FIELDS="last_name,first_name"
    )
    assert names_only.returncode == 0, names_only.stderr
    assert names_only.stdout.startswith("1 card(s) changed of 1 ")
    again = bonusbridge(
        tmp_path, "cards", "recheck", BONUSBRIDGE_PROFILE_REQUIRED_FIELDS="last_name,first_name"
    )
    assert again.returncode == 0 and again.stdout.startswith("0 card(s) changed of 1 ")
    default = bonusbridge(tmp_path, "cards", "recheck")
    assert default.returncode == 0 and default.stdout.startswith("1 card(s) changed of 1 ")


def test_cards_recheck_on_a_bad_database_says_so_without_a_traceback(tmp_path: Path) -> None:
    empty = bonusbridge(tmp_path, "cards", "recheck")  # no schema
    assert empty.returncode == 1
    assert "the database at" in empty.stderr and "db upgrade" in empty.stderr
    assert "Traceback" not in empty.stderr
    unreachable = bonusbridge(
        tmp_path,
        "cards",
        "recheck",
        BONUSBRIDGE_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/bb_test_none",
    )
    assert unreachable.returncode == 1 and "the database at" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
