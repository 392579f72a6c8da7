"""The SMS sweeps Celery beat runs (read by the hub's Celery app through an entry point, without
importing the tasks themselves)."""

from __future__ import annotations

from datetime import timedelta

SCHEDULE = {
    # Catches what no task message carries: retries whose delay is over, notices whose quiet hours
    # ended, messages whose task was lost with a broker; and claims left by a dead worker.
    "sms-dispatch-due": {"task": "bonusbridge.sms.dispatch_due", "schedule": timedelta(seconds=30)},
    "sms-poll-statuses": {"task": "bonusbridge.sms.poll_statuses", "schedule": timedelta(minutes=5)},
    "sms-notify-movements": {"task": "bonusbridge.sms.notify_movements", "schedule": timedelta(minutes=1)},
    "sms-remind": {"task": "bonusbridge.sms.remind", "schedule": timedelta(hours=24)},
}
