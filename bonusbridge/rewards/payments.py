"""How the cash part of an order is paid: one small interface, so a real acquirer plugs in later.

``InstantPayments`` (the embedded default) says every invoice is paid at once; ``ManualPayments``
leaves it unpaid until staff (or an acquirer's callback) confirms it with ``orders.confirm_payment``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol


class Payments(Protocol):
    def request(self, *, invoice_number: str, amount: Decimal, currency: str) -> bool:
        """Ask for the payment; True when it is already confirmed paid."""


class InstantPayments:
    def request(self, *, invoice_number: str, amount: Decimal, currency: str) -> bool:
        return True


class ManualPayments:
    def request(self, *, invoice_number: str, amount: Decimal, currency: str) -> bool:
        return False


def payments_named(name: str) -> Payments:
    return ManualPayments() if name == "manual" else InstantPayments()
