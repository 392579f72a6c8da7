"""Masking of personal data for logs and screens: a log line must never identify a customer.

Phones keep their country code and last two digits, names their first letter. The logging filter
also scrubs phone-like digit runs from messages, as a net under code that forgot to mask — but not
dates and times, which look like digit runs too (1C's ``Balance(Period=datetime'2026-12-08T00:44:47')``
in a URL must stay readable): a date is no personal data a log line must hide.
"""

from __future__ import annotations

import logging
import re

_PHONE_LIKE = re.compile(r"\+?\d[\d\s()\-]{8,}\d")
#: An ISO date (1C writes its dates so in OData: ``2026-12-08T00:44:47``), with its time if any.
_DATE_LIKE = re.compile(
    r"(?<!\d)\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ][0-2]?\d:[0-5]\d(?::[0-5]\d(?:\.\d+)?)?)?(?!\d)"
)


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


def mask_phones_in(text: str) -> str:
    """``text`` with every phone-like digit run masked (``mask_phone``); dates and times are kept:
    they are cut out first, so a phone-like run never swallows a date next to it."""
    pieces = _DATE_LIKE.split(text)
    dates = _DATE_LIKE.findall(text)
    out = [_PHONE_LIKE.sub(lambda match: mask_phone(match.group(0)), pieces[0])]
    for date_text, piece in zip(dates, pieces[1:], strict=True):
        out.append(date_text)
        out.append(_PHONE_LIKE.sub(lambda match: mask_phone(match.group(0)), piece))
    return "".join(out)


class PersonalDataFilter(logging.Filter):
    """Rewrites each record's message with phone-like numbers masked (dates kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones_in(message)
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
