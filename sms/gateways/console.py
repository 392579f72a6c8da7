"""The embedded default gateway: "sends" by printing to the terminal and appending to a file.

For development only. The file keeps phone and text for the dev outbox page (``/dev/sms``). The
terminal line (stderr, a worker's log) names the message with a masked phone; only with
``sms_console_echo`` (the demo's choice: the demo prints every code) does it carry the text.
Never configure it in production: its file holds codes in clear.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bonusbridge.privacy import mask_phone
from bonusbridge.settings import Settings
from sms.gateway import DeliveryStatus, OutgoingSms, SendReceipt, StatusReport

GATEWAY_NAME = "console"
PROVIDER_ID_PREFIX = "console-"


class ConsoleGateway:
    """Every message is "delivered" at once: its line in the outbox file is the receipt."""

    name: str = GATEWAY_NAME

    def __init__(self, settings: Settings) -> None:
        self._outbox = Path(settings.sms_console_file)
        self._echo = settings.sms_console_echo

    def send(self, sms: OutgoingSms) -> SendReceipt:
        provider_id = PROVIDER_ID_PREFIX + uuid.uuid4().hex
        record = {
            "provider_id": provider_id,
            "message_id": sms.message_id,
            "phone": sms.phone_e164,
            "text": sms.text,
            "at": datetime.now(UTC).isoformat(),
        }
        self._outbox.parent.mkdir(parents=True, exist_ok=True)
        with self._outbox.open("a", encoding="utf-8") as outbox:
            outbox.write(json.dumps(record, ensure_ascii=False) + "\n")
        if self._echo:
            line = f"[sms console] to {sms.phone_e164} (message {sms.message_id}): {sms.text}"
        else:  # a worker's stderr is its log: no code, no whole phone
            line = (
                f"[sms console] to {mask_phone(sms.phone_e164)} (message {sms.message_id}): "
                f"text in {self._outbox} and at /dev/sms"
            )
        print(line, file=sys.stderr, flush=True)
        return SendReceipt(
            gateway=GATEWAY_NAME,
            provider_id=provider_id,
            status=DeliveryStatus.DELIVERED,
            provider_status="delivered",
            cost=Decimal(0),
        )

    def status(self, provider_id: str) -> StatusReport:
        """Delivered when the outbox file holds this id, failed otherwise (e.g. the file was wiped)."""
        for record in _records(self._outbox):
            if record.get("provider_id") == provider_id:
                return StatusReport(
                    gateway=GATEWAY_NAME,
                    provider_id=provider_id,
                    status=DeliveryStatus.DELIVERED,
                    provider_status="delivered",
                    cost=Decimal(0),
                    at=_datetime_or_none(record.get("at")),
                )
        return StatusReport(
            gateway=GATEWAY_NAME,
            provider_id=provider_id,
            status=DeliveryStatus.FAILED,
            provider_status="unknown",
            failure_reason="no such message in the console outbox",
        )

    def balance(self) -> Decimal | None:
        return None  # nothing to pay


def read_console_outbox(path: str | os.PathLike[str], limit: int = 50) -> list[dict[str, Any]]:
    """The latest ``limit`` messages of a console outbox file, newest first (for the dev page).

    A missing file is an empty outbox; unreadable lines (a crash mid-write) are skipped.
    """
    if limit <= 0:
        return []
    latest = deque(_records(Path(path)), maxlen=limit)
    latest.reverse()
    return list(latest)


def _records(path: Path) -> list[dict[str, Any]]:
    """Every readable JSON object line of the file, in file order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records: list[dict[str, Any]] = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _datetime_or_none(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
