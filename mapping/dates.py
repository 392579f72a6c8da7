"""1C dates: local wall-clock time of the 1C server, no offset, whole seconds.

1C writes ``2024-03-20T14:05:00`` and means "14:05 where the server is"; the hub keeps aware UTC
datetimes. The zone is the server's IANA zone (``BONUSBRIDGE_ONEC_TIMEZONE``, default
Europe/Moscow), taken from the settings unless a caller passes one (tests, a second 1C base).

- ``0001-01-01T00:00:00`` is 1C's empty date and maps to None, both ways.
- Going to 1C, fractions of a second are truncated (1C stores whole seconds); a naive datetime is
  refused, because nobody can tell which zone it meant.
- In a zone with daylight saving, a local time that occurs twice is read as its first occurrence,
  and one that never occurs (the skipped hour) is shifted as ``zoneinfo`` does: an instant in the
  repeated hour does not survive the trip through 1C. Moscow has had no DST since 2014.
- Birth dates are calendar dates, not instants: ``from_onec_date``/``to_onec_date`` never shift
  them by a time zone (1C stores them as midnight).
- 1C dates run from year 1 to 3999; anything later is refused going out.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo

from bonusbridge.settings import get_settings
from mapping.errors import InvalidDate

EMPTY_DATE = "0001-01-01T00:00:00"
MAX_YEAR = 3999

_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2}))?")


def server_zone() -> tzinfo:
    """The 1C server's time zone from the settings."""
    return get_settings().onec_zone


def from_onec_datetime(text: str | None, tz: tzinfo | None = None) -> datetime | None:
    """A 1C date-time as an aware UTC datetime; the empty date (or no value) is None."""
    local = _parse(text)
    if local is None:
        return None
    try:
        return local.replace(tzinfo=tz or server_zone()).astimezone(UTC)
    except OverflowError:
        raise InvalidDate("date is outside the range the hub can store") from None


def to_onec_datetime(value: datetime | None, tz: tzinfo | None = None) -> str:
    """An aware datetime as 1C's local ``YYYY-MM-DDTHH:MM:SS``; None is the empty date."""
    if value is None:
        return EMPTY_DATE
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidDate("a naive datetime cannot be sent to 1C: its time zone is unknown")
    try:
        local = value.astimezone(tz or server_zone())
    except OverflowError:
        raise InvalidDate("date is outside the range 1C can store") from None
    return _format(local.replace(tzinfo=None, microsecond=0))


def from_onec_date(text: str | None) -> date | None:
    """A 1C date used as a calendar date (a birth date): the date part, no zone shift."""
    local = _parse(text)
    return None if local is None else local.date()


def to_onec_date(value: date | None) -> str:
    """A calendar date as 1C writes it: midnight, ``YYYY-MM-DDT00:00:00``; None is the empty date."""
    if value is None:
        return EMPTY_DATE
    if isinstance(value, datetime):
        raise InvalidDate("a calendar date was expected, got a datetime")
    return _format(datetime(value.year, value.month, value.day))


def _parse(text: str | None) -> datetime | None:
    if text is None or text == "" or text == EMPTY_DATE:
        return None
    if not isinstance(text, str):
        raise InvalidDate(f"a 1C date must be a string, got {type(text).__name__}")
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise InvalidDate("not a 1C date (expected YYYY-MM-DDTHH:MM:SS without an offset)")
    year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
    try:
        parsed = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise InvalidDate("not a calendar date or time of day") from None
    if parsed == datetime(1, 1, 1):
        return None
    return parsed


def _format(local: datetime) -> str:
    if local.year > MAX_YEAR:
        raise InvalidDate(f"1C cannot store a year after {MAX_YEAR}")
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local:%H:%M:%S}"
