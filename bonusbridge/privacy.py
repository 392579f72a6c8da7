"""Masking of personal data for logs and screens: a log line must never identify a customer.

Phones keep their country code and last two digits, names their first letter. The logging filter
also scrubs phone-like digit runs from messages, as a net under code that forgot to mask.
"""

from __future__ import annotations

import logging
import re

_PHONE_LIKE = re.compile(r"\+?\d[\d\s()\-]{8,}\d")


def mask_phone(phone: str | None) -> str:
    if not phone:
        return "-"
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 4:
        return "***"
    head = "+" + digits[0] if phone.strip().startswith("+") else digits[0]
    return f"{head}***{digits[-2:]}"


def mask_name(name: str | None) -> str:
    if not name:
        return "-"
    return name.strip()[:1] + "***"


def mask_card_number(number: str | None, visible: int = 4) -> str:
    if not number:
        return "-"
    return "•" * max(len(number) - visible, 0) + number[-visible:]


class PersonalDataFilter(logging.Filter):
    """Rewrites each record's message with phone-like numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _PHONE_LIKE.sub(lambda match: mask_phone(match.group(0)), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(PersonalDataFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party request logs repeat URLs (with card numbers in paths) and add nothing to ours.
    for noisy in ("alembic", "httpx", "httpcore", "zeep", "kombu", "amqp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
