"""Amounts and dates as a person reads them in their locale, through Babel (CLDR): the cabinet,
the staff pages and the SMS texts format the same way. Points always show two decimals ("1 234,50"
in Russian, "1,234.50" in English); times are shown in the chain's zone (``sms_default_time_zone``,
Europe/Moscow by default), one zone on every page.

Babel parses its locale and the pattern on every call, which was a third of the home page's
rendering (sixty history rows, three values each). The symbols and patterns come from Babel once
per language (``Formats.of``, cached) and each value is then formatted with Python's own number and
string formatting: the same text as Babel's (``tests/web_cabinet/test_formats.py`` compares them),
without the per-call parsing. A pattern this module cannot compile is formatted by Babel itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime

_DAY = {"ru": "dd.MM.yyyy", "en": "yyyy-MM-dd"}
_MOMENT = {"ru": "dd.MM.yyyy HH:mm", "en": "yyyy-MM-dd HH:mm"}

#: CLDR date fields this module formats itself (zero-padded numbers), as ``str.format`` fields.
_FIELDS = {
    "dd": "{day:02d}",
    "MM": "{month:02d}",
    "yyyy": "{year:04d}",
    "HH": "{hour:02d}",
    "mm": "{minute:02d}",
}
_TOKEN = re.compile(r"([A-Za-z])\1*")


def _compile(pattern: str) -> str | None:
    """A CLDR date pattern as a ``str.format`` template; None when it uses anything but the
    numeric fields above (text, quotes: Babel formats those)."""
    if "'" in pattern:
        return None
    out: list[str] = []
    position = 0
    for token in _TOKEN.finditer(pattern):
        literal = pattern[position : token.start()]
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        field = _FIELDS.get(token.group(0))
        if field is None:
            return None
        out.append(field)
        position = token.end()
    out.append(pattern[position:].replace("{", "{{").replace("}", "}}"))
    return "".join(out)


@dataclass(frozen=True)
class Formats:
    """One language's formatters, built once (``Formats.of``)."""

    lang: str
    _digits: dict[int, str]  # Python's "1,234.50" → the locale's group, decimal and minus signs
    _day: str | None
    _moment: str | None

    @staticmethod
    @lru_cache(maxsize=16)
    def of(lang: str) -> Formats:
        symbols = Locale.parse(lang).number_symbols["latn"]
        digits = str.maketrans(
            {
                ",": symbols.get("group", ","),
                ".": symbols.get("decimal", "."),
                "-": symbols.get("minusSign", "-"),
            }
        )
        return Formats(
            lang, digits, _compile(_DAY.get(lang, _DAY["ru"])), _compile(_MOMENT.get(lang, _MOMENT["ru"]))
        )

    def points(self, value: Decimal | int | None) -> str:
        """``#,##0.00`` in the locale: grouping by three, two decimals rounded half to even (as Babel)."""
        amount = Decimal(0) if value is None else Decimal(value)
        return f"{amount:,.2f}".translate(self._digits)

    def day(self, value: date | datetime | None, zone: ZoneInfo | None = None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(zone).date() if zone is not None else value.date()
        if self._day is None:
            return babel_date(value, _DAY.get(self.lang, _DAY["ru"]), locale=self.lang)
        return self._day.format(day=value.day, month=value.month, year=value.year)

    def moment(self, value: datetime | None, zone: ZoneInfo) -> str:
        if value is None:
            return ""
        if self._moment is None:
            return babel_datetime(value, _MOMENT.get(self.lang, _MOMENT["ru"]), tzinfo=zone, locale=self.lang)
        # Babel reads a naive time as UTC, so does this
        local = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(zone)
        return self._moment.format(
            day=local.day, month=local.month, year=local.year, hour=local.hour, minute=local.minute
        )


def points(value: Decimal | int | None, lang: str) -> str:
    return Formats.of(lang).points(value)


def day(value: date | datetime | None, lang: str, zone: ZoneInfo | None = None) -> str:
    return Formats.of(lang).day(value, zone)


def moment(value: datetime | None, lang: str, zone: ZoneInfo) -> str:
    return Formats.of(lang).moment(value, zone)
