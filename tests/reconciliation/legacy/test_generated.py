"""The generated estate of issue 7: 20 programs, 200 000 cards (30 % sharing a phone, 5 % invalid
phones, numbers reused across programs, a few broken rows per file), planned and applied, then
checked against the plan and the ledger's own audit. And a crash: ``migrate apply`` killed with
SIGKILL mid-way, run again, ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bonusbridge.db import create_db_engine
from bonusbridge.ledger.audit import check_ledger, total_points
from bonusbridge.models import Base
from bonusbridge.schema import upgrade
from reconciliation.legacy.applier import apply_plan
from reconciliation.legacy.planner import make_plan
from reconciliation.legacy.synth import generate
from tests.reconciliation.legacy.conftest import AS_OF, snapshot


@pytest.fixture
def own_db(db: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Engine]]:
    """Databases for big loads. PostgreSQL: the suite's database, emptied (TRUNCATE is instant).
    SQLite: a fresh file each call — emptying a table of 200 000 cards row by row is quadratic there
    (``cards.merged_into_id`` refers to ``cards`` and has no index), so nothing is left behind."""
    engines: list[Engine] = []

    def make() -> Engine:
        if db.dialect.name == "postgresql":
            _wipe(db)
            return db
        engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('legacy') / 'hub.sqlite3'}")
        upgrade(engine)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()
    if db.dialect.name == "postgresql":
        _wipe(db)


def _count(db: Engine, sql: str) -> int:
    with db.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_twenty_programs_and_200_000_cards(own_db: Callable[[], Engine], tmp_path: Path) -> None:
    db = own_db()
    estate = generate(tmp_path / "in", programs=20, cards=200_000, bad_rows=5)
    started = time.perf_counter()
    plan = make_plan(estate.files, tmp_path / "plan", mappings=estate.mappings, as_of=AS_OF, engine=db)
    planned = time.perf_counter()
    header = plan.header
    rejected = sum(s["rejected"] for s in header["stats"])
    negative = sum(s["negative"] for s in header["stats"])  # imported as 0, the debt reported
    assert rejected + negative == estate.bad_rows == 100 and negative > 0
    assert header["cards"] == 200_000 - rejected
    invalid = sum(sum(s["invalid_phones"].values()) for s in header["stats"])
    assert 0.04 < invalid / 200_000 < 0.06
    shared = header["duplicates"]["cards_in_phone_groups"]
    assert 0.22 < shared / 200_000 < 0.32
    assert header["duplicates"]["number_groups"] > 0

    result = apply_plan(db, tmp_path / "plan", jobs=2)
    applied = time.perf_counter()
    assert result.created == header["cards"] and result.skipped == 0 and not result.issues
    points = sum((Decimal(s["balance"]) for s in header["stats"]), start=Decimal(0))
    with db.connect() as conn:
        assert check_ledger(conn) == []
        assert total_points(conn) == points
    with_balance = sum(s["with_balance"] for s in header["stats"])
    assert _count(db, "SELECT count(*) FROM cards") == header["cards"]
    assert _count(db, "SELECT count(*) FROM movements WHERE origin = 'migration'") == with_balance
    assert _count(db, "SELECT count(*) FROM sync_outbox WHERE topic = 'card'") == header["cards"]
    assert _count(db, "SELECT count(*) FROM sync_outbox WHERE topic = 'movement'") == with_balance
    assert _count(db, "SELECT count(*) FROM legacy_cards") == header["cards"]
    print(f"plan {planned - started:.1f} s, apply {applied - planned:.1f} s")


def _wipe(db: Engine) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


def _apply_command(db: Engine, plan: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BONUSBRIDGE_DATABASE_URL": db.url.render_as_string(hide_password=False)}
    return subprocess.Popen(
        [sys.executable, "-m", "bonusbridge", "migrate", "apply", str(plan), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_kill_9_mid_apply_then_resume_equals_an_uninterrupted_run(
    own_db: Callable[[], Engine], tmp_path: Path
) -> None:
    db = own_db()
    estate = generate(tmp_path / "in", programs=4, cards=12_000, seed=11)
    make_plan(estate.files, tmp_path / "plan", mappings=estate.mappings, as_of=AS_OF, batch_size=500)

    victim = _apply_command(db, tmp_path / "plan", "--pause", "0.2", "--jobs", "2")
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline:
        try:
            done = _count(db, "SELECT count(*) FROM legacy_import_batches")
        except Exception:  # the table is being written; try again
            done = 0
        if done >= 4:
            break
        assert victim.poll() is None, victim.communicate()[0].decode()
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    interrupted = _count(db, "SELECT count(*) FROM legacy_import_batches")
    assert 4 <= interrupted < 24, interrupted  # it really died mid-way
    assert _count(db, "SELECT count(*) FROM cards") == 500 * interrupted  # whole batches only

    resumed = _apply_command(db, tmp_path / "plan")
    output = resumed.communicate(timeout=300)[0].decode()
    assert resumed.returncode == 0, output
    assert f"{24 - interrupted} batches applied now, {interrupted} done before" in output
    after_crash = snapshot(db)
    with db.connect() as conn:
        assert check_ledger(conn) == []

    db = own_db()
    clean = _apply_command(db, tmp_path / "plan")
    output = clean.communicate(timeout=300)[0].decode()
    assert clean.returncode == 0, output
    assert "24 batches applied now, 0 done before" in output
    assert snapshot(db) == after_crash
    assert len(after_crash["cards"]) == 12_000 - 0 and len(after_crash["batches"]) == 24


@pytest.mark.parametrize("jobs", [1, 2])
def test_parallel_batches_end_in_the_same_state(
    own_db: Callable[[], Engine], tmp_path: Path, jobs: int
) -> None:
    db = own_db()
    estate = generate(tmp_path / "in", programs=3, cards=3_000, seed=3)
    make_plan(estate.files, tmp_path / "plan", mappings=estate.mappings, as_of=AS_OF, batch_size=400)
    apply_plan(db, tmp_path / "plan", jobs=jobs)
    state = snapshot(db)
    with db.connect() as conn:
        assert check_ledger(conn) == []
    assert len(state["cards"]) == 3_000 and len(state["batches"]) == 8


def test_two_applies_of_one_plan_at_once_write_everything_once(
    own_db: Callable[[], Engine], tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    estate = generate(tmp_path / "in", programs=3, cards=3_000, seed=4)
    make_plan(estate.files, tmp_path / "plan", mappings=estate.mappings, as_of=AS_OF, batch_size=300)
    db = own_db()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: apply_plan(db, tmp_path / "plan"), range(2)))
    assert sum(r.batches_applied for r in results) == 10
    assert sum(r.created for r in results) == 3_000
    together = snapshot(db)
    with db.connect() as conn:
        assert check_ledger(conn) == []
    alone = own_db()
    apply_plan(alone, tmp_path / "plan")
    assert snapshot(alone) == together
