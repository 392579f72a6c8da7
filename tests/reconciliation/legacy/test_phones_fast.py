"""``mapping.phones_fast.fast_phone`` answers exactly as ``mapping.phones.normalize_phone``."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.phones import normalize_phone
from mapping.phones_fast import fast_phone

SHAPES = [
    "8 {a} {b}-{c}-{d}",
    "+7 ({a}) {b}-{c}-{d}",
    "{a}{b}{c}{d}",
    "7{a}{b}{c}{d}",
    "8({a}){b}{c}{d}",
    "+7{a}{b}{c}{d}",
    " 8-{a}-{b}-{c}-{d} ",
    "+8 {a} {b}{c}{d}",
    "{a} {b} {c} {d}",
    "7 {a} {b}{c}{d}",
    "+ 7 {a}{b}{c}{d}",
    "(8{a}){b}{c}{d}",
    "++7{a}{b}{c}{d}",
    "8--{a}{b}{c}{d}",
    "({a}) {b}-{c}-{d}",
    "007 {a} {b}{c}{d}",
    "8 {a} {b}-{c}-{d} доб. 12",
    "+7\u00a0{a}\u00a0{b}{c}{d}",
    "{a}{b}{c}{d}1",
    "8{a}{b}{c}",
]


def _expected(raw: str) -> tuple[str | None, str | None]:
    result = normalize_phone(raw)
    return result.e164, None if result.valid else str(result.reason)


def test_agrees_with_libphonenumber_on_generated_numbers() -> None:
    rng = random.Random(5)
    for _ in range(6000):
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        if rng.random() < 0.6:
            digits = "9" + digits[1:]
        raw = rng.choice(SHAPES).format(a=digits[:3], b=digits[3:6], c=digits[6:8], d=digits[8:])
        assert fast_phone(raw) == _expected(raw), raw


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789 +-()7894x#доб.", max_size=24))
def test_agrees_on_arbitrary_text(raw: str) -> None:
    assert fast_phone(raw) == _expected(raw)
