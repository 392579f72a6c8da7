"""Which phones may receive a one-time code: valid, mobile, and of a country we send to.

Every code is an SMS we pay for, and SMS pumping (toll fraud) is requesting codes to numbers whose
operator shares the fee with the fraudster. So the refusal happens before anything else, on the
number alone, with libphonenumber's view of it (``mapping.phones``): its region decides the country
(``+7 7xx`` is Kazakh, not Russian), its number type decides whether it can receive SMS.

``FIXED_LINE_OR_MOBILE`` (decision): counts as mobile only if its country is allowed, which the
country check before it guarantees. libphonenumber gives that type to numbers in a mobile range that
the plan shares with fixed lines: all of the US and Canada, most of Denmark, Mexico and India.
Refusing it would refuse the real mobiles of a country we chose to serve, while the allowlist and
the per-phone and global caps already bound what a landline hiding in such a range can cost (an SMS
nobody receives). libphonenumber's Russian metadata tells the two apart: no +7 number has this type.

Checks run in this order: invalid → ``InvalidPhone``; country not in ``sms_allowed_countries`` →
``UnsupportedCountry``; then the type (``LandlinePhone``, ``TollFreePhone``, ``NotMobilePhone``).
"""

from __future__ import annotations

from bonusbridge.privacy import mask_phone
from bonusbridge.settings import Settings
from mapping.phones import PhoneType, normalize_phone
from sms.errors import InvalidPhone, LandlinePhone, NotMobilePhone, TollFreePhone, UnsupportedCountry


def acceptable_phone(raw: str, settings: Settings) -> str:
    """The E.164 form of ``raw`` if a code may be sent to it, else the typed refusal.

    Error details name the phone masked only (they end up in logs and tracebacks).
    """
    result = normalize_phone(raw)
    masked = mask_phone(raw)
    if not result.valid or result.e164 is None:
        raise InvalidPhone(f"phone {masked} is not a valid number")
    allowed = {country.upper() for country in settings.sms_allowed_countries}
    if result.region is None or result.region.upper() not in allowed:
        raise UnsupportedCountry(f"phone {masked} is of region {result.region}, not in {sorted(allowed)}")
    number_type = result.number_type
    if number_type is PhoneType.MOBILE:
        return result.e164
    if number_type is PhoneType.FIXED_LINE_OR_MOBILE:  # allowed country: see the module docs
        return result.e164
    if number_type is PhoneType.FIXED_LINE:
        raise LandlinePhone(f"phone {masked} is a landline")
    if number_type is PhoneType.TOLL_FREE:
        raise TollFreePhone(f"phone {masked} is toll-free")
    raise NotMobilePhone(f"phone {masked} is of type {number_type}, not mobile")
