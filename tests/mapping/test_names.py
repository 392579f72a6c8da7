"""ФИО: one 1C string ↔ three hub fields, without "fixing" anybody's name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapping.errors import InvalidName
from mapping.names import PATRONYMIC_SUFFIXES, NameParts, join_full_name, normalize_name, split_full_name

SPLITS = [
    ("Иванов Иван Иванович", NameParts("Иванов", "Иван", "Иванович")),
    ("Иванова Мария", NameParts("Иванова", "Мария")),
    ("  Иванов \u00a0 Иван\tИванович  ", NameParts("Иванов", "Иван", "Иванович")),
    ("Римский-Корсаков Николай Андреевич", NameParts("Римский-Корсаков", "Николай", "Андреевич")),
    ("Петров - Водкин Кузьма", NameParts("Петров-Водкин", "Кузьма")),
    ("Мак-Дональд Анна", NameParts("Мак-Дональд", "Анна")),
    ("де Голль Шарль", NameParts("де", "Голль", "Шарль")),  # surname first, one word: documented limit
    ("Алиев Рашид Мамед оглы", NameParts("Алиев", "Рашид", "Мамед оглы")),
    ("Гусейнова Айгюль Ильхам кызы", NameParts("Гусейнова", "Айгюль", "Ильхам кызы")),
    ("Рашид Мамед оглы", NameParts(None, "Рашид", "Мамед оглы")),
    ("Рашид Мамед Оглы", NameParts(None, "Рашид", "Мамед Оглы")),
    ("Smith John", NameParts("Smith", "John")),
    ("O'Brien Mary Kate", NameParts("O'Brien", "Mary", "Kate")),
    ("Иванов", NameParts("Иванов")),
    ("иванов иван", NameParts("иванов", "иван")),  # case is kept as given
    ("", NameParts()),
    ("   ", NameParts()),
    (None, NameParts()),
]


@pytest.mark.parametrize(("text", "parts"), SPLITS)
def test_split(text, parts):
    assert split_full_name(text) == parts


def test_join_collapses_whitespace_and_keeps_case():
    assert join_full_name(NameParts(" Мак-Дональд ", "Анна", None)) == "Мак-Дональд Анна"
    assert join_full_name(NameParts("Петров -Водкин", "Кузьма", "")) == "Петров-Водкин Кузьма"
    assert join_full_name(NameParts("Алиев", "Рашид", "Мамед  оглы")) == "Алиев Рашид Мамед оглы"
    assert join_full_name(NameParts(None, "Рашид", "Мамед оглы")) == "Рашид Мамед оглы"
    assert join_full_name(NameParts()) == ""


@pytest.mark.parametrize(
    "parts",
    [
        NameParts(None, "Иван"),  # would read back as a surname
        NameParts("Иванов", None, "Иванович"),  # the patronymic would become the first name
    ],
)
def test_join_refuses_what_would_not_read_back(parts):
    with pytest.raises(InvalidName) as caught:
        join_full_name(parts)
    assert "Иван" not in str(caught.value) and "Анна" not in str(caught.value)
    assert join_full_name(parts, strict=False)  # display only


@pytest.mark.parametrize(
    ("parts", "onec"),
    [
        (NameParts("Петрова", "Анна Мария"), "Петрова Анна\u00a0Мария"),
        (NameParts("Петрова", "Анна Мария", "Ивановна"), "Петрова Анна\u00a0Мария Ивановна"),
        (NameParts("Ван дер Берг", "Анна"), "Ван\u00a0дер\u00a0Берг Анна"),
    ],
)
def test_a_part_of_several_words_is_bound_by_a_no_break_space(parts, onec):
    """Issue 17 item 1: a double first name round-trips through 1C's one string."""
    assert join_full_name(parts) == onec
    assert split_full_name(onec) == parts


def test_normalize_name():
    assert normalize_name(" Анна  Мария ") == "Анна Мария"
    assert normalize_name("   ") is None
    assert normalize_name(None) is None


_WORD = st.from_regex(r"[А-ЯЁA-Z][а-яёa-z]{1,12}", fullmatch=True).filter(
    lambda word: word.casefold() not in PATRONYMIC_SUFFIXES
)
_PART = st.one_of(_WORD, st.builds(lambda a, b: f"{a}-{b}", _WORD, _WORD))
_MIDDLE = st.one_of(
    st.none(), _PART, st.builds(lambda a, s: f"{a} {s}", _WORD, st.sampled_from(["оглы", "кызы"]))
)


@given(last=_PART, first=_PART, middle=_MIDDLE)
def test_split_join_round_trip(last, first, middle):
    parts = NameParts(last, first, middle)
    assert split_full_name(join_full_name(parts)) == parts
