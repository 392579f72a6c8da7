"""``normalize_phone`` at bulk speed: the same answers, without libphonenumber for common shapes.

A legacy import normalizes a million phones; libphonenumber takes ~50 µs each. Almost all of them
are Russian mobiles written as ``8 916 123-45-67``, ``+7 (916) 123-45-67`` or ``9161234567``.
For exactly those shapes (digits with spaces, dashes and parentheses, a leading ``+7``, ``8`` or
``7``) the answer is computed here from the same metadata libphonenumber validates against (the
Russian mobile pattern); anything else — other countries, landlines, letters, extensions, odd
punctuation — goes through ``mapping.phones.normalize_phone``. Answers are memoized per raw text.
``tests/reconciliation/legacy/test_phones_fast.py`` proves both agree on many generated inputs.
"""

from __future__ import annotations

import re

from phonenumbers import PhoneMetadata

from mapping.phones import normalize_phone

_SHAPE = re.compile(r"\s*\+?[\d\s()\-]+")
_NOT_DIGIT = re.compile(r"\D")
_RU = PhoneMetadata.metadata_for_region("RU")
assert _RU is not None and _RU.mobile is not None and _RU.mobile.national_number_pattern is not None
_MOBILE = re.compile(_RU.mobile.national_number_pattern)

#: (e164, reason) per raw text; bounded so a long run of unique bad phones cannot grow it forever.
_CACHE: dict[str, tuple[str | None, str | None]] = {}
_CACHE_LIMIT = 200_000


def fast_phone(raw: str) -> tuple[str | None, str | None]:
    """``(e164, None)`` for a valid phone, ``(None, reason)`` for an invalid one (a
    ``PhoneProblem`` value), exactly as ``normalize_phone(raw)`` with the Russian default region."""
    if len(raw) <= 64 and _SHAPE.fullmatch(raw):
        plus = raw.lstrip().startswith("+")
        digits = _NOT_DIGIT.sub("", raw)
        national = None
        if plus:
            if len(digits) == 11 and digits[0] == "7":
                national = digits[1:]
        elif (len(digits) == 11 and digits[0] in "78") or len(digits) == 10:
            national = digits[-10:]
        if national is not None and national[0] == "9" and _MOBILE.fullmatch(national):
            return "+7" + national, None
    found = _CACHE.get(raw)
    if found is None:
        result = normalize_phone(raw)
        found = (result.e164, None if result.valid else str(result.reason))
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[raw] = found
    return found
