"""Named JSON facts in ``sync_cursors``: feed position, last successes, the breaker, load progress."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bonusbridge.models import SyncCursor

table = cast(Table, SyncCursor.__table__)


def read(conn: Connection, name: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = select(table.c.value).where(table.c.name == name)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    value = conn.execute(query).scalar()
    return None if value is None else cast(dict[str, Any], json.loads(value))


def write(conn: Connection, name: str, value: dict[str, Any]) -> None:
    """Insert or replace, atomically (two workers may record the same fact at once)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    now = datetime.now(UTC)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(name=name, value=text, updated_at=now)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.name], set_={"value": text, "updated_at": now}
        )
    )


def all_values(conn: Connection) -> dict[str, dict[str, Any]]:
    return {row.name: json.loads(row.value) for row in conn.execute(select(table.c.name, table.c.value))}


_last_noted: dict[str, float] = {}


def note_success(engine: Engine, direction: str, at: datetime) -> None:
    """Record the last success of a direction ("outbound" | "inbound"), at most once a second per
    process: it is for ``sync status``, and must not add a write to every message."""
    now = time.monotonic()
    if now - _last_noted.get(direction, 0.0) < 1.0:
        return
    _last_noted[direction] = now
    with engine.begin() as conn:
        write(conn, f"last_success:{direction}", {"at": at.isoformat()})
