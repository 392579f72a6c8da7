"""The sync's Celery tasks: drain one slot of the outbox or the inbox.

A task message is only a hint that a slot has work; the slot lock and the rows' order do the rest
(see ``slots``), so a duplicated or reordered message is harmless. Declared on the hub's Celery app
(so they publish to ``BONUSBRIDGE_BROKER_URL`` and ``BONUSBRIDGE_CELERY_QUEUE`` from any process,
never to Celery's default app), and found by its workers through the ``bonusbridge.tasks`` entry point.
"""

from __future__ import annotations

import time

from bonusbridge.app import build_hub
from bonusbridge.celery_app import app
from bonusbridge.settings import get_settings
from connectors.sync.context import SyncContext
from connectors.sync.relay import APPLY_TASK, DELIVER_TASK
from connectors.sync.runner import drain_inbound, drain_outbound

_ctx: SyncContext | None = None


def current_context() -> SyncContext:
    global _ctx
    if _ctx is None:
        settings = get_settings()
        # A drain that meets a connection killed moments ago fails and is asked for again (the
        # listener's sweep, the relay's republishing): no ping per checkout, a round trip saved.
        _ctx = SyncContext.from_settings(settings, build_hub(settings, ping="when_idle").engine)
        _ctx.kick = _send_apply
    return _ctx


def use_context(ctx: SyncContext | None) -> None:
    """Point the tasks at another context (tests); ``None`` goes back to settings."""
    global _ctx
    _ctx = ctx


@app.task(name=DELIVER_TASK)  # type: ignore[untyped-decorator]
def deliver(message_id: int, slot: int) -> int:
    """Deliver outbox message ``message_id`` — and everything before it in its slot."""
    return drain_outbound(current_context(), slot).handled


#: How long one "apply" task drains before it gives its process back: a worker consuming both
#: queues (``sync worker --queues all``, the default) then takes a waiting delivery to 1C within
#: about this time, not after a whole backlog of receipts. What is left is asked for again, behind
#: what already waits in the queues (a message is only a hint; the slot keeps the order).
APPLY_SLICE_SECONDS = 1.0


@app.task(name=APPLY_TASK)  # type: ignore[untyped-decorator]
def apply(slots: int | list[int]) -> int:
    """Apply the inbox rows of these slots (one slot, or a few the listener grouped), for at most
    ``APPLY_SLICE_SECONDS``; the slots with rows left are asked for again."""
    ctx = current_context()
    report = drain_inbound(ctx, slots, deadline=time.monotonic() + APPLY_SLICE_SECONDS)
    if report.more:
        ctx.request_drain("inbound", report.slots)
    return report.handled


def _send_apply(direction: str, slots: list[int]) -> None:
    """A worker's own kicks (an apply task that used up its time slice): a new "apply" task."""
    if direction == "inbound" and slots:
        apply.apply_async(args=[slots])
