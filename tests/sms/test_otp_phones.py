"""sms.otp.phones: which phones may get a one-time code (valid, mobile, of an allowed country)."""

from __future__ import annotations

import pytest

from bonusbridge.settings import load_settings
from sms.errors import (
    InvalidPhone,
    LandlinePhone,
    NotMobilePhone,
    SmsError,
    TollFreePhone,
    UnsupportedCountry,
)
from sms.otp import acceptable_phone

DEFAULTS = load_settings()


@pytest.mark.parametrize(
    "raw", ["+7 916 123-45-67", "8 (916) 123-45-67", "89161234567", "79161234567", "9161234567"]
)
def test_a_russian_mobile_in_any_usual_notation_is_accepted_as_e164(raw):
    assert acceptable_phone(raw, DEFAULTS) == "+79161234567"


def test_russia_is_the_only_country_allowed_by_default():
    assert DEFAULTS.sms_allowed_countries == ["RU"]


def test_a_us_mobile_is_refused_by_default_and_accepted_when_the_us_is_allowed():
    with pytest.raises(UnsupportedCountry):
        acceptable_phone("+1 650 253 0000", DEFAULTS)
    allowing_us = load_settings(sms_allowed_countries="RU,US")
    assert acceptable_phone("+1 650 253 0000", allowing_us) == "+16502530000"


def test_fixed_line_or_mobile_counts_as_mobile_in_an_allowed_country():
    """Danish mobiles are FIXED_LINE_OR_MOBILE to libphonenumber: allowing Denmark must let them in."""
    with pytest.raises(UnsupportedCountry):
        acceptable_phone("+45 32 12 34 56", DEFAULTS)
    assert acceptable_phone("+45 32 12 34 56", load_settings(sms_allowed_countries="DK")) == "+4532123456"


@pytest.mark.parametrize("raw", ["+7 701 123 45 67", "8 701 123 45 67", "+7 777 123 45 67"])
def test_a_kazakh_plus_seven_mobile_is_not_russian(raw):
    with pytest.raises(UnsupportedCountry):
        acceptable_phone(raw, DEFAULTS)


def test_a_kazakh_mobile_is_accepted_once_kazakhstan_is_allowed():
    assert (
        acceptable_phone("+7 701 123 45 67", load_settings(sms_allowed_countries="RU,KZ")) == "+77011234567"
    )


def test_a_moscow_landline_is_refused_as_a_landline():
    with pytest.raises(LandlinePhone):
        acceptable_phone("8 495 123-45-67", DEFAULTS)


def test_an_8_800_number_is_refused_as_toll_free():
    with pytest.raises(TollFreePhone):
        acceptable_phone("8 800 555-35-35", DEFAULTS)


@pytest.mark.parametrize(
    ("raw", "countries"),
    [
        ("+7 809 123-45-67", "RU"),  # premium rate
        ("+44 56 1234 5678", "GB"),  # VoIP
        ("+44 70 1234 5678", "GB"),  # personal number
    ],
)
def test_other_non_mobile_types_are_refused_as_not_mobile(raw, countries):
    with pytest.raises(NotMobilePhone) as caught:
        acceptable_phone(raw, load_settings(sms_allowed_countries=countries))
    assert type(caught.value) is NotMobilePhone


@pytest.mark.parametrize(
    "raw", ["", "123", "+7 916 123", "телефон", "+7 916 123-45-67-89-00", "8 000 000 00 00"]
)
def test_an_invalid_phone_is_refused_as_invalid(raw):
    with pytest.raises(InvalidPhone):
        acceptable_phone(raw, DEFAULTS)


def test_the_country_is_checked_before_the_number_type():
    """A foreign landline is 'not our country', not 'a landline': the country is the coarser refusal."""
    with pytest.raises(UnsupportedCountry):
        acceptable_phone("+44 20 7946 0958", DEFAULTS)


@pytest.mark.parametrize(
    "raw", ["8 495 123-45-67", "8 800 555-35-35", "+7 701 123 45 67", "+7 916 123", "+7 809 123-45-67"]
)
def test_a_refusal_names_the_phone_masked_only(raw):
    with pytest.raises(SmsError) as caught:
        acceptable_phone(raw, DEFAULTS)
    digits = "".join(ch for ch in raw if ch.isdigit())
    assert digits[1:] not in str(caught.value)
    assert digits[-4:] not in str(caught.value)
