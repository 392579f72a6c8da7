"""The hot queries use their partial indexes even in the generic plan of a prepared statement.

psycopg prepares any statement a connection runs five times, and PostgreSQL then may settle on a
generic plan, made without the parameters' values. A partial index (``WHERE state = 'pending'``)
is usable there only if the query writes that constant into its text (``db.sql_constant``); sent
as a parameter, the plan scans the table instead — slower as the table grows. Each test plans
the statement as the application sends it, generic and with sequential scans discouraged, and
reads which index the plan uses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from bonusbridge.ledger.book import balance_query
from connectors.sync.inbound import BATCH_COLUMNS, movements_of_query
from connectors.sync.slots import INBOX, OUTBOX, pending_query


def generic_plan(conn: Connection, statement: Any, params: dict[str, Any] | None = None) -> str:
    """EXPLAIN of ``statement`` PREPAREd with its parameters as ``$n`` and planned generically."""
    compiled = statement.compile(dialect=conn.dialect)
    expanded = compiled.construct_expanded_state({**compiled.params, **(params or {})})
    values = expanded.parameters
    order: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    sql = re.sub(r"%\((\w+)\)s", placeholder, expanded.statement)
    conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    conn.exec_driver_sql(f"PREPARE bb_plan AS {sql}")
    try:
        arguments = ", ".join(_sql_literal(values[name]) for name in order)
        rows = conn.exec_driver_sql(
            f"EXPLAIN EXECUTE bb_plan({arguments})" if order else "EXPLAIN EXECUTE bb_plan"
        )
        return "\n".join(str(row[0]) for row in rows)
    finally:
        conn.exec_driver_sql("DEALLOCATE bb_plan")


def _sql_literal(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(_sql_literal(v) for v in value) + "]"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    return "'" + str(getattr(value, "value", value)).replace("'", "''") + "'"


@pytest.fixture
def pg(db: Engine) -> Any:
    if db.dialect.name != "postgresql":
        pytest.skip("plans and partial indexes of PostgreSQL")
    with db.connect() as conn, conn.begin():
        yield conn


@pytest.mark.parametrize("table", [INBOX, OUTBOX], ids=["inbox", "outbox"])
def test_a_drain_reads_pending_rows_through_the_pending_index(pg, table):
    plan = generic_plan(pg, pending_query(table, [3, 17], after=0, limit=200, extra=()))
    assert f"ix_{table.name}_pending_slot" in plan, plan


def test_a_batch_reads_the_inbox_with_its_payload_through_the_pending_index(pg):
    plan = generic_plan(pg, pending_query(INBOX, [1, 2, 3], after=10, limit=200, extra=BATCH_COLUMNS))
    assert "ix_sync_inbox_pending_slot" in plan, plan


def test_a_batch_finds_earlier_movements_of_1c_documents_through_their_index(pg):
    plan = generic_plan(pg, movements_of_query(["a0000000-0000-4000-8000-000000000001"]))
    assert "ix_movements_onec_document" in plan, plan


def test_the_balance_read_sums_open_lots_through_their_index(pg):
    now = datetime(2026, 12, 6, tzinfo=UTC)
    statement, params = balance_query([1, 2], now=now, expiring_within=timedelta(days=30))
    plan = generic_plan(pg, statement, params)
    assert "ix_lots_open_by_card" in plan, plan
