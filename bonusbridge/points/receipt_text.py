"""What a till or an invoice prints about points (issue 8, item 8), in ru, en or fr.

Amounts keep two decimals with the locale's decimal mark (``12,50`` in ru and fr); dates are the
customer's day in the program's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo

Locale = Literal["ru", "en", "fr"]
LOCALES: tuple[Locale, ...] = ("ru", "en", "fr")

_TEXTS: dict[Locale, dict[str, str]] = {
    "ru": {
        "earned": "Начислено баллов: {points}",
        "deducted": "Списано баллов: {points}",
        "reversed": "Возвращено в счёт возврата: {points}",
        "expires": "Начисленные баллы действуют до {date}",
        "pending": "Баллы станут доступны {date}",
        "balance": "Баланс баллов: {points}",
        "rule": "{points} баллов = {value} {currency} скидки",
    },
    "en": {
        "earned": "Points earned: {points}",
        "deducted": "Points redeemed: {points}",
        "reversed": "Points taken back for the return: {points}",
        "expires": "The points earned are valid until {date}",
        "pending": "The points can be spent from {date}",
        "balance": "Points balance: {points}",
        "rule": "{points} points = {value} {currency} off",
    },
    "fr": {
        "earned": "Points acquis : {points}",
        "deducted": "Points utilisés : {points}",
        "reversed": "Points déduits (avoir) : {points}",
        "expires": "Date limite d'utilisation des points acquis : {date}",
        "pending": "Points utilisables à partir du {date}",
        "balance": "Nouveau solde de points : {points}",
        "rule": "{points} points = {value} {currency} de remise",
    },
}
_DATES: dict[Locale, str] = {"ru": "%d.%m.%Y", "en": "%d %b %Y", "fr": "%d/%m/%Y"}


@dataclass(frozen=True)
class ReceiptFacts:
    earned: Decimal
    deducted: Decimal
    balance: Decimal
    point_value: Decimal
    currency: str
    time_zone: str
    reversed: Decimal = Decimal(0)
    expires_at: datetime | None = None
    available_from: datetime | None = None
    now: datetime | None = None
    threshold: Decimal = Decimal(0)  # the rule line's example: the threshold when there is one


def _amount(value: Decimal, locale: Locale) -> str:
    text = f"{value:.2f}"
    return text.replace(".", ",") if locale in ("ru", "fr") else text


def _rule_points(point_value: Decimal, threshold: Decimal) -> tuple[Decimal, Decimal]:
    """The rule line's example: the threshold (300 points = 3.00 at 0.01), else a round number."""
    if threshold > 0:
        return threshold.normalize(), (threshold * point_value).quantize(Decimal("0.01"), ROUND_HALF_UP)
    points = (
        Decimal(100) if point_value <= Decimal("0.01") else Decimal(10) if point_value <= 1 else Decimal(1)
    )
    return points, (points * point_value).quantize(Decimal("0.01"), ROUND_HALF_UP)


def lines(facts: ReceiptFacts, locale: Locale) -> list[str]:
    texts, zone = _TEXTS[locale], ZoneInfo(facts.time_zone)

    def day(moment: datetime) -> str:
        return moment.astimezone(zone).strftime(_DATES[locale])

    out = []
    if facts.earned:
        out.append(texts["earned"].format(points=_amount(facts.earned, locale)))
    if facts.deducted:
        out.append(texts["deducted"].format(points=_amount(facts.deducted, locale)))
    if facts.reversed:
        out.append(texts["reversed"].format(points=_amount(facts.reversed, locale)))
    if facts.earned and facts.expires_at is not None:
        out.append(texts["expires"].format(date=day(facts.expires_at)))
    pending = facts.available_from is not None and facts.now is not None and facts.available_from > facts.now
    if facts.earned and pending and facts.available_from is not None:
        out.append(texts["pending"].format(date=day(facts.available_from)))
    out.append(texts["balance"].format(points=_amount(facts.balance, locale)))
    points, value = _rule_points(facts.point_value, facts.threshold)
    out.append(
        texts["rule"].format(points=f"{points:f}", value=_amount(value, locale), currency=facts.currency)
    )
    return out
