"""One-time codes proving a phone: who may get one, how codes are made, kept and checked, the limits."""

from sms.otp.codes import CODE_DIGITS, code_hmac, code_matches, new_code, session_hash
from sms.otp.phones import acceptable_phone
from sms.otp.service import DEFAULT_PURPOSE, CodeRequested, OtpService, VerifiedPhone

__all__ = [
    "CODE_DIGITS",
    "DEFAULT_PURPOSE",
    "CodeRequested",
    "OtpService",
    "VerifiedPhone",
    "acceptable_phone",
    "code_hmac",
    "code_matches",
    "new_code",
    "session_hash",
]
