"""References, amounts and control characters: the small converters under every profile."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bonusbridge.errors import BonusBridgeError
from mapping.amounts import (
    dumps_onec_json,
    from_onec_amount,
    from_onec_int,
    loads_onec_json,
    to_onec_amount,
    to_onec_int,
)
from mapping.emails import normalize_email
from mapping.errors import ControlCharacter, InvalidAmountText, InvalidEmail, InvalidReference, MappingError
from mapping.refs import EMPTY_REF, from_onec_ref, to_onec_ref
from mapping.text import clean_text, is_forbidden_char

GUID = "5f0c7c1e-8a44-11ee-b9d1-0242ac120002"

# --- references -----------------------------------------------------------------------------


def test_references():
    assert from_onec_ref(GUID) == GUID
    assert from_onec_ref(GUID.upper()) == GUID
    assert from_onec_ref(EMPTY_REF) is None
    assert from_onec_ref("") is None
    assert from_onec_ref(None) is None
    assert to_onec_ref(None) == EMPTY_REF
    assert to_onec_ref(GUID.upper()) == GUID


@pytest.mark.parametrize(
    "bad", ["not-a-guid", GUID[:-1], GUID + "0", "{" + GUID + "}", "guid'" + GUID + "'", 42]
)
def test_malformed_references_are_typed_errors(bad):
    with pytest.raises(InvalidReference) as caught:
        from_onec_ref(bad)
    assert caught.value.code == "invalid_reference"
    assert isinstance(caught.value, MappingError) and isinstance(caught.value, BonusBridgeError)


@given(st.uuids())
def test_reference_round_trip(value):
    assert from_onec_ref(to_onec_ref(str(value))) == str(value)


# --- amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (150, "150.00"),
        ("150.5", "150.50"),
        (Decimal("0.1"), "0.10"),
        ("-12.34", "-12.34"),
        (" 7 ", "7.00"),
        ("1.500", "1.50"),
        (Decimal("9999999999999.99"), "9999999999999.99"),
        (0, "0.00"),
    ],
)
def test_amounts_are_exact_with_two_places(value, expected):
    amount = from_onec_amount(value)
    assert isinstance(amount, Decimal)
    assert str(amount) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (0.1, "float"),
        (150.0, "float"),
        (True, "bool"),
        (None, "NoneType"),
        ("1.005", "decimal places"),
        ("abc", "not a decimal"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("10000000000000", "digits before"),
        ("", "not a decimal"),
    ],
)
def test_bad_amounts_are_refused_never_rounded(value, problem):
    with pytest.raises(InvalidAmountText, match=problem):
        from_onec_amount(value)


def test_other_precisions():
    assert str(from_onec_amount("1.2345", places=4)) == "1.2345"  # КурсКонвертацииБонусовВВалюту, 15.4
    with pytest.raises(InvalidAmountText):
        from_onec_amount("1.23456", places=4)


def test_int64_travels_as_a_string():
    assert from_onec_int("1103") == 1103
    assert from_onec_int(7) == 7
    assert to_onec_int(1) == "1"
    for bad in ("1.0", "", "١", True, 1.0):
        with pytest.raises(InvalidAmountText):
            from_onec_int(bad)


def test_json_numbers_stay_exact_both_ways():
    parsed = loads_onec_json('{"Начислено": 0.1, "КСписанию": 150, "LineNumber": "1"}')
    assert parsed["Начислено"] == Decimal("0.1") and isinstance(parsed["Начислено"], Decimal)
    assert from_onec_amount(parsed["Начислено"]) + from_onec_amount("0.2") == Decimal("0.30")
    body = {"Сумма": to_onec_amount(Decimal("0.1")), "Комментарий": 'Бонус "x"', "Флаг": True, "Пусто": None}
    text = dumps_onec_json({**body, "Строки": [{"LineNumber": "1", "Сумма": Decimal("1E+2")}]})
    assert text == (
        '{"Сумма":0.10,"Комментарий":"Бонус \\"x\\"","Флаг":true,"Пусто":null,'
        '"Строки":[{"LineNumber":"1","Сумма":100}]}'
    )
    assert loads_onec_json(text)["Сумма"] == Decimal("0.10")
    with pytest.raises(InvalidAmountText):
        dumps_onec_json({"Сумма": 0.1})


@given(st.decimals(min_value=Decimal("-9999999999999.99"), max_value=Decimal("9999999999999.99"), places=2))
def test_amount_round_trip_through_json(amount):
    text = dumps_onec_json({"Сумма": to_onec_amount(amount)})
    assert from_onec_amount(loads_onec_json(text)["Сумма"]) == amount


# --- control characters ---------------------------------------------------------------------


def test_control_characters_are_a_typed_error_naming_field_and_position():
    with pytest.raises(ControlCharacter) as caught:
        clean_text("Иванов\x07 Иван", field="Description")
    error = caught.value
    assert error.code == "control_character"
    assert (error.field, error.position, error.codepoint) == ("Description", 6, 7)
    assert "U+0007" in str(error) and "Иванов" not in str(error)


def test_clean_text_strips_on_request_and_keeps_tabs_and_newlines():
    assert clean_text("a\x00b\x1fc\x7fd\x85e", on_control="strip") == "abcde"
    assert clean_text("строка 1\r\nстрока 2\rстрока 3\tконец") == "строка 1\nстрока 2\nстрока 3\tконец"
    assert clean_text("") == ""


@pytest.mark.parametrize("char", ["\x00", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x9f", "\ufffe", "\ud800"])
def test_forbidden_characters(char):
    assert is_forbidden_char(char)
    with pytest.raises(ControlCharacter):
        clean_text(f"x{char}y")


@pytest.mark.parametrize("char", ["\t", "\n", " ", "\u00a0", "ё", "€", "\u200b"])
def test_allowed_characters(char):
    assert not is_forbidden_char(char)


# --- e-mail ---------------------------------------------------------------------------------


def test_emails():
    assert normalize_email("  Ivan.Petrov@Example.COM ") == "Ivan.Petrov@example.com"
    assert normalize_email("") is None
    for bad in ("ivan", "ivan@", "@example.com", "ivan@example", "iv an@example.com", "+7 916 123-45-67"):
        with pytest.raises(InvalidEmail) as caught:
            normalize_email(bad)
        assert bad not in str(caught.value)


def test_clean_text_pattern_follows_the_rule_for_every_code_point() -> None:
    """``clean_text`` finds control characters with one pattern; it must agree, code point for
    code point, with ``is_forbidden_char`` (the rule the module states)."""
    from mapping.text import _FORBIDDEN, is_forbidden_char

    disagree = [
        hex(cp) for cp in range(0x110000) if bool(_FORBIDDEN.fullmatch(chr(cp))) != is_forbidden_char(chr(cp))
    ]
    assert disagree == []
    assert clean_text("a\x85b\u2028c", on_control="strip") == "ab\u2028c"
