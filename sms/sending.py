"""Sending one queued SMS, at most once, and settling its delivery status.

A send *claims* the row first (``queued`` → ``sending`` in one conditional UPDATE), so two workers,
a redelivered task and the sweep never send the same message twice. Then:

- the gateway accepted it → ``sent`` (or already ``delivered``/``failed`` if it says so);
- it surely did not (connection refused, an error answer) → the fallback gateway is tried; if that
  fails too, a retryable failure goes back to ``queued`` with a growing delay, up to
  ``sms_max_attempts``, and anything else is ``failed`` with the reason;
- it may have (a timeout after the request left) → ``unconfirmed``, never sent again;
- the worker died holding the claim → the sweep marks it ``unconfirmed`` after a while, for the
  same reason.

The text of a one-time code is erased once its message is settled: the database does not keep
codes any longer than it takes to hand them to the gateway.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from bonusbridge.models import SmsMessage, SmsStatus
from bonusbridge.privacy import mask_phone
from bonusbridge.settings import Settings
from sms.gateway import (
    DeliveryStatus,
    GatewayError,
    OutgoingSms,
    SendOutcomeUnknown,
    SendReceipt,
    SmsGateway,
    StatusReport,
)
from sms.outbox import SmsKind

log = logging.getLogger(__name__)

#: A claim older than this belongs to a worker that died mid-call: the message may have gone out.
STALE_CLAIM = timedelta(minutes=10)
#: Delivery receipts are polled for this long after sending; later, a message stays ``sent``.
POLL_WINDOW = timedelta(days=3)

_SETTLED_BY = {
    DeliveryStatus.QUEUED: SmsStatus.SENT,  # accepted by the gateway: ours is "sent" from here on
    DeliveryStatus.SENT: SmsStatus.SENT,
    DeliveryStatus.DELIVERED: SmsStatus.DELIVERED,
    DeliveryStatus.FAILED: SmsStatus.FAILED,
}


@dataclass(frozen=True)
class SendResult:
    """What one call of ``SmsSender.send`` did. ``retry_in`` is set when the message went back to
    the queue: the caller (a Celery task) schedules itself again then."""

    message_id: int
    status: SmsStatus | None  # None: nothing to do (not queued, not due, or claimed by another)
    retry_in: float | None = None


class SmsSender:
    """Sends queued SMS through the primary gateway, or the fallback when the primary surely failed."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        gateways: Mapping[str, SmsGateway],
        clock: Callable[[], datetime],
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.gateways = gateways
        self.clock = clock

    # --- sending ---------------------------------------------------------------------------

    def send(self, message_id: int) -> SendResult:
        now = self.clock()
        message = self._claim(message_id, now)
        if message is None:
            return SendResult(message_id, None)
        sms = OutgoingSms(message_id, message.phone_e164, message.body or "")
        failures: list[GatewayError] = []
        for gateway in self._chain():
            try:
                receipt = gateway.send(sms)
            except SendOutcomeUnknown as exc:
                log.warning(
                    "SMS %s to %s: outcome unknown (%s), not resent",
                    message_id,
                    mask_phone(sms.phone_e164),
                    exc.reason,
                )
                return self._settle_unconfirmed(message_id, gateway.name, exc.reason)
            except GatewayError as exc:
                log.warning(
                    "SMS %s to %s: %s refused (%s)",
                    message_id,
                    mask_phone(sms.phone_e164),
                    gateway.name,
                    exc.reason,
                )
                failures.append(exc)
                continue
            return self._record_receipt(message_id, receipt)
        return self._after_failures(message_id, message.attempts, failures)

    def _chain(self) -> list[SmsGateway]:
        names: list[str] = [self.settings.sms_gateway]
        if self.settings.sms_fallback_gateway not in ("none", self.settings.sms_gateway):
            names.append(self.settings.sms_fallback_gateway)
        return [self.gateways[name] for name in names]

    def _claim(self, message_id: int, now: datetime) -> SmsMessage | None:
        due = (SmsMessage.not_before.is_(None)) | (SmsMessage.not_before <= now)
        with self.session_factory() as session:
            claimed = cast(
                CursorResult[Any],
                session.execute(
                    update(SmsMessage)
                    .where(SmsMessage.id == message_id, SmsMessage.status == SmsStatus.QUEUED, due)
                    .values(status=SmsStatus.SENDING, claimed_at=now, attempts=SmsMessage.attempts + 1)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
            session.commit()
            if claimed != 1:
                return None
            message = session.get(SmsMessage, message_id)
            if message is not None:
                session.expunge(message)
            return message

    def _record_receipt(self, message_id: int, receipt: SendReceipt) -> SendResult:
        now = self.clock()
        status = _SETTLED_BY[receipt.status]
        with self.session_factory() as session:
            message = session.get_one(SmsMessage, message_id)
            message.status = status
            message.gateway = receipt.gateway
            message.provider_id = receipt.provider_id
            message.provider_status = receipt.provider_status[:40] or None
            message.cost = receipt.cost
            message.failure_reason = receipt.failure_reason
            message.sent_at = now
            if status in (SmsStatus.DELIVERED, SmsStatus.FAILED):
                message.settled_at = now
            _erase_code(message)
            session.commit()
        return SendResult(message_id, status)

    def _settle_unconfirmed(self, message_id: int, gateway: str, reason: str) -> SendResult:
        with self.session_factory() as session:
            message = session.get_one(SmsMessage, message_id)
            message.status = SmsStatus.UNCONFIRMED
            message.gateway = gateway
            message.failure_reason = f"outcome unknown, not resent: {reason}"
            _erase_code(message)
            session.commit()
        return SendResult(message_id, SmsStatus.UNCONFIRMED)

    def _after_failures(self, message_id: int, attempts: int, failures: list[GatewayError]) -> SendResult:
        now = self.clock()
        reason = "; ".join(str(exc) for exc in failures)
        retryable = any(exc.retryable for exc in failures)
        with self.session_factory() as session:
            message = session.get_one(SmsMessage, message_id)
            message.failure_reason = reason
            if retryable and attempts < self.settings.sms_max_attempts:
                delay = self.retry_delay(attempts)
                message.status = SmsStatus.QUEUED
                message.not_before = now + timedelta(seconds=delay)
                message.claimed_at = None
                session.commit()
                return SendResult(message_id, SmsStatus.QUEUED, retry_in=delay)
            message.status = SmsStatus.FAILED
            message.settled_at = now
            _erase_code(message)
            session.commit()
        return SendResult(message_id, SmsStatus.FAILED)

    def retry_delay(self, attempts: int) -> float:
        """Exponential backoff with jitter: base·2^(n-1), a random point between half and all of it."""
        ceiling = self.settings.sms_retry_base_seconds * 2 ** max(attempts - 1, 0)
        return float(round(ceiling / 2 + random.random() * ceiling / 2, 3))

    # --- the sweep -------------------------------------------------------------------------

    def due_messages(self, limit: int = 500) -> list[int]:
        """Queued messages whose time has come (fresh, after a retry delay, after quiet hours)."""
        now = self.clock()
        query = (
            select(SmsMessage.id)
            .where(
                SmsMessage.status == SmsStatus.QUEUED,
                (SmsMessage.not_before.is_(None)) | (SmsMessage.not_before <= now),
            )
            .order_by(SmsMessage.id)
            .limit(limit)
        )
        with self.session_factory() as session:
            return list(session.scalars(query))

    def release_stale_claims(self) -> int:
        """Claims left by a dead worker become ``unconfirmed``: the SMS may have gone, so it is not
        sent again (a customer asks for a new code instead of getting two)."""
        cutoff = self.clock() - STALE_CLAIM
        with self.session_factory() as session:
            stale = list(
                session.scalars(
                    select(SmsMessage).where(
                        SmsMessage.status == SmsStatus.SENDING, SmsMessage.claimed_at < cutoff
                    )
                )
            )
            for message in stale:
                message.status = SmsStatus.UNCONFIRMED
                message.failure_reason = "the sending worker stopped mid-call; not resent"
                _erase_code(message)
            session.commit()
        return len(stale)

    # --- delivery status -------------------------------------------------------------------

    def poll_statuses(self, limit: int = 200) -> int:
        """Ask the gateways about messages sent but not settled yet (callbacks may never come)."""
        since = self.clock() - POLL_WINDOW
        with self.session_factory() as session:
            rows = session.execute(
                select(SmsMessage.gateway, SmsMessage.provider_id)
                .where(
                    SmsMessage.status.in_((SmsStatus.SENT, SmsStatus.UNCONFIRMED)),
                    SmsMessage.provider_id.is_not(None),
                    SmsMessage.sent_at >= since,
                )
                .order_by(SmsMessage.id)
                .limit(limit)
            ).all()
        settled = 0
        for gateway_name, provider_id in rows:
            gateway = self.gateways.get(gateway_name or "")
            if gateway is None:
                continue
            try:
                report = gateway.status(str(provider_id))
            except GatewayError as exc:
                log.info("status of SMS %s at %s not known yet (%s)", provider_id, gateway_name, exc.reason)
                continue
            settled += self.apply_report(report)
        return settled

    def apply_report(self, report: StatusReport) -> int:
        """Record a gateway's status (from a poll or a callback); 1 if it settled a message.

        Idempotent and monotonic: a report for an unknown id changes nothing, and a late "sent"
        never overwrites a "delivered" or "failed" already recorded.
        """
        with self.session_factory() as session:
            message = session.scalars(
                select(SmsMessage).where(
                    SmsMessage.gateway == report.gateway, SmsMessage.provider_id == report.provider_id
                )
            ).first()
            if message is None or message.status in (SmsStatus.DELIVERED, SmsStatus.FAILED):
                return 0
            status = _SETTLED_BY[report.status]
            message.status = status
            message.provider_status = report.provider_status[:40] or message.provider_status
            if report.cost is not None:
                message.cost = report.cost
            if report.failure_reason:
                message.failure_reason = report.failure_reason
            settled = status in (SmsStatus.DELIVERED, SmsStatus.FAILED)
            if settled:
                message.settled_at = report.at or self.clock()
            session.commit()
            return int(settled)


def _erase_code(message: SmsMessage) -> None:
    if message.kind == SmsKind.OTP.value:
        message.body = None
