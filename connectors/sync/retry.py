"""Retrying towards 1C without hammering it: exponential backoff with jitter, and a circuit breaker
shared by every worker through the database.

Retry storms cause lock conflicts in 1C (shared/reference/onec.md). The backoff spreads retries
("equal jitter": half fixed, half random), and the breaker stops every worker from calling a 1C
that keeps failing: after ``threshold`` consecutive failures it opens for ``open_seconds``, then lets
one trial call through (half-open); success closes it, failure opens it again for twice as long, up
to ``max_open_seconds`` (one call every few seconds costs 1C nothing; a longer wait would only delay
noticing that it is back). Messages deferred by an outage do not count as failed attempts, so a long
outage never sends them to the dead letters; they wait for the breaker, not for a backoff of their
own, and when the trial succeeds (``success`` returns True) they are all made due again at once,
paced over a second (``outbound.resume_deferred``), and drain in order.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, Table, update

from bonusbridge.models import SyncState
from bonusbridge.settings import Settings
from connectors.sync import cursors


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry)."""
    ceiling = min(cap, base * float(2 ** max(0, attempt - 1)))
    jitter: float = (rng or random).uniform(0, ceiling / 2)
    return ceiling / 2 + jitter


def record_failure(
    engine: Engine,
    table: Table,
    row: Row[Any],
    error: str,
    *,
    settings: Settings,
    now: datetime,
    permanent: bool = False,
    park: bool = False,
) -> float | None:
    """Count a failed try of an outbox or inbox row: dead after ``sync_max_attempts`` (or at once
    when ``permanent``), else due again after a backoff. The delay in seconds, None when dead.
    An outbox row is also unpublished, so the relay publishes it again when it is due.
    ``park``: parked at once with its reason (1C refuses a value its configuration lacks: no retry
    can help until 1C changes; ``sync dlq --parked`` replays it then). Like a dead row, a parked one
    no longer holds back the later changes of its key."""
    attempts = int(row.attempts) + 1
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000]}
    delay: float | None = None
    if park:
        values.update(state=SyncState.PARKED.value, finished_at=now)
    elif permanent or attempts >= settings.sync_max_attempts:
        values.update(state=SyncState.DEAD.value, finished_at=now)
    else:
        delay = backoff_delay(
            attempts, base=settings.sync_backoff_base_seconds, cap=settings.sync_backoff_max_seconds
        )
        values["next_attempt_at"] = now + timedelta(seconds=delay)
        if "published_at" in table.c:
            values["published_at"] = None
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == row.id).values(**values))
    return delay


@dataclass(frozen=True)
class BreakerState:
    state: str = "closed"  # closed | open | half_open
    failures: int = 0
    opened: int = 0  # how many times in a row it opened (doubles the wait)
    until: str | None = None  # ISO instant an open breaker allows a trial

    def until_at(self) -> datetime | None:
        return datetime.fromisoformat(self.until) if self.until else None


class CircuitBreaker:
    """A breaker kept in ``sync_cursors`` under ``breaker:<name>``, read through a short cache so
    the hot path costs no query while it stays closed."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        threshold: int,
        open_seconds: float,
        clock: Callable[[], datetime],
        cache_seconds: float = 0.5,
        max_open_seconds: float | None = None,
    ) -> None:
        self.engine = engine
        self.cursor = f"breaker:{name}"
        self.threshold = threshold
        self.open_seconds = open_seconds
        self.max_open_seconds = max(open_seconds, max_open_seconds or open_seconds * 64)
        self.clock = clock
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, BreakerState] | None = None

    def state(self, *, fresh: bool = False) -> BreakerState:
        with self._lock:
            if not fresh and self._cached and time.monotonic() - self._cached[0] < self.cache_seconds:
                return self._cached[1]
        with self.engine.connect() as conn:
            raw = cursors.read(conn, self.cursor)
        state = BreakerState(**raw) if raw else BreakerState()
        self._remember(state)
        return state

    def _remember(self, state: BreakerState) -> None:
        with self._lock:
            self._cached = (time.monotonic(), state)

    def allow(self) -> tuple[bool, datetime | None]:
        """Whether a call may go to 1C now; if not, when to try again."""
        current = self.state()
        if current.state == "closed":
            return True, None
        now = self.clock()
        until = current.until_at()
        if current.state == "open" and until is not None and now < until:
            return False, until

        # Open and due, or half-open: exactly one caller wins the trial.
        def trial(state: BreakerState) -> BreakerState | None:
            due = state.until_at()
            if state.state == "open" and (due is None or now >= due):
                return BreakerState(
                    "half_open",
                    state.failures,
                    state.opened,
                    (now + timedelta(seconds=self.open_seconds)).isoformat(),
                )
            if state.state == "half_open" and due is not None and now >= due:
                # The trial caller died without reporting; let another one try.
                return BreakerState(
                    "half_open",
                    state.failures,
                    state.opened,
                    (now + timedelta(seconds=self.open_seconds)).isoformat(),
                )
            return None

        won, state = self._update(trial)
        if won:
            return True, None
        return (state.state == "closed"), state.until_at()

    def success(self) -> bool:
        """Record a call 1C answered; True when this closed an open or half-open breaker (an
        outage just ended: what it deferred may go now)."""
        if self.state() == BreakerState():  # closed with no failures: nothing to record
            return False
        was: list[str] = []

        def close(state: BreakerState) -> BreakerState | None:
            was.append(state.state)
            return None if state == BreakerState() else BreakerState()

        changed, _ = self._update(close)
        return changed and was[-1] != "closed"

    def failure(self) -> None:
        now = self.clock()

        def failed(state: BreakerState) -> BreakerState:
            failures = state.failures + 1
            if state.state == "half_open" or failures >= self.threshold:
                opened = state.opened + 1
                wait = min(self.max_open_seconds, self.open_seconds * (2 ** min(opened - 1, 6)))
                return BreakerState("open", failures, opened, (now + timedelta(seconds=wait)).isoformat())
            return BreakerState(state.state, failures, state.opened, state.until)

        self._update(failed)

    def _update(self, change: Callable[[BreakerState], BreakerState | None]) -> tuple[bool, BreakerState]:
        """Apply ``change`` to the stored state under a row lock; (changed?, resulting state)."""
        with self.engine.begin() as conn:
            raw = cursors.read(conn, self.cursor, for_update=True)
            current = BreakerState(**raw) if raw else BreakerState()
            new = change(current)
            if new is not None:
                cursors.write(conn, self.cursor, json.loads(json.dumps(new.__dict__)))
        result = new if new is not None else current
        self._remember(result)
        return new is not None, result
