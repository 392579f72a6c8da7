"""The hub's own Celery tasks: the time-driven sweeps of the ledger, the nightly tier review and
the nightly recheck of the cards' spending lock.

All are safe to run twice or concurrently: expiry is keyed per card and cut-off instant, releasing
a hold that is no longer pending does nothing, and a tier review at the same instant changes
nothing the second time, and a recheck changes only cards still wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bonusbridge.app import Hub, build_hub
from bonusbridge.celery_app import RECHECK_CARDS_TASK, REVIEW_TIERS_TASK, app
from bonusbridge.points import store, tiers
from bonusbridge.services.cards import recheck_all_cards
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


@app.task(name=REVIEW_TIERS_TASK)  # type: ignore[untyped-decorator]
def review_tiers(as_of: str | None = None) -> dict[str, int]:
    """Review every card's tier as of ``as_of`` (ISO 8601, default now, truncated to the minute so
    that a retried task reviews at the same instant and changes nothing more): the downgrades that
    no purchase triggered, such as old receipts leaving the 12-month window."""
    moment = datetime.fromisoformat(as_of) if as_of else datetime.now(UTC).replace(second=0, microsecond=0)
    hub = current_hub()
    with hub.engine.connect() as conn:
        program = store.load(conn, hub.settings)
    summary = tiers.review_all(hub.engine, program, moment)
    return {"reviewed": summary.reviewed, "changed": summary.changed}


@app.task(name=RECHECK_CARDS_TASK)  # type: ignore[untyped-decorator]
def recheck_cards() -> dict[str, int]:
    """Settle every owned card's spending lock against its owner's profile and the required
    fields as configured now (``bonusbridge cards recheck``)."""
    hub = current_hub()
    result = recheck_all_cards(hub.unit_of_work, required_fields=hub.settings.profile_required_fields)
    return {"checked": result.checked, "changed": result.changed}
