"""What the sync is doing, for ``bonusbridge sync status`` and Prometheus: outbox depth, inbound lag,
last success per direction, dead letters, parked changes, the breaker, why each pending message to
1C waits (``why_pending``), and the change feed's last stored message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from bonusbridge.models import SyncState
from connectors.onec.changefeed import ONEC_CHANGED_AT
from connectors.sync import cursors
from connectors.sync.slots import INBOX, OUTBOX, PENDING


@dataclass(frozen=True)
class SyncStatus:
    outbox_pending: int
    outbox_dead: int
    inbox_pending: int
    inbox_parked: int
    inbox_dead: int
    inbound_lag_seconds: float
    outbound_lag_seconds: float
    last_success: dict[str, str | None]
    breaker: str
    breaker_failures: int
    feed_position: int | None
    #: The configured change feed, and the newest change it stored: (inbox id, entity set, stored
    #: at, 1C's own time of the change when the feed gave one).
    feed: str = "select_changes"
    last_stored: tuple[int, str, datetime, datetime | None] | None = None
    #: Pending messages to 1C by why they wait (``waiting_counts``).
    waiting: dict[str, int] | None = None

    @property
    def dlq_size(self) -> int:
        return self.outbox_dead + self.inbox_dead

    def lines(self) -> list[str]:
        return [
            f"outbox: {self.outbox_pending} pending (oldest {self.outbound_lag_seconds:.1f} s), "
            f"{self.outbox_dead} dead",
            f"inbox: {self.inbox_pending} pending (lag {self.inbound_lag_seconds:.1f} s), "
            f"{self.inbox_parked} parked, {self.inbox_dead} dead",
            f"dead-letter queue: {self.dlq_size}",
            f"last success: to 1C {self.last_success.get('outbound') or 'never'}, "
            f"from 1C {self.last_success.get('inbound') or 'never'}",
            f"1C circuit breaker: {self.breaker} ({self.breaker_failures} consecutive failure(s))",
            *self._waiting_line(),
            self._feed_line(),
        ]

    def _waiting_line(self) -> list[str]:
        if not self.waiting or not self.outbox_pending:
            return []
        labels = {
            "due": "due",
            "outage": "waiting for 1C to come back",
            "retry": "retrying after a failure",
            "not_ready": "waiting for what they need to reach 1C",
        }
        parts = [f"{count} {labels[name]}" for name, count in self.waiting.items() if count]
        return [f"outbox waits: {', '.join(parts)}"] if parts else []

    def _feed_line(self) -> str:
        if self.last_stored is None:
            stored = "nothing stored yet"
        else:
            number, entity_set, at, onec_at = self.last_stored
            stored = f"#{number} {entity_set} stored at {at:%Y-%m-%d %H:%M:%S} UTC"
            if onec_at is not None:
                stored += f" (changed in 1C at {onec_at:%Y-%m-%d %H:%M:%S} UTC)"
        if self.feed == "amqp":
            return f"change feed (amqp): last stored message {stored}"
        return (
            f"change feed ({self.feed}): last acknowledged message {self.feed_position or '-'}, "
            f"last stored change {stored}"
        )


def _count(conn: Any, table: Any, state: SyncState) -> int:
    return int(
        conn.execute(select(func.count()).select_from(table).where(table.c.state == state.value)).scalar()
    )


def _oldest(conn: Any, table: Any, column: Any) -> datetime | None:
    value = conn.execute(select(func.min(column)).where(table.c.state == PENDING)).scalar()
    if isinstance(value, str):  # SQLite aggregates lose the column type
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


def _last_stored(conn: Any, feed: str) -> tuple[int, str, datetime, datetime | None] | None:
    """The newest inbox row the feed stored (the primary key read backwards, so it costs one look)."""
    import json

    row = conn.execute(
        select(INBOX.c.id, INBOX.c.entity_set, INBOX.c.received_at, INBOX.c.payload)
        .where(INBOX.c.source == feed)
        .order_by(INBOX.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    onec_at: datetime | None = None
    try:
        stamp = json.loads(row.payload).get(ONEC_CHANGED_AT)
        onec_at = _aware(datetime.fromisoformat(stamp)) if stamp else None
    except (ValueError, TypeError, AttributeError):
        onec_at = None
    received = _aware(row.received_at)
    assert received is not None
    return int(row.id), str(row.entity_set), received, onec_at


def sync_status(engine: Engine, now: datetime, *, feed: str = "select_changes") -> SyncStatus:
    with engine.connect() as conn:
        oldest_in = _oldest(conn, INBOX, INBOX.c.received_at)
        oldest_out = _oldest(conn, OUTBOX, OUTBOX.c.created_at)
        facts = cursors.all_values(conn)
        breaker = facts.get("breaker:onec") or {}
        position = facts.get("feed:select_changes")
        return SyncStatus(
            outbox_pending=_count(conn, OUTBOX, SyncState.PENDING),
            outbox_dead=_count(conn, OUTBOX, SyncState.DEAD),
            inbox_pending=_count(conn, INBOX, SyncState.PENDING),
            inbox_parked=_count(conn, INBOX, SyncState.PARKED),
            inbox_dead=_count(conn, INBOX, SyncState.DEAD),
            inbound_lag_seconds=max(0.0, (now - oldest_in).total_seconds()) if oldest_in else 0.0,
            outbound_lag_seconds=max(0.0, (now - oldest_out).total_seconds()) if oldest_out else 0.0,
            last_success={
                d: (facts.get(f"last_success:{d}") or {}).get("at") for d in ("outbound", "inbound")
            },
            breaker=str(breaker.get("state", "closed")),
            breaker_failures=int(breaker.get("failures", 0)),
            feed_position=int(position["last_acknowledged"]) if position else None,
            feed=feed,
            last_stored=_last_stored(conn, feed),
            waiting=_waiting_counts(conn, now),
        )


_BREAKER_VALUE = {"closed": 0, "half_open": 1, "open": 2}


def prometheus_text(status: SyncStatus, now: datetime) -> str:
    """The same figures in Prometheus' text exposition format."""

    def age(at: str | None) -> float:
        return (now - datetime.fromisoformat(at)).total_seconds() if at else -1.0

    metrics: list[tuple[str, str, str, list[tuple[str, float]]]] = [
        (
            "bonusbridge_sync_outbox_pending",
            "gauge",
            "Outbox messages not yet delivered to 1C.",
            [("", status.outbox_pending)],
        ),
        (
            "bonusbridge_sync_inbox_pending",
            "gauge",
            "1C changes stored but not yet applied.",
            [("", status.inbox_pending)],
        ),
        (
            "bonusbridge_sync_inbox_parked",
            "gauge",
            "1C changes parked: they could not be mapped or applied (see sync status).",
            [("", status.inbox_parked)],
        ),
        (
            "bonusbridge_sync_dead_letters",
            "gauge",
            "Messages in the dead-letter queue.",
            [('{direction="outbound"}', status.outbox_dead), ('{direction="inbound"}', status.inbox_dead)],
        ),
        (
            "bonusbridge_sync_lag_seconds",
            "gauge",
            "Age of the oldest pending message.",
            [
                ('{direction="outbound"}', status.outbound_lag_seconds),
                ('{direction="inbound"}', status.inbound_lag_seconds),
            ],
        ),
        (
            "bonusbridge_sync_seconds_since_success",
            "gauge",
            "Seconds since the last success (-1: never).",
            [(f'{{direction="{d}"}}', age(status.last_success.get(d))) for d in ("outbound", "inbound")],
        ),
        (
            "bonusbridge_sync_breaker_state",
            "gauge",
            "1C circuit breaker: 0 closed, 1 half-open, 2 open.",
            [("", _BREAKER_VALUE.get(status.breaker, 2))],
        ),
    ]
    out = []
    for name, kind, help_text, samples in metrics:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{labels} {value:g}" for labels, value in samples)
    return "\n".join(out) + "\n"


def metrics_app(engine: Engine, clock: Any) -> Any:
    """A tiny ASGI app serving ``/metrics`` (mounted by the service, or run by ``sync metrics``)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def metrics(request: Request) -> PlainTextResponse:
        from connectors.sync.metrics import exposition  # the stage histograms (issue 20 item 1)

        now = clock()
        text = prometheus_text(sync_status(engine, now), now) + exposition().decode("utf-8")
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    return Starlette(routes=[Route("/metrics", metrics)])


# --- why each pending message to 1C waits ----------------------------------------------------------

#: ``outbound.OUTAGE``: the reason prefix of a message an outage deferred (kept here to avoid the
#: import of the delivery code into a status read).
_OUTAGE = "waiting for 1C"


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value


def _short(text: str | None, limit: int = 120) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def waiting_counts(engine: Engine, now: datetime) -> dict[str, int]:
    with engine.connect() as conn:
        return _waiting_counts(conn, now)


def _waiting_counts(conn: Any, now: datetime) -> dict[str, int]:
    """Pending outbox messages by why they wait: ``due`` (may go now), ``outage`` (1C down: waiting
    for the breaker's trial, uncounted), ``retry`` (a counted failure's backoff), ``not_ready``
    (something it needs is not in 1C yet)."""
    pending = OUTBOX.c.state == PENDING
    later = and_(pending, OUTBOX.c.next_attempt_at > now)
    conditions = {
        "due": and_(pending, or_(OUTBOX.c.next_attempt_at.is_(None), OUTBOX.c.next_attempt_at <= now)),
        "outage": and_(later, OUTBOX.c.last_error.like(f"{_OUTAGE}%")),
        "retry": and_(later, OUTBOX.c.attempts > 0, ~OUTBOX.c.last_error.like(f"{_OUTAGE}%")),
        "not_ready": and_(later, OUTBOX.c.attempts == 0, ~OUTBOX.c.last_error.like(f"{_OUTAGE}%")),
    }
    return {
        name: int(conn.scalar(select(func.count()).select_from(OUTBOX).where(where)) or 0)
        for name, where in conditions.items()
    }


def why_pending(engine: Engine, now: datetime, *, limit: int = 20) -> list[str]:
    """One line per pending message to 1C, oldest first (at most ``limit``): what it is and why it
    has not gone yet — 1C down (until the breaker's next trial), a counted retry's backoff and its
    error, something it needs not yet in 1C, behind an older message of the same key, or due."""
    columns = (
        OUTBOX.c.id,
        OUTBOX.c.topic,
        OUTBOX.c.key,
        OUTBOX.c.attempts,
        OUTBOX.c.next_attempt_at,
        OUTBOX.c.published_at,
        OUTBOX.c.last_error,
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(*columns).where(OUTBOX.c.state == PENDING).order_by(OUTBOX.c.id).limit(limit)
        ).all()
    lines = []
    first_of_key: dict[str, int] = {}
    for row in rows:
        until = _aware(row.next_attempt_at)
        error = row.last_error or ""
        if until is not None and until > now:
            at = f"{until:%H:%M:%S} (in {(until - now).total_seconds():.0f} s)"
            if error.startswith(_OUTAGE):
                why = f"1C is down: waits for the breaker's next trial call at {at}, not counted"
                why += f" [{_short(error.removeprefix(_OUTAGE).lstrip(': '))}]"
            elif row.attempts:
                why = f"failed {row.attempts} time(s), next try at {at}: {_short(error)}"
            else:
                why = f"waits until {at}: {_short(error) or 'deferred'}"
        elif row.key in first_of_key:
            why = f"behind #{first_of_key[row.key]} of the same {row.topic} (delivered in order)"
        elif row.published_at is None:
            why = "due: the relay publishes it next"
        else:
            why = "due and published: a worker delivers it"
        first_of_key.setdefault(row.key, row.id)
        lines.append(f"#{row.id} {row.key}: {why}")
    return lines
