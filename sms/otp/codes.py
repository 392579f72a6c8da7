"""One-time codes: how they are made, how they are kept (an HMAC only), how a guess is checked.

- A code is ``CODE_DIGITS`` digits from ``secrets`` (a CSPRNG), zero-padded: every value from
  ``000000`` to ``999999`` is equally likely, which is what the brute-force bound assumes.
- The database keeps ``HMAC-SHA256(otp_secret, phone, purpose, code)``, never the code. A plain
  hash of a six-digit code is reversed by trying the million codes; with a server secret it is not,
  and binding phone and purpose makes a hash copied from one phone (or one purpose) useless for
  another.
- Guesses are compared with ``hmac.compare_digest`` (called through the module, so tests can spy on
  it): the time taken does not depend on how many leading characters match.
- A submitted code is tidied (spaces and hyphens dropped, as people type "123 456") and must then be
  exactly six ASCII digits; anything else can never match.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

CODE_DIGITS = 6
CODE_SPACE = 10**CODE_DIGITS
_HMAC_DOMAIN = "bonusbridge-otp-v1"
_SESSION_DOMAIN = "bonusbridge-otp-session-v1"
_WELL_FORMED = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")
_TYPING_NOISE = re.compile(r"[\s\-]")
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,23}")  # fits otp_challenges.purpose, and no separator in it


def new_code() -> str:
    """A fresh code: ``CODE_DIGITS`` digits, uniformly random from the operating system's CSPRNG."""
    return f"{secrets.randbelow(CODE_SPACE):0{CODE_DIGITS}d}"


def check_purpose(purpose: str) -> str:
    """``purpose`` if it is a short snake_case word (it is stored and bound into the HMAC)."""
    if not _PURPOSE.fullmatch(purpose):
        raise ValueError("purpose must be a snake_case word of at most 24 characters")
    return purpose


def code_hmac(secret: str | bytes, phone_e164: str, purpose: str, code: str) -> str:
    """The stored form of ``code`` sent to ``phone_e164`` for ``purpose``: 64 hex characters.

    The fields are joined with a separator none of them can contain (E.164 is ``+`` and digits,
    purposes are snake_case, codes digits), so two different triples never give the same message.
    """
    key = secret.encode() if isinstance(secret, str) else secret
    message = "\n".join((_HMAC_DOMAIN, phone_e164, check_purpose(purpose), code)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def tidy_code(submitted: str) -> str | None:
    """The submitted code without typing noise, or None if it is not ``CODE_DIGITS`` ASCII digits."""
    code = _TYPING_NOISE.sub("", submitted or "")
    return code if _WELL_FORMED.fullmatch(code) else None


def code_matches(
    secret: str | bytes, phone_e164: str, purpose: str, submitted: str, stored_hmac: str
) -> bool:
    """Whether ``submitted`` is the code whose HMAC is ``stored_hmac``, compared in constant time.

    A malformed submission is still hashed and compared (against a value that cannot match), so the
    work done does not tell a malformed guess from a wrong one.
    """
    code = tidy_code(submitted)
    candidate = code_hmac(secret, phone_e164, purpose, code if code is not None else "malformed")
    return hmac.compare_digest(candidate, stored_hmac) and code is not None


def session_hash(secret: str | bytes, session_id: str) -> str:
    """What is stored of a browser session id: an HMAC, so the table cannot be joined to live sessions."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{_SESSION_DOMAIN}\n{session_id}".encode(), hashlib.sha256).hexdigest()
