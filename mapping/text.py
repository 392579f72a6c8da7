"""Control characters in text bound for (or read from) 1C.

1C's exchange serializes objects as XML, and XML 1.0 cannot carry most control characters: one
``\\x07`` pasted into a partner's name makes ``SelectChanges`` fail the *whole* batch with a 400, so
nothing else syncs until someone finds and fixes that one object. The hub therefore never sends
such a character, and treats one arriving from 1C as a typed error naming the field and position
(never the text, which may be personal data).

What counts as a control character: Unicode category ``Cc`` (C0, DEL and C1) except tab and line
feed, plus surrogates and the non-characters U+FFFE/U+FFFF, which XML forbids as well. Carriage
returns are not an error: ``\\r\\n`` (what browsers send from a ``<textarea>``) and a lone ``\\r``
become ``\\n``, the line break 1C itself uses in multi-line strings.
"""

from __future__ import annotations

import enum
import re
import unicodedata

from mapping.errors import ControlCharacter

_ALLOWED = frozenset("\t\n")
#: The same rule as ``is_forbidden_char``, as one pattern: category ``Cc`` is exactly U+0000–U+001F
#: and U+007F–U+009F. A scan per character was a fifth of a sync worker's CPU on receipts.
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


class OnControl(enum.StrEnum):
    """What ``clean_text`` does with a control character."""

    RAISE = "raise"
    STRIP = "strip"


def is_forbidden_char(char: str) -> bool:
    """Whether ``char`` must not reach 1C (see the module docstring for the rule and why)."""
    if char in _ALLOWED:
        return False
    codepoint = ord(char)
    if 0xD800 <= codepoint <= 0xDFFF or codepoint in (0xFFFE, 0xFFFF):
        return True
    return unicodedata.category(char) == "Cc"


def clean_text(text: str, *, on_control: OnControl | str = OnControl.RAISE, field: str | None = None) -> str:
    """``text`` with newlines normalized to ``\\n`` and no control characters.

    ``on_control="raise"`` (the default) raises ``ControlCharacter`` at the first one, so bad data
    is noticed and fixed at its source; ``"strip"`` removes them, for free-text input a person
    typed where silently dropping an invisible character is the kind thing to do.
    """
    mode = OnControl(on_control)
    normalized = _normalize_newlines(text)
    if mode is OnControl.STRIP:
        return _FORBIDDEN.sub("", normalized)
    found = _FORBIDDEN.search(normalized)
    if found is not None:
        char, position = found.group(), found.start()
        where = f"field {field!r}" if field else "text"
        raise ControlCharacter(
            f"{where} contains control character U+{ord(char):04X} at position {position}; "
            "1C would fail the whole exchange batch on it",
            codepoint=ord(char),
            position=position,
            field=field,
        )
    return normalized


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
