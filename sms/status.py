"""What ``bonusbridge sms status`` shows: the SMS outbox by state, the hour's codes against the
global cap, what waits and what is stuck. Counts only: no phone, no text."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bonusbridge.models import OtpChallenge, SmsMessage, SmsStatus


@dataclass
class SmsStatusReport:
    gateways: list[str]
    by_status: dict[str, int] = field(default_factory=dict)  # last 24 hours
    due_now: int = 0
    waiting: int = 0  # queued for later: retry delays, quiet hours
    codes_this_hour: int = 0
    hourly_cap: int = 0
    cost_24h: str = "0"

    def lines(self) -> list[str]:
        states = ", ".join(f"{name} {count}" for name, count in sorted(self.by_status.items())) or "none"
        suspended = " — SENDING SUSPENDED" if self.codes_this_hour >= self.hourly_cap else ""
        return [
            f"gateways: {' then '.join(self.gateways)}",
            f"last 24 h: {states}; cost {self.cost_24h}",
            f"queued: {self.due_now} due now, {self.waiting} waiting (retry delay or quiet hours)",
            f"one-time codes this hour: {self.codes_this_hour} of {self.hourly_cap}{suspended}",
        ]


def sms_status(session: Session, now: datetime, gateways: list[str], hourly_cap: int) -> SmsStatusReport:
    since = now - timedelta(hours=24)
    report = SmsStatusReport(gateways=gateways, hourly_cap=hourly_cap)
    for status, count in session.execute(
        select(SmsMessage.status, func.count())
        .where(SmsMessage.created_at >= since)
        .group_by(SmsMessage.status)
    ):
        report.by_status[str(status)] = int(count)
    queued = SmsMessage.status == SmsStatus.QUEUED
    due = SmsMessage.not_before.is_(None) | (SmsMessage.not_before <= now)
    report.due_now = int(session.scalar(select(func.count()).where(queued, due)) or 0)
    report.waiting = int(
        session.scalar(select(func.count()).select_from(SmsMessage).where(queued, ~due)) or 0
    )
    report.codes_this_hour = int(
        session.scalar(select(func.count()).where(OtpChallenge.created_at >= now - timedelta(hours=1))) or 0
    )
    cost = session.scalar(select(func.sum(SmsMessage.cost)).where(SmsMessage.created_at >= since))
    report.cost_24h = str(cost or 0)
    return report
