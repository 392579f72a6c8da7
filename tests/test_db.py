"""The PostgreSQL engine pings a pooled connection only when it sat idle (``PING_AFTER_IDLE_SECONDS``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from bonusbridge import db as db_module
from bonusbridge.db import create_db_engine


@pytest.fixture
def pg_engine(db: Engine) -> Any:
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite opens a connection per checkout: there is no pool to ping")
    engine = create_db_engine(db.url.render_as_string(hide_password=False), pool_size=1, ping="when_idle")
    yield engine
    engine.dispose()


def count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    ping = engine.dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return pings


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_handed_back_moments_ago_is_not_pinged(pg_engine, monkeypatch):
    backend_pid(pg_engine)  # opens the pooled connection
    pings = count_pings(pg_engine, monkeypatch)
    first = backend_pid(pg_engine)
    assert backend_pid(pg_engine) == first  # the same connection, reused
    assert pings == []


def test_an_idle_connection_killed_by_the_server_is_replaced_at_checkout(pg_engine, db, monkeypatch):
    killed = backend_pid(pg_engine)
    with db.connect() as admin:
        assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed}).scalar_one()
        admin.commit()
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if idle for long
    pings = count_pings(pg_engine, monkeypatch)
    replaced = backend_pid(pg_engine)  # no error: the dead connection was pinged and discarded
    assert replaced != killed
    assert len(pings) >= 1


def test_the_default_engine_pings_every_checkout(db, monkeypatch):
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite opens a connection per checkout: there is no pool to ping")
    engine = create_db_engine(db.url.render_as_string(hide_password=False), pool_size=1)
    try:
        backend_pid(engine)
        pings = count_pings(engine, monkeypatch)
        backend_pid(engine)
        backend_pid(engine)
        assert len(pings) == 2  # the web's engine: no request ever meets a dead connection
    finally:
        engine.dispose()


def test_a_sql_constant_is_written_into_the_statement():
    from sqlalchemy import column, select
    from sqlalchemy.dialects import postgresql

    from bonusbridge.db import sql_constant

    sql = str(
        select(column("id"))
        .where(column("state") == sql_constant("pending"), column("n") > sql_constant(0))
        .compile(dialect=postgresql.dialect())
    )
    assert "state = 'pending'" in sql and "n > 0" in sql
    assert sql_constant("it's") is not None  # quotes are doubled, not an injection
    assert "'it''s'" in str(sql_constant("it's"))
    for wrong in (1.5, None, True, ["pending"]):
        with pytest.raises(TypeError):
            sql_constant(wrong)  # type: ignore[arg-type]
