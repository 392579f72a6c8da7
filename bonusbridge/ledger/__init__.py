"""The append-only bonus ledger: accrue, redeem, hold/capture/void, transfer, expire, adjust, reverse."""

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.records import BalanceView, HoldRecord, MovementRecord, TransferRecord
from bonusbridge.ledger.service import LedgerService

__all__ = [
    "BalanceView",
    "HoldRecord",
    "LedgerBook",
    "LedgerService",
    "MovementRecord",
    "TransferRecord",
]
