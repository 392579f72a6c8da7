"""The reconciliation sweeps Celery beat runs (read by the hub's Celery app through an entry point)."""

from __future__ import annotations

from celery.schedules import crontab

from bonusbridge.settings import get_settings

NIGHTLY_DRIFT_TASK = "bonusbridge.reconciliation.nightly_drift"
RECORD_PROGRESS_TASK = "bonusbridge.reconciliation.record_progress"

_settings = get_settings()

SCHEDULE: dict[str, dict[str, object]] = {
    # Compares every linked card, status and profile with 1C and keeps the report; never repairs
    # (a repair needs a person's confirmation). Celery's clock is UTC; by default 00:15 UTC, 03:15
    # in Moscow, when the tills are closed (BONUSBRIDGE_RECONCILE_NIGHTLY_HOUR_UTC, _MINUTE).
    "reconciliation-nightly-drift": {
        "task": NIGHTLY_DRIFT_TASK,
        "schedule": crontab(
            hour=_settings.reconcile_nightly_hour_utc, minute=_settings.reconcile_nightly_minute
        ),
    },
    # The day's share of active cards bound to a verified profile, just before local midnight
    # (20:50 UTC is 23:50 in Moscow); each view of the staff progress page records today too.
    "reconciliation-record-progress": {"task": RECORD_PROGRESS_TASK, "schedule": crontab(hour=20, minute=50)},
}
