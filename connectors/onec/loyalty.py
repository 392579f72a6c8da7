"""What the 1C loyalty service clients return, shared by the SOAP (``soap_client``) and HTTP-service
(``hs_client``) clients, and the log helper both use.

The operations (same on both transports; see ``emulator/wsdl.py`` and ``emulator/hs.py``):

- find cards by phone → ``list[LoyaltyCard]``
- card balance → ``CardBalance`` (``accrued`` spendable, ``to_write_off`` due to expire)
- post a bonus movement (positive: accrual, negative: write-off) with an external id →
  ``BonusMovement``; 1C dedupes by the external id, so retrying after a lost answer is safe
  (``created`` is False on a repeat)
- block a card → ``LoyaltyCard``
- read / update a partner's profile → ``PartnerProfile``

In УТ 11 bonuses belong to the partner: a card's balance there is its partner's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .errors import OneCError

log = logging.getLogger("connectors.onec.services")


@dataclass(frozen=True)
class LoyaltyCard:
    ref: str
    number: str
    kind: str
    status: str  # "Действует" or "НеДействует"
    owner: str  # the partner's Ref_Key
    owner_name: str
    balance: Decimal

    @property
    def blocked(self) -> bool:
        return self.status != "Действует"


@dataclass(frozen=True)
class CardBalance:
    card_number: str
    accrued: Decimal
    to_write_off: Decimal


@dataclass(frozen=True)
class BonusMovement:
    ref: str  # Ref_Key of Document_НачислениеИСписаниеБонусныхБаллов
    number: str
    date: datetime
    external_id: str
    created: bool


@dataclass(frozen=True)
class PartnerProfile:
    ref: str
    code: str
    name: str
    full_name: str
    phone: str
    email: str
    birth_date: date | None


def log_failure(transport: str, operation: str, exc: OneCError) -> None:
    """One log line per failed call, without personal data: no arguments, no 1C message (1C echoes
    phones and names back in its errors), only what failed and how."""
    log.warning(
        "1C %s %s failed: %s (status %s, retryable %s)",
        transport,
        operation,
        exc.code,
        exc.status if exc.status is not None else "-",
        exc.retryable,
    )
