"""The hub's own Celery tasks: the time-driven sweeps of the ledger.

Both are safe to run twice or concurrently: expiry is keyed per card and cut-off instant, and
releasing a hold that is no longer pending does nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bonusbridge.app import Hub, build_hub
from bonusbridge.celery_app import app
from bonusbridge.settings import get_settings

_hub: Hub | None = None


def current_hub() -> Hub:
    global _hub
    if _hub is None:
        _hub = build_hub(get_settings())
    return _hub


def use_hub(hub: Hub | None) -> None:
    """Point the tasks at another hub (tests, embedded demo); ``None`` goes back to settings."""
    global _hub
    _hub = hub


@app.task(name="bonusbridge.ledger.release_expired_holds")  # type: ignore[untyped-decorator]
def release_expired_holds() -> str:
    return str(current_hub().ledger.release_expired_holds())


@app.task(name="bonusbridge.ledger.expire_due")  # type: ignore[untyped-decorator]
def expire_due(as_of: str | None = None) -> int:
    """Expire points due by ``as_of`` (ISO 8601, default now, truncated to the minute so that a
    retried task reuses the same key)."""
    moment = datetime.fromisoformat(as_of) if as_of else datetime.now(UTC).replace(second=0, microsecond=0)
    return len(current_hub().ledger.expire_due(moment))
