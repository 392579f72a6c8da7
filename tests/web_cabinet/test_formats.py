"""The cabinet's precompiled formatters (``web_cabinet.formats``) write exactly what Babel writes
for the same pattern and locale: points, days and moments, in both languages, across signs,
rounding, grouping, zones, naive times and the turn of a year."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from web_cabinet import formats
from web_cabinet.formats import _DAY, _MOMENT, Formats, _compile

AMOUNTS = [
    "0", "-0", "0.005", "0.015", "0.025", "-0.004", "-0.005", "1", "12.345", "12.355", "80.5", "300",
    "999.995", "1000", "-1234.5", "1234567.125", "-98765432.10", "1E+3", "5E-3", "0.00", "-0.00",
]  # fmt: skip
ZONES = [ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Vladivostok"), ZoneInfo("America/New_York"), UTC]
MOMENTS = [
    datetime(2026, 12, 31, 21, 0, tzinfo=UTC),  # already the next year in Moscow
    datetime(2026, 1, 1, 0, 59, tzinfo=UTC),
    datetime(2026, 3, 8, 6, 30, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
    datetime(987, 6, 5, 4, 3, tzinfo=UTC),  # a four-digit year, zero-padded
    datetime(2026, 7, 14, 12, 0),  # naive: read as UTC
]


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_points_are_babels_text(lang: str) -> None:
    for text in AMOUNTS:
        value = Decimal(text)
        assert formats.points(value, lang) == format_decimal(value, format="#,##0.00", locale=lang), text
    assert formats.points(None, lang) == format_decimal(Decimal(0), format="#,##0.00", locale=lang)
    assert formats.points(1234, lang) == format_decimal(Decimal(1234), format="#,##0.00", locale=lang)


def test_russian_points_group_with_a_no_break_space_and_a_comma_for_decimals() -> None:
    assert formats.points(Decimal("1234.5"), "ru") == "1\xa0234,50"
    assert formats.points(Decimal("1234.5"), "en") == "1,234.50"


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_days_and_moments_are_babels_text(lang: str) -> None:
    for zone in ZONES:
        for value in MOMENTS:
            expected_moment = format_datetime(value, _MOMENT[lang], tzinfo=zone, locale=lang)
            assert formats.moment(value, lang, zone) == expected_moment, (value, zone)
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            expected_day = format_date(aware.astimezone(zone).date(), _DAY[lang], locale=lang)
            assert formats.day(aware, lang, zone) == expected_day, (value, zone)
    assert formats.day(date(2026, 5, 9), lang) == format_date(date(2026, 5, 9), _DAY[lang], locale=lang)
    assert formats.day(None, lang) == "" and formats.moment(None, lang, ZONES[0]) == ""


def test_a_pattern_with_words_is_left_to_babel() -> None:
    assert _compile("d MMMM y") is None and _compile("dd.MM.yyyy 'г.'") is None
    assert _compile("dd.MM.yyyy HH:mm") == "{day:02d}.{month:02d}.{year:04d} {hour:02d}:{minute:02d}"


def test_each_language_is_prepared_once() -> None:
    assert Formats.of("ru") is Formats.of("ru")
    assert Formats.of("en") is not Formats.of("ru")
