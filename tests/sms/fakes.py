"""A scripted gateway for the sender's tests: each send pops the next scripted answer (a receipt
kind or an exception) and records the SMS, so a test can count what really went out."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal

from sms.gateway import DeliveryStatus, GatewayError, OutgoingSms, SendReceipt, StatusReport

_ids = itertools.count(1)


class ScriptedGateway:
    def __init__(self, name: str, script: Iterable[object] = ()) -> None:
        self.name = name
        self.script = list(script)
        self.sent: list[OutgoingSms] = []
        self.statuses: dict[str, DeliveryStatus] = {}

    def send(self, sms: OutgoingSms) -> SendReceipt:
        answer = self.script.pop(0) if self.script else "ok"
        if isinstance(answer, GatewayError):
            if answer.sent:
                self.sent.append(sms)  # it may have gone out: the test counts it as sent
            raise answer
        self.sent.append(sms)
        number = next(_ids)
        provider_id = {"smsaero": str(number), "twilio": f"SM{number:032x}"}.get(
            self.name, f"{self.name}-{number}"
        )
        self.statuses[provider_id] = DeliveryStatus.SENT
        return SendReceipt(self.name, provider_id, DeliveryStatus.QUEUED, "queue", Decimal("5.49"))

    def status(self, provider_id: str) -> StatusReport:
        if provider_id not in self.statuses:
            raise GatewayError(self.name, "unknown id", retryable=False)
        return StatusReport(self.name, provider_id, self.statuses[provider_id], "scripted")

    def balance(self) -> Decimal | None:
        return Decimal("100")
