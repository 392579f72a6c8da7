"""Checking the values of a profile edit before any of them touches the customer.

The cabinet, staff screens and the 1C sync all edit profiles through ``update_profile``; the rules
live here, once. Every value is checked first and the first bad one raises ``InvalidProfileField``
naming the field, so an edit is applied whole or not at all. Messages never quote the value: it is
personal data.

Text must be storable in 1C too: a control character breaks 1C's XML exchange for the whole batch,
so one is refused here rather than discovered by the sync. So is a bidirectional formatting
character (U+202E RIGHT-TO-LEFT OVERRIDE and its kin): it makes "Петрова \u202eairaM" display as
another name at the tills and in every report, and no name needs one. The cabinet's form strips
both kinds before it gets here (``web_cabinet.pages.profile``); staff and API callers are refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from bonusbridge import errors
from bonusbridge.models import Gender
from bonusbridge.settings import PROFILE_FIELDS

#: What ``update_profile`` accepts: the profile fields, plus the contact fields.
EDITABLE_FIELDS = frozenset(PROFILE_FIELDS | {"phone_e164", "email"})

MAX_TEXT_LENGTH = 100  # the String(100) columns of customers
MAX_EMAIL_LENGTH = 254
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

#: Bidirectional formatting characters: embeddings, overrides, isolates and the invisible marks.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


def clean_changes(changes: Mapping[str, Any], *, today: date) -> dict[str, Any]:
    """The changes with each value checked and normalized; raises at the first bad field.

    ``today`` is the latest acceptable birth date.
    """
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if not isinstance(field, str) or field not in EDITABLE_FIELDS:
            raise errors.UnknownProfileField(str(field))
        cleaned[field] = _CLEANERS[field](field, value, today)
    return cleaned


def _text(field: str, value: Any, _today: date) -> str | None:
    """A name or a city: a string, stripped, at most 100 characters; empty means "not given"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InvalidProfileField(field, f"must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_TEXT_LENGTH:
        raise errors.InvalidProfileField(field, f"is longer than {MAX_TEXT_LENGTH} characters")
    _refuse_control_characters(field, text)
    return text


def _birth_date(field: str, value: Any, today: date) -> date | None:
    if value is None:
        return None
    # A datetime is a date too, but a birth "instant" is a caller's bug (and a time zone trap).
    if not isinstance(value, date) or isinstance(value, datetime):
        raise errors.InvalidProfileField(field, f"must be a date, not {type(value).__name__}")
    if value > today:
        raise errors.InvalidProfileField(field, "is in the future")
    if value < EARLIEST_BIRTH_DATE:
        raise errors.InvalidProfileField(field, f"is before {EARLIEST_BIRTH_DATE.isoformat()}")
    return value


def _gender(field: str, value: Any, _today: date) -> Gender | None:
    if value is None or isinstance(value, Gender):
        return value
    if isinstance(value, str):
        try:
            return Gender(value)
        except ValueError:
            pass
    raise errors.InvalidProfileField(field, f"must be one of {sorted(member.value for member in Gender)}")


def _email(field: str, value: Any, _today: date) -> str | None:
    """Trimmed, domain lower-cased (the local part is formally case-sensitive); empty is None.

    Plausible, not verified: one ``@``, a dotted domain, no spaces. The cabinet proves an address
    by writing to it."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InvalidProfileField(field, f"must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(text):
        raise errors.InvalidProfileField(field, "is not an e-mail address (expected name@domain.tld)")
    _refuse_control_characters(field, text)
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _phone(field: str, value: Any, _today: date) -> str | None:
    """A phone in E.164 exactly (``+79161234567``): parsing people's notations is the caller's job."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InvalidProfileField(field, f"must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, None)
    except NumberParseException:
        raise errors.InvalidProfileField(field, "is not a phone number in E.164 form") from None
    if not phonenumbers.is_valid_number(number) or (
        phonenumbers.format_number(number, PhoneNumberFormat.E164) != text
    ):
        raise errors.InvalidProfileField(field, "is not a valid phone number in E.164 form (+<digits>)")
    return text


def _consent(field: str, value: Any, _today: date) -> bool:
    # bool only: 0/1 or "yes" would make a consent out of something that was not one.
    if not isinstance(value, bool):
        raise errors.InvalidProfileField(field, "must be true or false")
    return value


def _refuse_control_characters(field: str, text: str) -> None:
    for position, char in enumerate(text):
        codepoint = ord(char)
        if unicodedata.category(char) in ("Cc", "Cs") or codepoint in (0xFFFE, 0xFFFF):
            raise errors.InvalidProfileField(
                field, f"contains control character U+{codepoint:04X} at position {position}"
            )
        if char in BIDI_CONTROLS:
            raise errors.InvalidProfileField(
                field, f"contains bidirectional formatting character U+{codepoint:04X} at position {position}"
            )


_CLEANERS: dict[str, Callable[[str, Any, date], Any]] = {
    "last_name": _text,
    "first_name": _text,
    "middle_name": _text,
    "city": _text,
    "birth_date": _birth_date,
    "gender": _gender,
    "email": _email,
    "marketing_consent": _consent,
    "phone_e164": _phone,
}
assert set(_CLEANERS) == EDITABLE_FIELDS, "every editable field needs its check"
