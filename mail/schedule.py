"""The mail sweep added to the hub's beat schedule (``bonusbridge.schedules`` entry point)."""

from __future__ import annotations

from datetime import timedelta

SCHEDULE = {"mail-dispatch-due": {"task": "bonusbridge.mail.dispatch_due", "schedule": timedelta(seconds=15)}}
