"""The Celery application shared by every BonusBridge worker.

Settings follow the pitfalls in shared/reference/ledger-and-messaging.md: acknowledge late and
requeue on worker loss (a task never silently disappears), prefetch one (a long task does not hold
others hostage), publisher confirms on RabbitMQ (a publish is not "done" until the broker says so).
Tasks must therefore be idempotent; the ledger's keys make ours so.

Run a worker with ``celery -A bonusbridge.celery_app worker --beat``.
"""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import entry_points

from celery import Celery
from celery.schedules import crontab

from bonusbridge.settings import Settings, get_settings

HUB_TASKS = "bonusbridge.tasks"
REVIEW_TIERS_TASK = "bonusbridge.points.review_tiers"
RECHECK_CARDS_TASK = "bonusbridge.cards.recheck"


def task_modules() -> list[str]:
    """The hub's tasks plus those other packages registered (``bonusbridge.tasks`` entry points)."""
    return [HUB_TASKS, *(entry.value for entry in entry_points(group="bonusbridge.tasks"))]


def plugin_schedules() -> dict[str, dict[str, object]]:
    """Periodic tasks other packages declared (``bonusbridge.schedules`` entry points: a dict like
    Celery's ``beat_schedule``), added to the hub's own."""
    schedule: dict[str, dict[str, object]] = {}
    for entry in entry_points(group="bonusbridge.schedules"):
        schedule.update(entry.load())
    return schedule


def create_celery(settings: Settings) -> Celery:
    app = Celery(
        "bonusbridge", broker=settings.broker_url, backend=settings.result_backend, include=task_modules()
    )
    transport_options: dict[str, object] = {}
    if settings.broker_url.startswith(("amqp", "pyamqp")):
        transport_options["confirm_publish"] = True
    app.conf.update(
        task_default_queue=settings.celery_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "release-expired-holds": {
                "task": "bonusbridge.ledger.release_expired_holds",
                "schedule": timedelta(minutes=1),
            },
            "expire-due-points": {"task": "bonusbridge.ledger.expire_due", "schedule": timedelta(hours=1)},
            # Card tiers: purchases and returns review their card at once; the night reviews the
            # rest (receipts leaving the 12-month window, grace periods ending). 01:30 UTC is 04:30
            # in Moscow, after the nightly reconciliation (00:15 UTC by default) and before the tills open.
            "review-card-tiers": {"task": REVIEW_TIERS_TASK, "schedule": crontab(hour=1, minute=30)},
            # The spending lock of every owned card against its owner's profile and the current
            # BONUSBRIDGE_PROFILE_REQUIRED_FIELDS (``bonusbridge cards recheck``): 01:00 UTC.
            "recheck-card-locks": {"task": RECHECK_CARDS_TASK, "schedule": crontab(hour=1, minute=0)},
            **plugin_schedules(),
        },
    )
    return app


app = create_celery(get_settings())
