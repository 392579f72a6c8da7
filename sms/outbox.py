"""The SMS outbox: an SMS is a row queued in the transaction of whatever asked for it.

Queueing is idempotent by ``message_key`` (asking twice for "accrual 42" queues one SMS), and it is
the only way code asks for an SMS: sending happens later, in a task (``sms.sending``), so a request
that rolls back sends nothing, and a gateway outage only delays.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bonusbridge.models import SmsMessage, SmsStatus, utcnow


class SmsKind(enum.StrEnum):
    """Why an SMS is sent, which decides the rules it obeys."""

    OTP = "otp"  # a one-time code: sent at once, day or night; its text is erased once settled
    TRANSACTIONAL = "transactional"  # about the customer's own points or cards: no consent needed
    MARKETING = "marketing"  # reminders and offers: only with marketing consent


def queue_sms(
    session: Session,
    *,
    key: str,
    kind: SmsKind,
    template: str,
    phone_e164: str,
    body: str,
    locale: str = "ru",
    customer_id: int | None = None,
    not_before: datetime | None = None,
    now: datetime | None = None,
) -> SmsMessage:
    """Add the SMS to the session (the caller commits) unless one with ``key`` exists; return it.

    A concurrent insert of the same key fails on the unique constraint at commit: the caller's
    transaction rolls back and its retry finds the existing row.
    """
    existing = session.scalars(select(SmsMessage).where(SmsMessage.message_key == key)).first()
    if existing is not None:
        return existing
    message = SmsMessage(
        message_key=key,
        kind=str(kind),
        template=template,
        locale=locale,
        phone_e164=phone_e164,
        body=body,
        customer_id=customer_id,
        status=SmsStatus.QUEUED,
        not_before=not_before,
        created_at=now or utcnow(),
    )
    session.add(message)
    session.flush()
    return message
