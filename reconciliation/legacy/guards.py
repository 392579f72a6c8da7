"""When a group of cards sharing a phone may be merged without a person deciding.

One rule for the plan's report (which groups ``--auto-merge`` would leave to staff, and why) and
for ``migrate apply --auto-merge`` itself (``reconciliation.merges.auto_merge_groups``, which asks
again against the hub's rows, the truth at apply time). A group is **not** merged automatically,
and becomes a suggestion for staff with the reasons, when:

- its phone is not a mobile number (a shop's landline, a toll-free line: strangers share those);
- it has more cards than ``BONUSBRIDGE_AUTO_MERGE_MAX_GROUP`` (default 5);
- its cards name different people: last or first names that disagree after normalization
  (case, ``ё``/``е``, spaces and hyphens), or middle names that both are given and disagree;
- its cards carry different birth dates.

A card without a name or a birth date agrees with any: only what is written can disagree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from mapping.names import normalize_name
from mapping.phones import PhoneType, normalize_phone

DEFAULT_LIMIT = 5
_MOBILE = (PhoneType.MOBILE, PhoneType.FIXED_LINE_OR_MOBILE)
_FOLD = re.compile(r"[\s\-‐-―]+")


@dataclass(frozen=True)
class Person:
    """What a card says about its holder (any part may be missing)."""

    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    birth_date: date | None = None


@lru_cache(maxsize=65_536)
def phone_kind(e164: str) -> str:
    """The number's type as ``mapping.phones.PhoneType`` text (``mobile``, ``fixed_line``,
    ``toll_free``…); ``invalid`` for a number that is not valid."""
    result = normalize_phone(e164)
    if not result.valid:
        return "invalid"
    return str(result.number_type or PhoneType.UNKNOWN)


def is_mobile_kind(kind: str) -> bool:
    return kind in {str(t) for t in _MOBILE}


def sms_usable(e164: str) -> bool:
    """Whether a valid phone can receive the cabinet's login codes (a mobile number)."""
    # Russian numbers starting with 9 are mobile by the metadata's own pattern: no lookup needed.
    return (e164.startswith("+79") and len(e164) == 12) or is_mobile_kind(phone_kind(e164))


def _fold(part: str | None) -> str | None:
    if not part:
        return None
    normalized = normalize_name(part) or part
    folded = _FOLD.sub("", normalized.casefold().replace("ё", "е"))
    return folded or None


def name_conflict(people: Sequence[Person]) -> bool:
    """Whether two of ``people`` carry names that cannot be the same person's."""
    for attribute in ("last_name", "first_name", "middle_name"):
        values = {_fold(getattr(p, attribute)) for p in people} - {None}
        if len(values) > 1:
            return True
    return False


def birth_conflict(people: Sequence[Person]) -> bool:
    return len({p.birth_date for p in people} - {None}) > 1


def refusals(phone: str | None, people: Sequence[Person], *, limit: int = DEFAULT_LIMIT) -> list[str]:
    """Why this group must not be merged without staff (empty: it may be). ``people``: one per card."""
    reasons = []
    if phone is not None and not sms_usable(phone):
        reasons.append(f"the phone is not a mobile number ({phone_kind(phone)})")
    if len(people) > limit:
        reasons.append(f"{len(people)} cards, more than {limit} (BONUSBRIDGE_AUTO_MERGE_MAX_GROUP)")
    if name_conflict(people):
        reasons.append("the cards name different people")
    if birth_conflict(people):
        reasons.append("the cards carry different birth dates")
    return reasons
