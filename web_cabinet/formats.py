"""Amounts and dates as a person reads them in their locale, through Babel (CLDR): the cabinet,
the staff pages and the SMS texts format the same way. Points always show two decimals ("1 234,50"
in Russian, "1,234.50" in English); times are shown in the chain's zone (``sms_default_time_zone``,
Europe/Moscow by default), one zone on every page."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime
from babel.numbers import format_decimal

_DAY = {"ru": "dd.MM.yyyy", "en": "yyyy-MM-dd"}
_MOMENT = {"ru": "dd.MM.yyyy HH:mm", "en": "yyyy-MM-dd HH:mm"}


def points(value: Decimal | int | None, lang: str) -> str:
    amount = Decimal(0) if value is None else Decimal(value)
    return format_decimal(amount, format="#,##0.00", locale=lang)


def day(value: date | datetime | None, lang: str, zone: ZoneInfo | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(zone).date() if zone is not None else value.date()
    return babel_date(value, _DAY.get(lang, _DAY["ru"]), locale=lang)


def moment(value: datetime | None, lang: str, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    return babel_datetime(value, _MOMENT.get(lang, _MOMENT["ru"]), tzinfo=zone, locale=lang)
