"""What the rewards shop's pages share: the program's settings the domain calls take (tier order,
tier cashback, payments, currency) and the suppliers' signed login links.

A supplier's link is signed by the mail sender (``mail.sending.supplier_link``, salt
``supplier-login``) with ``settings.supplier_link_secret``; it opens for
``settings.supplier_link_max_age_seconds`` by the app's clock. The token is a credential, so the
access log never shows it (``RedactLoginTokens``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import Connection

from bonusbridge.points import store
from bonusbridge.rewards import errors
from bonusbridge.rewards.payments import Payments, payments_named
from bonusbridge.settings import Settings
from web_cabinet.sessions import clocked_serializer

SUPPLIER_SALT = "supplier-login"


def tier_order(conn: Connection, settings: Settings, now: datetime) -> tuple[str, ...]:
    """The program's tiers in force now, lowest first (what a reward's minimum tier is ranked by)."""
    try:
        rules = store.load(conn, settings).version_at(now).rules
    except Exception:  # no version in force yet: no tiers to rank
        return ()
    return tuple(tier.name for tier in rules.tiers)


def cashback_percents(settings: Settings) -> dict[str, Decimal]:
    """``rewards_cashback_percent`` ('none=1,silver=2,gold=5') as tier → percent (``none``: a member
    below the first tier); a bad part is ignored."""
    found: dict[str, Decimal] = {}
    for part in settings.rewards_cashback_percent.split(","):
        name, _, value = part.partition("=")
        try:
            percent = Decimal(value.strip())
        except InvalidOperation:
            continue
        tier = name.strip()
        if tier and percent.is_finite() and 0 <= percent <= 100:
            found["" if tier == "none" else tier] = percent
    return found


def payments_of(settings: Settings) -> Payments:
    return payments_named(settings.rewards_payments)


def supplier_token(settings: Settings, supplier_id: int, clock: Callable[[], datetime]) -> str:
    """A login token as the mail sender makes it, stamped by ``clock`` (tests, the demo's banner)."""
    serializer = clocked_serializer(settings.supplier_link_secret.get_secret_value(), SUPPLIER_SALT, clock)
    return str(serializer.dumps({"supplier": supplier_id}))


def supplier_of_token(settings: Settings, token: str, clock: Callable[[], datetime]) -> int:
    """The supplier a link's token names, or ``LinkExpired`` (expired, tampered, or not a token)."""
    serializer = clocked_serializer(settings.supplier_link_secret.get_secret_value(), SUPPLIER_SALT, clock)
    try:
        data = serializer.loads(token[:2000], max_age=settings.supplier_link_max_age_seconds)
    except (SignatureExpired, BadSignature):
        raise errors.LinkExpired() from None
    supplier = data.get("supplier") if isinstance(data, dict) else None
    if not isinstance(supplier, int) or isinstance(supplier, bool):
        raise errors.LinkExpired()
    return supplier


_TOKEN = re.compile(r"([?&]token=)[^&\s\"]+")


class RedactLoginTokens(logging.Filter):
    """Masks ``token=…`` in log records (uvicorn's access log prints the query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_TOKEN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = _TOKEN.sub(r"\1***", record.msg)
        return True


def redact_login_tokens() -> None:
    """Installs the filter on uvicorn's access logger (once)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactLoginTokens) for f in logger.filters):
        logger.addFilter(RedactLoginTokens())
