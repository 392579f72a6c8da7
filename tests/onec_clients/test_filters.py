"""The ``$filter`` builder: literals, escaping, and round trips through the emulator's own parser
(the same dialect rules as 1C's). Hostile values must come back as the very same string value."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.onec.emulator.odata.model import entity_types
from connectors.onec.emulator.odata.query import parse_filter, split_query
from connectors.onec.emulator.odata.values import typed
from connectors.onec.emulator.schema import load_config
from connectors.onec.filters import F, FilterError, Guid, any_of_batches, encode, literal

FIELDS = entity_types(load_config("retail"))["Catalog_Партнеры"].fields
HOSTILE = [
    "O'Brien",
    "' or 1 eq 1",
    "'')--",
    "100%",
    "a&b=c",
    "#hash",
    "a+b",
    "Ёлкин-Палкин",
    "x' or 'a' eq 'a",
    " ",
]
# Text 1C can store: no control characters (refused by the builder) and no surrogates.
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)


def test_literals() -> None:
    assert literal("O'Brien") == "'O''Brien'"
    assert literal(None) == "null" and literal(True) == "true" and literal(False) == "false"
    assert literal(42) == "42" and literal(Decimal("10.50")) == "10.50" and literal(Decimal("1E+2")) == "100"
    assert (
        literal(Guid("10000000-0000-4000-8000-00000000000A")) == "guid'10000000-0000-4000-8000-00000000000a'"
    )
    assert literal(uuid.UUID(int=1)) == "guid'00000000-0000-0000-0000-000000000001'"
    assert literal(datetime(24, 3, 5, 7, 8, 9, 123)) == "datetime'0024-03-05T07:08:09'"
    assert literal(date(2024, 3, 20)) == "datetime'2024-03-20T00:00:00'"


@pytest.mark.parametrize(
    "bad",
    [1.5, Decimal("NaN"), datetime(2024, 1, 1, tzinfo=UTC), "bell\x07", object()],
)
def test_unsafe_values_are_refused(bad: object) -> None:
    with pytest.raises(FilterError):
        literal(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Description eq 'x' or Code", "a b", "1abc", "Ref_Key)", "or", "x;y", ""])
def test_field_names_cannot_inject(name: str) -> None:
    with pytest.raises(FilterError):
        F.eq(name, "x")


def test_bad_guid_is_refused() -> None:
    with pytest.raises(FilterError):
        Guid("10000000-0000-4000-8000-00000000000') or (1 eq 1")


def test_any_of_chains_or_and_combinators_parenthesize() -> None:
    expr = F.any_of("Code", ["1", "2"]) & ~F.eq("DeletionMark", True)
    assert expr.text == "((Code eq '1') or (Code eq '2')) and (not (DeletionMark eq true))"
    assert " in " not in expr.text
    assert F.any_of("Code", ["1"]).text == "Code eq '1'"
    with pytest.raises(FilterError):
        F.any_of("Code", [])


def test_encode_uses_percent_20_and_escapes_separators() -> None:
    encoded = encode("Description eq 'a+b&c#d%e f'")
    assert "+" not in encoded and "&" not in encoded and "#" not in encoded and " " not in encoded
    assert "%20" in encoded and split_query(f"$filter={encoded}")["$filter"] == "Description eq 'a+b&c#d%e f'"


def test_any_of_batches_stay_under_the_limit() -> None:
    refs = [Guid(str(uuid.UUID(int=i))) for i in range(200)]
    batches = list(any_of_batches("Ref_Key", refs, max_encoded=1500))
    assert len(batches) > 1 and all(len(encode(b.text)) <= 1500 for b in batches)
    assert sum(b.text.count(" eq ") for b in batches) == 200


def _matches(expression: str, row: dict[str, object]) -> bool:
    return bool(parse_filter(expression, FIELDS, typed)(row))


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_parse_as_one_literal(value: str) -> None:
    expression = F.eq("Description", value).text
    assert _matches(expression, {"Description": value})
    assert not _matches(expression, {"Description": value + "z"})


@given(TEXT)
def test_any_string_round_trips_through_url_and_parser(value: str) -> None:
    expression = F.eq("Description", value) & F.ne("Code", value + "!")
    received = split_query("$filter=" + encode(expression.text))["$filter"]
    assert received == expression.text == unquote(encode(expression.text))
    assert _matches(received, {"Description": value, "Code": ""})
    assert not _matches(received, {"Description": value + "q", "Code": ""})


@given(TEXT, TEXT)
def test_substringof_round_trips(needle: str, haystack: str) -> None:
    expression = F.substringof(needle, "Description").text
    assert _matches(expression, {"Description": haystack}) == (needle.casefold() in haystack.casefold())


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9))
def test_decimals_round_trip(amount: Decimal) -> None:
    fields = entity_types(load_config("retail"))["Catalog_БонусныеПрограммыЛояльности"].fields
    expression = F.eq("КурсКонвертацииБонусовВВалюту", amount).text
    assert parse_filter(expression, fields, typed)({"КурсКонвертацииБонусовВВалюту": str(amount)})
