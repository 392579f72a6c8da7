"""Phone numbers as cashiers, customers and 20 legacy programs typed them, turned into E.164.

Parsing is libphonenumber's (the ``phonenumbers`` port) with Russia as the default region, so
``8 916 123-45-67``, ``+7 (916) 123-45-67`` and ``9161234567`` all become ``+79161234567``. Three
things are added on top, because of what real data looks like:

- ``007 …`` (the international prefix as dialled from Europe) is accepted: libphonenumber reads the
  ``00`` as part of a Russian national number, and no Russian number starts with 0.
- Extensions (``доб. 12``, ``доп. 12``, ``вн. 12``, ``ext 12``, ``x12``, ``#12``) are cut off
  first, so a letter *left* in the number is an error (``letters``) instead of being dialled as a
  vanity number the way libphonenumber reads ``8-800-FLOWERS``.
- Country +7 is shared: numbers in +7 6xx/7xx are Kazakh. ``region`` says ``KZ`` for them, so the
  SMS gateway and reports do not treat them as Russian.

Invalid input is not an exception here: ``normalize_phone`` returns a result with a reason, because
legacy data is full of bad phones and the callers decide what to do (store the raw text, skip the
customer, ask again). ``require_phone`` raises ``InvalidPhone`` for callers that cannot go on. No
message ever holds the whole number: ``bonusbridge.privacy.mask_phone`` keeps the last two digits.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType, ValidationResult

from bonusbridge.privacy import mask_phone
from mapping.errors import InvalidPhone

DEFAULT_REGION = "RU"

#: An extension marker and its digits at the end of the text: "доб. 12", "ext 12", "x12", "#12".
_EXTENSION = re.compile(
    r"[\s,;]*(?:доб(?:авочный)?|доп|вн|ext(?:ension)?|x|#)\.?\s*:?\s*(?P<digits>\d{1,7})\s*$",
    re.IGNORECASE,
)
_LETTER = re.compile(r"[^\W\d_]")
_MAX_INPUT_LENGTH = 64  # what the hub keeps of a raw phone (cards.phone_raw)


class PhoneProblem(enum.StrEnum):
    """Why a phone was refused: stable codes for reports and the cabinet's error messages."""

    EMPTY = "empty"
    TOO_LONG_INPUT = "too_long_input"
    LETTERS = "letters"
    NOT_A_NUMBER = "not_a_number"
    INVALID_COUNTRY_CODE = "invalid_country_code"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    LOCAL_ONLY = "local_only"
    INVALID_LENGTH = "invalid_length"
    INVALID_NUMBER = "invalid_number"


class PhoneType(enum.StrEnum):
    """libphonenumber's number types, as words. Only ``mobile`` numbers receive SMS for sure."""

    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"


_TYPES = {
    PhoneNumberType.MOBILE: PhoneType.MOBILE,
    PhoneNumberType.FIXED_LINE: PhoneType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: PhoneType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: PhoneType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: PhoneType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: PhoneType.SHARED_COST,
    PhoneNumberType.VOIP: PhoneType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER: PhoneType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER: PhoneType.PAGER,
    PhoneNumberType.UAN: PhoneType.UAN,
    PhoneNumberType.VOICEMAIL: PhoneType.VOICEMAIL,
}

_PARSE_PROBLEMS = {
    NumberParseException.INVALID_COUNTRY_CODE: PhoneProblem.INVALID_COUNTRY_CODE,
    NumberParseException.NOT_A_NUMBER: PhoneProblem.NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: PhoneProblem.TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: PhoneProblem.TOO_SHORT,
    NumberParseException.TOO_LONG: PhoneProblem.TOO_LONG,
}

_POSSIBILITY_PROBLEMS = {
    ValidationResult.INVALID_COUNTRY_CODE: PhoneProblem.INVALID_COUNTRY_CODE,
    ValidationResult.TOO_SHORT: PhoneProblem.TOO_SHORT,
    ValidationResult.TOO_LONG: PhoneProblem.TOO_LONG,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: PhoneProblem.LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH: PhoneProblem.INVALID_LENGTH,
}

_MESSAGES = {
    PhoneProblem.EMPTY: "no phone given",
    PhoneProblem.TOO_LONG_INPUT: f"longer than {_MAX_INPUT_LENGTH} characters",
    PhoneProblem.LETTERS: "contains letters",
    PhoneProblem.NOT_A_NUMBER: "does not look like a phone number",
    PhoneProblem.INVALID_COUNTRY_CODE: "has no valid country code",
    PhoneProblem.TOO_SHORT: "has too few digits",
    PhoneProblem.TOO_LONG: "has too many digits",
    PhoneProblem.LOCAL_ONLY: "is a local number without an area code",
    PhoneProblem.INVALID_LENGTH: "has a number of digits no number of its country has",
    PhoneProblem.INVALID_NUMBER: "is not an assigned number range",
}


@dataclass(frozen=True)
class PhoneResult:
    """The outcome of ``normalize_phone``. ``e164`` is set exactly when ``valid`` is true.

    ``reason``/``message`` explain an invalid phone (the message holds no digits but the masked
    ones). ``number_type`` and ``region`` are reported for valid numbers: a landline is *valid*,
    and it is the SMS layer, not mapping, that refuses to send a code to it.
    """

    valid: bool
    e164: str | None = None
    number_type: PhoneType | None = None
    region: str | None = None
    extension: str | None = None
    reason: PhoneProblem | None = None
    message: str | None = None

    @property
    def is_mobile(self) -> bool:
        """True for numbers that can receive SMS: mobile, or a plan that cannot tell (e.g. the US)."""
        return self.valid and self.number_type in (PhoneType.MOBILE, PhoneType.FIXED_LINE_OR_MOBILE)


def normalize_phone(raw: str | None, default_region: str = DEFAULT_REGION) -> PhoneResult:
    """Parse a phone in any of the usual Russian and international notations (see module docs)."""
    text = " ".join((raw or "").split())  # NBSP, tabs and runs of spaces become one space
    if not text:
        return _invalid(PhoneProblem.EMPTY, raw)
    if len(text) > _MAX_INPUT_LENGTH:
        return _invalid(PhoneProblem.TOO_LONG_INPUT, raw)
    extension = None
    match = _EXTENSION.search(text)
    if match and match.start() > 0:
        extension = match.group("digits")
        text = text[: match.start()]
    if _LETTER.search(text):
        return _invalid(PhoneProblem.LETTERS, raw)
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        return _invalid(_PARSE_PROBLEMS.get(exc.error_type, PhoneProblem.NOT_A_NUMBER), raw)
    possibility = phonenumbers.is_possible_number_with_reason(number)
    if possibility != ValidationResult.IS_POSSIBLE:
        return _invalid(_POSSIBILITY_PROBLEMS.get(possibility, PhoneProblem.INVALID_NUMBER), raw)
    if not phonenumbers.is_valid_number(number):
        return _invalid(PhoneProblem.INVALID_NUMBER, raw)
    return PhoneResult(
        valid=True,
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        number_type=_TYPES.get(phonenumbers.number_type(number), PhoneType.UNKNOWN),
        region=phonenumbers.region_code_for_number(number),
        extension=extension or number.extension or None,
    )


def require_phone(
    raw: str | None, default_region: str = DEFAULT_REGION, *, field: str | None = None
) -> PhoneResult:
    """``normalize_phone``, raising ``InvalidPhone`` (masked message, ``reason``) when invalid."""
    result = normalize_phone(raw, default_region)
    if not result.valid:
        assert result.reason is not None and result.message is not None
        raise InvalidPhone(result.message, reason=result.reason, field=field)
    return result


def is_mobile(raw: str | None, default_region: str = DEFAULT_REGION) -> bool:
    """Whether ``raw`` is a valid number that can receive SMS (see ``PhoneResult.is_mobile``)."""
    return normalize_phone(raw, default_region).is_mobile


def display_phone(e164: str) -> str:
    """The international notation people read, e.g. ``+7 916 123-45-67`` (1C's ``Представление``)."""
    return phonenumbers.format_number(phonenumbers.parse(e164, None), PhoneNumberFormat.INTERNATIONAL)


def subscriber_number(e164: str) -> str:
    """The number without country and area/operator code, e.g. ``1234567`` (``НомерТелефонаБезКодов``)."""
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    return national[phonenumbers.length_of_national_destination_code(number) :]


def _invalid(reason: PhoneProblem, raw: str | None) -> PhoneResult:
    return PhoneResult(valid=False, reason=reason, message=f"phone {mask_phone(raw)} {_MESSAGES[reason]}")
