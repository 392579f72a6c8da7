"""Applying a receipt: the dates of its points, and what a return takes back. The engine decides
amounts and dates; the ledger books them (idempotent per receipt key).

A return names lines and quantities. Each receipt line remembers its net amount and the points it
earned; returning ``q`` of its ``Q`` units takes back ``points × q / Q`` of that line. Totals are
cumulative, like the shop API's refunds: after returns whose exact share of the receipt's points
is ``s``, the accrual is reversed up to ``round_half_up(accrued × s)`` in all, so rounding never
accumulates, and returning every line reverses exactly what was accrued. The points spent on the
receipt come back in proportion to the returned amount of money.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from bonusbridge.points.errors import InvalidBasket
from bonusbridge.points.program import ProgramRules
from bonusbridge.points.quote import Quote


def add_months(moment: datetime, months: int) -> datetime:
    """Same day ``months`` later (the month's last day when it is shorter: 31 Jan + 1 = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def accrual_dates(rules: ProgramRules, at: datetime) -> tuple[datetime, datetime | None]:
    """When a receipt's points become spendable (after the pending period) and when they expire
    (``validity_months`` after the receipt, counted from its date, not from the pending end)."""
    available_from = at + timedelta(days=rules.pending_days)
    expires_at = add_months(at, rules.validity_months) if rules.validity_months else None
    return available_from, expires_at


@dataclass
class ReceiptLine:
    """A receipt line as stored for later returns."""

    sku: str
    quantity: Decimal
    amount: Decimal
    points: Decimal
    returned: Decimal = Decimal(0)

    def to_json(self) -> dict[str, str]:
        return {
            "sku": self.sku,
            "quantity": str(self.quantity),
            "amount": str(self.amount),
            "points": str(self.points),
            "returned": str(self.returned),
        }

    @classmethod
    def from_json(cls, raw: dict[str, str]) -> ReceiptLine:
        return cls(
            raw["sku"],
            Decimal(raw["quantity"]),
            Decimal(raw["amount"]),
            Decimal(raw["points"]),
            Decimal(raw["returned"]),
        )


def receipt_lines(quote: Quote, quantities: list[Decimal]) -> list[ReceiptLine]:
    return [
        ReceiptLine(line.sku, quantity, line.amount, line.points)
        for line, quantity in zip(quote.lines, quantities, strict=True)
    ]


@dataclass(frozen=True)
class ReturnShares:
    points_share: Decimal  # share of the receipt's points returned so far (this return included)
    amount: Decimal  # money returned by this return
    full: bool  # every unit of every line returned


def apply_return(lines: list[ReceiptLine], returned: list[tuple[int, Decimal]]) -> ReturnShares:
    """Mark ``(line index, quantity)`` returned; refuse returning more than was bought."""
    amount = Decimal(0)
    for index, quantity in returned:
        if not 0 <= index < len(lines):
            raise InvalidBasket(f"the receipt has no line {index}")
        line = lines[index]
        if quantity <= 0 or line.returned + quantity > line.quantity:
            raise InvalidBasket(
                f"line {index} ({line.sku}): {line.quantity - line.returned} left to return, not {quantity}"
            )
        before = (line.amount * line.returned / line.quantity).quantize(Decimal("0.01"))
        line.returned += quantity
        amount += (line.amount * line.returned / line.quantity).quantize(Decimal("0.01")) - before
    total_points = sum((line.points for line in lines), Decimal(0))
    returned_points = sum((line.points * line.returned / line.quantity for line in lines), Decimal(0))
    full = all(line.returned == line.quantity for line in lines)
    share = Decimal(1) if full else (returned_points / total_points if total_points else Decimal(0))
    return ReturnShares(share, amount, full)
