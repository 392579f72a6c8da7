"""What the sync is doing, for ``bonusbridge sync status`` and Prometheus: outbox depth, inbound lag,
last success per direction, dead letters, parked changes, the breaker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from bonusbridge.models import SyncState
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
            f"change feed: last acknowledged message {self.feed_position or '-'}",
        ]


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


def sync_status(engine: Engine, now: datetime) -> SyncStatus:
    with engine.connect() as conn:
        oldest_in = _oldest(conn, INBOX, INBOX.c.received_at)
        oldest_out = _oldest(conn, OUTBOX, OUTBOX.c.created_at)
        facts = cursors.all_values(conn)
        breaker = facts.get("breaker:onec") or {}
        feed = facts.get("feed:select_changes")
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
            feed_position=int(feed["last_acknowledged"]) if feed else None,
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
            "1C changes parked: they could not be mapped.",
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
        now = clock()
        return PlainTextResponse(
            prometheus_text(sync_status(engine, now), now), media_type="text/plain; version=0.0.4"
        )

    return Starlette(routes=[Route("/metrics", metrics)])
