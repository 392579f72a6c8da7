"""Where a customer goes after each step, and sending the one-time code's SMS right away."""

from __future__ import annotations

import ipaddress

from fastapi import BackgroundTasks
from starlette.requests import Request

from bonusbridge.services.cabinet import Step
from web_cabinet.context import Cabinet

STEP_URLS = {
    Step.ADD_CARD: "/cards/add",
    Step.CHOOSE: "/cards/choose",
    Step.PROFILE: "/profile",
    Step.HOME: "/",
}


def send_soon(parts: Cabinet, background: BackgroundTasks, message_id: int | None) -> None:
    """Send the queued SMS now: in this process after the response on the embedded default
    (no worker consumes ``memory://``), else through the Celery task. The sweep catches a loss."""
    if message_id is None:
        return
    if parts.settings.broker_url.startswith("memory://"):
        background.add_task(parts.sms.sender.send, message_id)
        return
    from sms import tasks

    tasks.send.delay(message_id)


def client_ip(request: Request) -> str | None:
    """The caller's address for the OTP per-IP cap; None when it is not an IP (test clients)."""
    host = request.client.host if request.client else None
    if not host:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host
