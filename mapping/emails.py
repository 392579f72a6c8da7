"""E-mail addresses from 1C's contact information: trimmed and sanity-checked, not "corrected".

Only the domain is lower-cased (it is case-insensitive; the local part formally is not). The check
is deliberately shallow, one ``@``, a dotted domain and no spaces, because the cabinet verifies an
address by sending to it; here we only keep obvious garbage (a phone typed into the e-mail field)
out of the hub.
"""

from __future__ import annotations

import re

from mapping.errors import InvalidEmail

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
MAX_LENGTH = 254


def normalize_email(value: str | None) -> str | None:
    """A trimmed address with a lower-case domain; empty is None; anything else raises ``InvalidEmail``."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_LENGTH or not _EMAIL.fullmatch(text):
        raise InvalidEmail("not an e-mail address (expected name@domain.tld, no spaces)")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"
