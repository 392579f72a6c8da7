"""Phones as they are typed at tills and in legacy programs: each notation, and each way to be wrong."""

from __future__ import annotations

import pytest

from mapping.errors import InvalidPhone, MappingError
from mapping.phones import (
    PhoneProblem,
    PhoneType,
    display_phone,
    is_mobile,
    normalize_phone,
    require_phone,
    subscriber_number,
)

NBSP = "\u00a0"

VALID = [
    # raw, e164, type, region, extension
    ("8 916 123-45-67", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("+7 (916) 123-45-67", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("9161234567", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("79161234567", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("8-916-123-45-67", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("8.916.123.45.67", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("(916) 123 45 67", "+79161234567", PhoneType.MOBILE, "RU", None),
    (f"+7{NBSP}916{NBSP}123{NBSP}45{NBSP}67", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("  +7 916   123 45 67\t", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("007 916 123 45 67", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("00 7 (916) 123-45-67", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("810 7 916 123 45 67", "+79161234567", PhoneType.MOBILE, "RU", None),
    ("8-916-123-45-67 доб. 12", "+79161234567", PhoneType.MOBILE, "RU", "12"),
    ("8 916 123-45-67 ext 12", "+79161234567", PhoneType.MOBILE, "RU", "12"),
    ("+7 916 123-45-67 x12", "+79161234567", PhoneType.MOBILE, "RU", "12"),
    ("+7 916 123-45-67 #305", "+79161234567", PhoneType.MOBILE, "RU", "305"),
    ("8 (495) 123-45-67, доп. 1234", "+74951234567", PhoneType.FIXED_LINE, "RU", "1234"),
    ("8 (495) 123-45-67 ВН. 7", "+74951234567", PhoneType.FIXED_LINE, "RU", "7"),
    # Landlines are valid numbers: mapping reports the type, the SMS layer refuses to text them.
    ("+7 495 123-45-67", "+74951234567", PhoneType.FIXED_LINE, "RU", None),
    ("8 (812) 123-45-67", "+78121234567", PhoneType.FIXED_LINE, "RU", None),
    # Kazakhstan shares +7: region KZ, not RU, whichever notation.
    ("+7 701 123 45 67", "+77011234567", PhoneType.MOBILE, "KZ", None),
    ("8 701 123 45 67", "+77011234567", PhoneType.MOBILE, "KZ", None),
    ("8 (727) 250-00-00", "+77272500000", PhoneType.FIXED_LINE, "KZ", None),
    ("8 800 555-35-35", "+78005553535", PhoneType.TOLL_FREE, "RU", None),
    ("+380 44 123 4567", "+380441234567", PhoneType.FIXED_LINE, "UA", None),
    ("+375 29 123-45-67", "+375291234567", PhoneType.MOBILE, "BY", None),
]


@pytest.mark.parametrize(("raw", "e164", "number_type", "region", "extension"), VALID)
def test_valid_notations(raw, e164, number_type, region, extension):
    result = normalize_phone(raw)
    assert result.valid, result.message
    assert (result.e164, result.number_type, result.region, result.extension) == (
        e164,
        number_type,
        region,
        extension,
    )
    assert result.reason is None and result.message is None


INVALID = [
    ("", PhoneProblem.EMPTY),
    ("   ", PhoneProblem.EMPTY),
    (None, PhoneProblem.EMPTY),
    ("нет", PhoneProblem.LETTERS),
    ("8-800-FLOWERS", PhoneProblem.LETTERS),  # libphonenumber would dial the letters
    ("8 916 123-45-67 (Маша)", PhoneProblem.LETTERS),
    ("+7 916 I23-45-67", PhoneProblem.LETTERS),
    ("---", PhoneProblem.NOT_A_NUMBER),
    ("0", PhoneProblem.NOT_A_NUMBER),
    ("12345", PhoneProblem.TOO_SHORT),
    ("+7 916 123 45 6", PhoneProblem.TOO_SHORT),
    ("8916123456789012", PhoneProblem.TOO_LONG),
    ("+7 916 123 45 67 89 01 23 45 67", PhoneProblem.TOO_LONG),
    ("123-45-67", PhoneProblem.LOCAL_ONLY),
    ("+999 123 456 789", PhoneProblem.INVALID_COUNTRY_CODE),
    ("+7 (100) 123-45-67", PhoneProblem.INVALID_NUMBER),
    ("1" * 65, PhoneProblem.TOO_LONG_INPUT),
]


@pytest.mark.parametrize(("raw", "reason"), INVALID)
def test_invalid_phones_have_a_reason(raw, reason):
    result = normalize_phone(raw)
    assert not result.valid
    assert result.reason == reason
    assert result.message
    assert result.e164 is None and result.number_type is None
    assert not result.is_mobile


def test_messages_never_hold_the_whole_number():
    result = normalize_phone("+7 916 123 45 6")
    assert "123" not in (result.message or "")
    assert "***" in (result.message or "")


def test_require_phone_raises_a_typed_masked_error():
    assert require_phone("8 916 123-45-67").e164 == "+79161234567"
    with pytest.raises(InvalidPhone) as caught:
        require_phone("8 916 123-45", field="НомерТелефона")
    error = caught.value
    assert isinstance(error, MappingError)
    assert error.code == "invalid_phone"
    assert error.reason == PhoneProblem.TOO_SHORT
    assert error.field == "НомерТелефона"
    assert "916" not in str(error) and "8***45" in str(error)


def test_is_mobile():
    assert is_mobile("8 916 123-45-67")
    assert is_mobile("+7 701 123 45 67")
    assert not is_mobile("+7 495 123-45-67")
    assert not is_mobile("8 800 555-35-35")
    assert not is_mobile("garbage")
    assert normalize_phone("+1 202 555 0100").is_mobile  # the US plan cannot tell mobile from fixed


def test_default_region_changes_the_reading_of_national_numbers():
    assert normalize_phone("8 701 123 45 67", default_region="KZ").e164 == "+77011234567"
    assert normalize_phone("044 123 4567", default_region="UA").e164 == "+380441234567"


def test_presentation_and_subscriber_number():
    assert display_phone("+79161234567") == "+7 916 123-45-67"
    assert subscriber_number("+79161234567") == "1234567"
    assert subscriber_number("+74951234567") == "1234567"
