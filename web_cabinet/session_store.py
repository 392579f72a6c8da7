"""Where logged-in sessions are kept: the database by default, Redis when ``session_store_url`` says.

The session cookie is signed and carries the session's random id (``sid``); a logged-in session is
also a record here, keyed by a SHA-256 of that id, with whose it is (a customer, a staff user) and
its absolute end. A page view of a logged-in cookie whose record is gone is a logged-out one, so:

- logout deletes the record: the old cookie, replayed, opens nothing;
- disabling a staff user or changing their password deletes all their records (``end_all``);
- a login ends ``*_session_absolute_seconds`` after it began however active it is (the cookie's
  signed timestamp keeps the sliding, idle end).

Anonymous sessions (the login steps) have no record: they cost no write, and hold no power.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, Table, bindparam, delete, select
from sqlalchemy.exc import DBAPIError

from bonusbridge.models import LoginSession
from bonusbridge.settings import Settings

CABINET = "cabinet"
STAFF = "staff"


_TABLE: Table = LoginSession.__table__  # type: ignore[assignment]


#: The read of every logged-in page view, built once.
_ALIVE = select(_TABLE.c.kind, _TABLE.c.subject_id, _TABLE.c.expires_at).where(_TABLE.c.id == bindparam("id"))


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore(Protocol):
    def open(self, kind: str, sid: str, subject_id: int, now: datetime, lifetime: timedelta) -> None: ...

    def alive(self, kind: str, sid: str, subject_id: int, now: datetime) -> bool: ...

    def end(self, kind: str, sid: str) -> None: ...

    def end_all(self, kind: str, subject_id: int) -> int: ...


class DatabaseSessionStore:
    """Records in ``login_sessions``; expired ones of a subject are swept at its next login.

    ``alive``, asked on every logged-in page view, reads on ``read_engine`` when given (the hub's:
    autocommit, no ping per checkout), a read repeated once on a connection a restart killed."""

    def __init__(self, engine: Engine, read_engine: Engine | None = None) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine

    def open(self, kind: str, sid: str, subject_id: int, now: datetime, lifetime: timedelta) -> None:
        table = _TABLE
        with self.engine.begin() as conn:
            conn.execute(
                delete(table).where(
                    table.c.kind == kind, table.c.subject_id == subject_id, table.c.expires_at <= now
                )
            )
            conn.execute(
                table.insert().values(
                    id=_key(sid), kind=kind, subject_id=subject_id, created_at=now, expires_at=now + lifetime
                )
            )

    def alive(self, kind: str, sid: str, subject_id: int, now: datetime) -> bool:
        query = _ALIVE.params(id=_key(sid))
        for attempt in (1, 2):
            try:
                with self.read_engine.connect() as conn:
                    row = conn.execute(query).first()
                break
            except DBAPIError as failed:
                if attempt == 2 or not failed.connection_invalidated:
                    raise
        return row is not None and row.kind == kind and row.subject_id == subject_id and now < row.expires_at

    def end(self, kind: str, sid: str) -> None:
        table = _TABLE
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.id == _key(sid), table.c.kind == kind))

    def end_all(self, kind: str, subject_id: int) -> int:
        table = _TABLE
        with self.engine.begin() as conn:
            result = conn.execute(delete(table).where(table.c.kind == kind, table.c.subject_id == subject_id))
        return int(result.rowcount or 0)


class RedisSessionStore:
    """Records as Redis keys ``bb:session:<kind>:<hash>`` = ``<subject id>:<absolute end>``, which
    Redis drops itself after the login's lifetime, plus a set per subject for ``end_all``."""

    def __init__(self, url: str, prefix: str = "bb:session") -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = prefix

    def _record(self, kind: str, sid: str) -> str:
        return f"{self.prefix}:{kind}:{_key(sid)}"

    def _subject(self, kind: str, subject_id: int) -> str:
        return f"{self.prefix}-of:{kind}:{subject_id}"

    def open(self, kind: str, sid: str, subject_id: int, now: datetime, lifetime: timedelta) -> None:
        end = int((now + lifetime).timestamp())
        seconds = max(1, int(lifetime.total_seconds()))
        record, subject = self._record(kind, sid), self._subject(kind, subject_id)
        pipe = self.client.pipeline()
        pipe.set(record, f"{subject_id}:{end}", ex=seconds)
        pipe.sadd(subject, record)
        pipe.expire(subject, seconds, gt=True)
        pipe.expire(subject, seconds, nx=True)
        pipe.execute()

    def alive(self, kind: str, sid: str, subject_id: int, now: datetime) -> bool:
        value = self.client.get(self._record(kind, sid))
        if value is None:
            return False
        who, _, end = value.decode().partition(":")
        # the end is checked here too: the app's clock (a test's) need not be Redis's
        return who == str(subject_id) and end.isdigit() and now.timestamp() < int(end)

    def end(self, kind: str, sid: str) -> None:
        self.client.delete(self._record(kind, sid))

    def end_all(self, kind: str, subject_id: int) -> int:
        subject = self._subject(kind, subject_id)
        records = list(self.client.smembers(subject))
        ended = int(self.client.delete(*records)) if records else 0
        self.client.delete(subject)
        return ended


def session_store(settings: Settings, engine: Engine, read_engine: Engine | None = None) -> SessionStore:
    """The store ``settings`` configure: Redis for a ``redis://``/``rediss://`` URL, else the database
    (``read_engine`` for the check of each page view, see ``DatabaseSessionStore``)."""
    url = settings.session_store_url.strip()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisSessionStore(url)
    if url:
        raise ValueError("BONUSBRIDGE_SESSION_STORE_URL: empty (the database) or a redis:// URL")
    return DatabaseSessionStore(engine, read_engine)
