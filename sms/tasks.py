"""The SMS Celery tasks: send one message, and the sweeps beat runs (see ``sms.schedule``).

``send`` is safe to run twice or concurrently for one message: the sender claims the row before
calling a gateway, so a redelivered task (acks_late) finds it claimed or settled and does nothing.

Every task is declared on the hub's Celery app (``bonusbridge.celery_app.app``), not as a shared
task: a process that never built the hub's app (``bonusbridge serve``) would otherwise send
``send.delay`` through Celery's default app — amqp://localhost, queue "celery" — where no worker of
this deployment listens, and a login code would wait for beat's sweep.
"""

from __future__ import annotations

from typing import Any

from bonusbridge.app import build_hub
from bonusbridge.celery_app import app
from bonusbridge.settings import get_settings
from sms.wiring import SmsParts, build_sms

SEND_TASK = "bonusbridge.sms.send"

_parts: SmsParts | None = None


def current_sms() -> SmsParts:
    global _parts
    if _parts is None:
        settings = get_settings()
        _parts = build_sms(settings, build_hub(settings).engine)
    return _parts


def use_sms(parts: SmsParts | None) -> None:
    """Point the tasks at other parts (tests, the embedded demo); ``None`` goes back to settings."""
    global _parts
    _parts = parts


@app.task(name=SEND_TASK, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def send(self: Any, message_id: int) -> str:
    """Send one message; a retryable gateway failure schedules this task again after its delay
    (the row is back in the queue too, so the sweep finds it if this retry is lost)."""
    result = current_sms().sender.send(message_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return str(result.status) if result.status else "nothing to do"


def _send_later(task: Any, message_id: int) -> None:
    """Queue ``send`` through the app running ``task`` (the hub's, in every deployed worker)."""
    task.app.tasks[SEND_TASK].delay(message_id)


@app.task(name="bonusbridge.sms.dispatch_due", bind=True)  # type: ignore[untyped-decorator]
def dispatch_due(self: Any) -> int:
    parts = current_sms()
    parts.sender.release_stale_claims()
    due = parts.sender.due_messages()
    for message_id in due:
        _send_later(self, message_id)
    return len(due)


@app.task(name="bonusbridge.sms.poll_statuses")  # type: ignore[untyped-decorator]
def poll_statuses() -> int:
    return current_sms().sender.poll_statuses()


@app.task(name="bonusbridge.sms.notify_movements", bind=True)  # type: ignore[untyped-decorator]
def notify_movements(self: Any) -> int:
    parts = current_sms()
    queued = parts.notifier.scan_movements()
    for message_id in parts.sender.due_messages():
        _send_later(self, message_id)
    return queued


@app.task(name="bonusbridge.sms.remind")  # type: ignore[untyped-decorator]
def remind() -> int:
    parts = current_sms()
    notifier = parts.notifier
    return notifier.scan_program_reminders() + notifier.scan_expiring() + notifier.scan_incomplete_profiles()
