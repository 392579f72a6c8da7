"""The mail Celery tasks, declared on the hub's app (as ``sms.tasks``, for the same reason)."""

from __future__ import annotations

from typing import Any

from bonusbridge.app import build_hub
from bonusbridge.celery_app import app
from bonusbridge.models import utcnow
from bonusbridge.settings import get_settings
from mail.backends import build_backend
from mail.sending import MailSender
from mail.settings import MailSettings

SEND_TASK = "bonusbridge.mail.send"
_sender: MailSender | None = None


def current_sender() -> MailSender:
    global _sender
    if _sender is None:
        settings = MailSettings()
        hub_settings = get_settings()  # the suppliers' links are signed with the key the pages check
        _sender = MailSender(
            build_hub(hub_settings).engine, settings, build_backend(settings), utcnow,
            link_secret=hub_settings.supplier_link_secret.get_secret_value(),
        )  # fmt: skip
    return _sender


def use_sender(sender: MailSender | None) -> None:
    global _sender
    _sender = sender


@app.task(name=SEND_TASK, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def send(self: Any, message_id: int) -> str:
    result = current_sender().send(message_id)
    if result.retry_in is not None:
        raise self.retry(countdown=result.retry_in)
    return result.status or "nothing to do"


@app.task(name="bonusbridge.mail.dispatch_due", bind=True)  # type: ignore[untyped-decorator]
def dispatch_due(self: Any) -> int:
    sender = current_sender()
    sender.release_stale_claims()
    due = sender.due_messages()
    for message_id in due:
        self.app.tasks[SEND_TASK].delay(message_id)
    return len(due)
