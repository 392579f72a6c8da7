"""What every SMS gateway offers (send, status, balance) and what it answers, gateway-neutral.

The one distinction that matters to a caller is whether a failed send *surely did not* reach the
gateway's queue (``GatewayError(sent=False)``: safe to retry or hand to the fallback gateway) or
*may have* (``SendOutcomeUnknown``: a timeout after the request left). The second is never retried:
a customer receiving a code twice, or a notice twice, is worse than a missing one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol


class DeliveryStatus(enum.StrEnum):
    """Our status of a message at its gateway (each gateway maps its own codes onto these)."""

    QUEUED = "queued"  # accepted, not yet handed to the operator
    SENT = "sent"  # handed to the operator, no receipt yet
    DELIVERED = "delivered"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)


@dataclass(frozen=True)
class OutgoingSms:
    """What to send. ``message_id`` is ours (the SMS outbox row), passed along where a gateway keeps
    a reference, and ``phone_e164`` is already validated (``+7…``)."""

    message_id: int
    phone_e164: str
    text: str


@dataclass(frozen=True)
class SendReceipt:
    """The gateway accepted the message: its id there, our status, and the cost when it says."""

    gateway: str
    provider_id: str
    status: DeliveryStatus
    provider_status: str = ""
    cost: Decimal | None = None
    failure_reason: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """A message's state at the gateway (from a poll or a callback)."""

    gateway: str
    provider_id: str
    status: DeliveryStatus
    provider_status: str = ""
    cost: Decimal | None = None
    failure_reason: str | None = None
    at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


class GatewayError(Exception):
    """The gateway refused or could not be reached.

    ``sent`` is False when the message surely did not get into the gateway's queue (a connection
    refused, an error answer); ``retryable`` when trying again later may work (429, 5xx, no route),
    as opposed to a refusal of this message or account (bad number, no credits, bad credentials).
    """

    def __init__(self, gateway: str, reason: str, *, retryable: bool, sent: bool = False) -> None:
        super().__init__(f"{gateway}: {reason}")
        self.gateway = gateway
        self.reason = reason
        self.retryable = retryable
        self.sent = sent


class SendOutcomeUnknown(GatewayError):
    """The request may have reached the gateway (a read timeout, a dropped connection after the
    body was written). Do not send again."""

    def __init__(self, gateway: str, reason: str) -> None:
        super().__init__(gateway, reason, retryable=False, sent=True)


class SmsGateway(Protocol):
    """One SMS provider. Implementations keep no state between calls but their HTTP client."""

    name: str

    def send(self, sms: OutgoingSms) -> SendReceipt: ...

    def status(self, provider_id: str) -> StatusReport: ...

    def balance(self) -> Decimal | None: ...
