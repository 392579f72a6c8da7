"""The SMS Celery tasks: send one message, and the sweeps beat runs (see ``sms.schedule``).

``send`` is safe to run twice or concurrently for one message: the sender claims the row before
calling a gateway, so a redelivered task (acks_late) finds it claimed or settled and does nothing.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from bonusbridge.app import build_hub
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


@shared_task(name=SEND_TASK, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def send(self: Any, message_id: int) -> str:
    """Send one message; a retryable gateway failure schedules this task again after its delay
    (the row is back in the queue too, so the sweep finds it if this retry is lost)."""
    result = current_sms().sender.send(message_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return str(result.status) if result.status else "nothing to do"


@shared_task(name="bonusbridge.sms.dispatch_due")  # type: ignore[untyped-decorator]
def dispatch_due() -> int:
    parts = current_sms()
    parts.sender.release_stale_claims()
    due = parts.sender.due_messages()
    for message_id in due:
        send.delay(message_id)
    return len(due)


@shared_task(name="bonusbridge.sms.poll_statuses")  # type: ignore[untyped-decorator]
def poll_statuses() -> int:
    return current_sms().sender.poll_statuses()


@shared_task(name="bonusbridge.sms.notify_movements")  # type: ignore[untyped-decorator]
def notify_movements() -> int:
    parts = current_sms()
    queued = parts.notifier.scan_movements()
    for message_id in parts.sender.due_messages():
        send.delay(message_id)
    return queued


@shared_task(name="bonusbridge.sms.remind")  # type: ignore[untyped-decorator]
def remind() -> int:
    parts = current_sms()
    notifier = parts.notifier
    return notifier.scan_program_reminders() + notifier.scan_expiring() + notifier.scan_incomplete_profiles()
