"""Russian full names (ФИО): one 1C string ↔ the hub's last, first and middle name.

1C keeps a partner's name as one string, surname first: ``Иванов Иван Иванович``. The hub keeps
three fields, because the cabinet asks for them separately and the required-profile check needs
to know which one is missing. The rules, chosen so that ``split(join(parts)) == parts``:

- Whitespace is collapsed (NBSP included) and spaces around a hyphen are dropped
  (``Петров - Водкин`` → ``Петров-Водкин``). Letter case is kept exactly: ``Мак-Дональд``,
  ``де Голль`` or ``McDonald`` are not ours to "fix".
- Word 1 is the surname, word 2 the first name, the rest the patronymic. Turkic patronymics take
  two words (``Мамед оглы``, ``Алиевна кызы`` …) and fall out of that rule naturally.
- Three words ending in a patronymic suffix (``Рашид Мамед оглы``) are a first name and a
  patronymic without a surname, as such names are written.
- One word is a surname. A first name alone therefore cannot survive a one-string 1C field: it
  comes back as a surname. ``join_full_name`` refuses that case instead of losing it silently
  (``InvalidName``) unless asked not to.
- A part of several words (a double first name ``Анна Мария``, a surname ``де Голль``) that would
  not split back the same way is written with a no-break space (U+00A0) between its words:
  ``Петрова Анна\u00a0Мария``. 1C shows it as a space; ``split_full_name`` splits on the other
  whitespace only, so the part reads back whole. A plain join that reads back the same is kept as
  it is, so ordinary names are written exactly as before.

Latin names follow the same order; 1C installations in Russia store them surname first too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mapping.errors import InvalidName

#: Second word of a two-word Turkic patronymic ("Мамед оглы"), in Cyrillic and transliterated.
PATRONYMIC_SUFFIXES = frozenset(
    {
        "оглы",
        "оглу",
        "улы",
        "уулу",
        "кызы",
        "гызы",
        "кыз",
        "ogly",
        "oglu",
        "uly",
        "uulu",
        "kyzy",
        "qizi",
        "gizi",
    }
)

_HYPHEN = re.compile(r"\s*-\s*")
#: Binds the words of one part inside 1C's one string (see the module docstring).
WORD_JOINER = "\u00a0"
#: Whitespace between parts: any but the word joiner.
_BETWEEN_PARTS = re.compile(r"[^\S\u00a0]+")


@dataclass(frozen=True)
class NameParts:
    last: str | None = None
    first: str | None = None
    middle: str | None = None


def normalize_name(text: str | None) -> str | None:
    """Collapse whitespace and spaces around hyphens; empty becomes None. Case is kept as given."""
    if text is None:
        return None
    collapsed = _HYPHEN.sub("-", " ".join(text.split()))
    return collapsed or None


def split_full_name(text: str | None) -> NameParts:
    """Split ``Фамилия Имя Отчество`` (see the module docstring for the rules)."""
    if text is None:
        return NameParts()
    tokens = _BETWEEN_PARTS.split(_HYPHEN.sub("-", text))
    words = [word for word in (normalize_name(token) for token in tokens) if word]
    if not words:
        return NameParts()
    if len(words) == 3 and _is_suffix(words[2]):
        return NameParts(first=words[0], middle=" ".join(words[1:]))
    if len(words) == 1:
        return NameParts(last=words[0])
    return NameParts(last=words[0], first=words[1], middle=" ".join(words[2:]) or None)


def join_full_name(parts: NameParts, *, strict: bool = True) -> str:
    """``Фамилия Имя Отчество`` from normalized parts; empty parts are left out.

    With ``strict`` (the default) a combination that ``split_full_name`` would read back
    differently raises ``InvalidName``; ``strict=False`` joins anyway, for display.
    """
    last, first, middle = (normalize_name(part) for part in (parts.last, parts.first, parts.middle))
    joined = " ".join(part for part in (last, first, middle) if part)
    if not strict or split_full_name(joined) == NameParts(last, first, middle):
        return joined
    bound = " ".join(part.replace(" ", WORD_JOINER) for part in (last, first, middle) if part)
    if split_full_name(bound) != NameParts(last, first, middle):
        missing = [name for name, part in (("last", last), ("first", first)) if not part]
        raise InvalidName(
            "these name parts would not read back the same from one 1C string"
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + "; send them in separate fields or complete them"
        )
    return bound


def _is_suffix(word: str) -> bool:
    return word.casefold() in PATRONYMIC_SUFFIXES
