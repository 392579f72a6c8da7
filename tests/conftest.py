"""Shared test fixtures: a real database (SQLite by default, PostgreSQL when configured), a clock
the tests move by hand, and factories for cards.

Which database: ``BONUSBRIDGE_DATABASE_URL`` if set, else a SQLite file in a temporary folder.
On PostgreSQL the schema is dropped and re-created through the Alembic migrations at the start of
the run, so only databases whose name says they are for tests (contains "test" or "ci") are used.

``BONUSBRIDGE_REQUIRE_SERVICES=1`` turns every "service unavailable" skip into a failure: CI's
second pass must prove the service-backed tests really ran.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bonusbridge.db import create_db_engine
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Base, Card, CardStatus
from bonusbridge.schema import upgrade
from bonusbridge.unit_of_work import UnitOfWork
from tests.onec_live import (  # noqa: F401 - fixtures shared by the 1C suites
    any_base,
    retail,
    retail_server,
    strict,
    strict_server,
    ut11,
    ut11_server,
)

REQUIRE_SERVICES = os.environ.get("BONUSBRIDGE_REQUIRE_SERVICES", "") not in ("", "0", "false")


def require_service(name: str, reason: str) -> None:
    """Skip (or, when services are required, fail) a test whose external service is missing."""
    message = f"{name} unavailable: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (BONUSBRIDGE_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


class FakeClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def database_url(tmp_dir: Path) -> str:
    return os.environ.get("BONUSBRIDGE_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.sqlite3'}"


def _reset_postgres(engine: Engine) -> None:
    name = engine.url.database or ""
    if "test" not in name and "ci" not in name:
        raise pytest.UsageError(
            f"refusing to wipe PostgreSQL database {name!r}: its name must contain 'test' or 'ci'"
        )
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = database_url(tmp_path_factory.mktemp("db"))
    engine = create_db_engine(url, pool_size=30)
    if make_url(url).get_backend_name() == "postgresql":
        try:
            _reset_postgres(engine)
        except Exception as exc:  # pragma: no cover - depends on the machine
            if isinstance(exc, pytest.UsageError):
                raise
            pytest.exit(f"PostgreSQL at {url} unusable: {exc}", returncode=3)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The engine, with every table emptied first; after the test, ``ledger check`` must be clean
    (every balance agrees with its movements, lots and holds), whatever path the test drove —
    except in a test marked ``ledger_drift`` that breaks the ledger on purpose to see it found."""
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
    yield engine
    if request.node.get_closest_marker("ledger_drift") is None:
        with engine.connect() as conn:
            findings = check_ledger(conn)
        assert findings == [], f"ledger check after the test: {findings[:5]}"


@pytest.fixture
def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 15, 10, 0, tzinfo=UTC))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """On PostgreSQL every ledger test runs twice: through the fast path (one PL/pgSQL call for
    accrue and redeem) and through the pure Python path, which must behave identically."""
    if "ledger_path" in metafunc.fixturenames:
        url = os.environ.get("BONUSBRIDGE_DATABASE_URL", "")
        paths = ["fast", "python"] if url.startswith("postgresql") else ["python"]
        metafunc.parametrize("ledger_path", paths)


@pytest.fixture
def ledger(db: Engine, clock: FakeClock, ledger_path: str) -> LedgerService:
    service = LedgerService(db, clock=clock, hold_ttl=timedelta(minutes=15), fast_path=ledger_path == "fast")
    assert (service.fast is not None) == (ledger_path == "fast")
    return service


CardFactory = Callable[..., int]


@pytest.fixture
def make_card(db: Engine, clock: FakeClock) -> CardFactory:
    """``make_card(status=..., program="dobrostroy", number=None)`` → the new card's id."""
    counter = iter(range(1, 1_000_000))

    def factory(
        status: CardStatus = CardStatus.ACTIVE, program: str = "dobrostroy", number: str | None = None
    ) -> int:
        with UnitOfWork(db, clock=clock) as uow:
            program_row = uow.programs.get_or_create(
                program, program.title(), is_legacy=program != "dobrostroy"
            )
            card = uow.cards.add(
                Card(program_id=program_row.id, number=number or f"2000-{next(counter):08d}", status=status)
            )
            uow.commit()
            return card.id

    return factory
