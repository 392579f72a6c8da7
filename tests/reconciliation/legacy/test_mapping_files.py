"""Mapping files: the shipped ones load; a broken one is refused with every problem listed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from mapping.legacy.spec import MappingFileError, load_mapping, parse_mapping
from tests.reconciliation.legacy.conftest import EXAMPLE_MAPPINGS


def test_shipped_mappings_load() -> None:
    loaded = {m.code: m for m in map(load_mapping, EXAMPLE_MAPPINGS)}
    assert set(loaded) == {"dobrostroy_bonus", "stroy_discount", "sad_club"}
    bonus = loaded["dobrostroy_bonus"]
    assert (bonus.encoding, bonus.delimiter, bonus.decimal_comma) == ("cp1251", ";", True)
    assert bonus.status_map["заблокирована"] == "blocked"
    discount = loaded["stroy_discount"]
    assert discount.encoding == "utf-8-sig" and discount.kind == "discount"
    rules = {rule.discount: rule for rule in discount.conversions}
    assert rules[Decimal(5)].tier == "silver" and rules[Decimal(5)].balance.fixed == Decimal(100)
    assert rules[Decimal(7)].balance.turnover_percent == Decimal(1)
    assert rules[Decimal(10)].status == "active"
    xlsx = loaded["sad_club"]
    assert (xlsx.format, xlsx.sheet, xlsx.header_row, xlsx.default_tier) == ("xlsx", "Карты", 3, "garden")


def _base() -> dict[str, object]:
    return {
        "program": {"code": "p1", "name": "P1"},
        "file": {"format": "csv", "encoding": "utf-8", "delimiter": ","},
        "columns": {"number": "card", "balance": "points"},
    }


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda m: m["file"].update(encoding="koi8-r"), "file.encoding 'koi8-r' is not one of"),
        (lambda m: m["file"].update(delimiter=";;"), "file.delimiter must be one character"),
        (lambda m: m["columns"].pop("number"), "columns.number (the card number) is required"),
        (lambda m: m["columns"].update(shoe_size="size"), "columns.shoe_size: not a hub field"),
        (lambda m: m.update(required=["number", "phone"]), "required field 'phone' has no column"),
        (lambda m: m.update(statuses={"map": {"x": "frozen"}}), "'frozen' is not one of"),
        (lambda m: m.update(dates={"timezone": "Mars/Olympus"}), "not an IANA zone"),
        (lambda m: m["program"].update(kind="discount"), "a discount program needs conversion rules"),
        (lambda m: m["program"].update(code="Has Spaces"), "program.code must be"),
        (lambda m: m.update(colums={}), "unknown key 'colums'"),
    ],
)
def test_invalid_mapping_is_refused_with_the_reason(change: object, problem: str) -> None:
    raw = _base()
    change(raw)  # type: ignore[operator]
    with pytest.raises(MappingFileError) as info:
        parse_mapping(raw, "m.yaml")
    assert any(problem in text for text in info.value.problems), info.value.problems


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "program: {code: x}\nfile: {encoding: latin-9, format: ods}\ncolumns: {}\n", encoding="utf-8"
    )
    with pytest.raises(MappingFileError) as info:
        load_mapping(path)
    assert len(info.value.problems) >= 3


def test_conversion_rules_need_their_columns() -> None:
    raw = _base()
    raw["program"] = {"code": "d", "kind": "discount"}
    raw["conversion"] = [{"discount": 5, "opening_balance": {"turnover_percent": 1}}]
    with pytest.raises(MappingFileError) as info:
        parse_mapping(raw)
    assert any("needs columns.discount" in p for p in info.value.problems)
    assert any("turnover_percent needs columns.turnover" in p for p in info.value.problems)
