"""1C dates: no offset, whole seconds, 0001-01-01 is empty; the server's zone makes them instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bonusbridge.settings import get_settings
from mapping.dates import EMPTY_DATE, from_onec_date, from_onec_datetime, to_onec_date, to_onec_datetime
from mapping.errors import InvalidDate

MOSCOW = ZoneInfo("Europe/Moscow")
YEKATERINBURG = ZoneInfo("Asia/Yekaterinburg")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("empty", [EMPTY_DATE, "0001-01-01", "", None])
def test_the_empty_date_is_none(empty):
    assert from_onec_datetime(empty, MOSCOW) is None
    assert from_onec_date(empty) is None


def test_none_goes_out_as_the_empty_date():
    assert to_onec_datetime(None, MOSCOW) == EMPTY_DATE
    assert to_onec_date(None) == EMPTY_DATE


def test_moscow_local_time_becomes_utc():
    assert from_onec_datetime("2024-03-20T14:05:07", MOSCOW) == datetime(2024, 3, 20, 11, 5, 7, tzinfo=UTC)
    assert to_onec_datetime(datetime(2024, 3, 20, 11, 5, 7, tzinfo=UTC), MOSCOW) == "2024-03-20T14:05:07"


def test_another_zone():
    assert from_onec_datetime("2024-03-20T14:05:07", YEKATERINBURG) == datetime(
        2024, 3, 20, 9, 5, 7, tzinfo=UTC
    )
    aware = datetime(2024, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert to_onec_datetime(aware, YEKATERINBURG) == "2025-01-01T09:30:00"


def test_the_zone_defaults_to_the_settings(monkeypatch):
    monkeypatch.setenv("BONUSBRIDGE_ONEC_TIMEZONE", "Asia/Vladivostok")
    get_settings.cache_clear()
    try:
        assert from_onec_datetime("2024-03-20T10:00:00") == datetime(2024, 3, 20, 0, 0, tzinfo=UTC)
        assert to_onec_datetime(datetime(2024, 3, 20, 0, 0, tzinfo=UTC)) == "2024-03-20T10:00:00"
    finally:
        get_settings.cache_clear()


def test_seconds_precision_truncates_fractions():
    moment = datetime(2024, 3, 20, 11, 5, 7, 999_999, tzinfo=UTC)
    assert to_onec_datetime(moment, MOSCOW) == "2024-03-20T14:05:07"


def test_daylight_saving_zone():
    # Summer: Berlin is UTC+2; winter: UTC+1.
    assert from_onec_datetime("2024-07-01T12:00:00", BERLIN) == datetime(2024, 7, 1, 10, tzinfo=UTC)
    assert from_onec_datetime("2024-01-01T12:00:00", BERLIN) == datetime(2024, 1, 1, 11, tzinfo=UTC)
    # The repeated hour on 27 October 2024 reads as its first occurrence (documented loss).
    first = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    second = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert to_onec_datetime(first, BERLIN) == to_onec_datetime(second, BERLIN) == "2024-10-27T02:30:00"
    assert from_onec_datetime("2024-10-27T02:30:00", BERLIN) == first


def test_birth_dates_are_not_shifted_by_a_zone():
    assert from_onec_date("1985-03-20T00:00:00") == date(1985, 3, 20)
    assert from_onec_date("1985-03-20") == date(1985, 3, 20)
    assert to_onec_date(date(1985, 3, 20)) == "1985-03-20T00:00:00"
    assert to_onec_date(date(1, 1, 2)) == "0001-01-02T00:00:00"


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-20T14:05:07Z",
        "2024-03-20T14:05:07+03:00",
        "2024-03-20T14:05:07.123",
        "2024-03-20 14:05:07",
        "20.03.2024",
        "2024-02-30T00:00:00",
        "2024-03-20T25:00:00",
        "24-03-20T00:00:00",
        "сегодня",
    ],
)
def test_malformed_dates_are_typed_errors_that_do_not_echo_the_value(text):
    with pytest.raises(InvalidDate) as caught:
        from_onec_datetime(text, MOSCOW)
    assert text not in str(caught.value)
    with pytest.raises(InvalidDate):
        from_onec_date(text)


def test_refusals_going_out():
    with pytest.raises(InvalidDate, match="naive"):
        to_onec_datetime(datetime(2024, 3, 20, 12, 0), MOSCOW)
    with pytest.raises(InvalidDate, match="3999"):
        to_onec_datetime(datetime(5000, 1, 1, tzinfo=UTC), MOSCOW)
    with pytest.raises(InvalidDate, match="datetime"):
        to_onec_date(datetime(2024, 3, 20, tzinfo=UTC))


def test_a_local_time_before_utc_year_one_is_refused():
    with pytest.raises(InvalidDate):
        from_onec_datetime("0001-01-01T01:00:00", MOSCOW)


_INSTANTS = st.datetimes(
    min_value=datetime(2015, 1, 1), max_value=datetime(3999, 12, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


@given(moment=_INSTANTS, zone=st.sampled_from([MOSCOW, YEKATERINBURG, ZoneInfo("Asia/Almaty"), UTC]))
def test_datetime_round_trip_in_zones_without_dst(moment, zone):
    assert from_onec_datetime(to_onec_datetime(moment, zone), zone) == moment


@given(day=st.dates(min_value=date(1, 1, 2), max_value=date(3999, 12, 31)))
def test_date_round_trip(day):
    assert from_onec_date(to_onec_date(day)) == day
