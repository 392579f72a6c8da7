"""``migrate plan`` on the shipped examples and on bad input: every rejected row is reported with its
file, line and reason, good rows are planned, and the database is not touched."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bonusbridge.models import Card, Program
from reconciliation.legacy.planner import PlanError, esc, make_plan
from tests.reconciliation.legacy.conftest import AS_OF, EXAMPLE_FILES, EXAMPLE_MAPPINGS, MAPPINGS


def _issues(plan: Path) -> list[dict[str, str]]:
    # UTF-8 with BOM and ";" (the default language is Russian: as Excel opens it)
    with (plan / "issues.csv").open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def _cards(plan: Path) -> list[list[str]]:
    return [line.split("\t") for line in (plan / "cards.tsv").read_text(encoding="utf-8").splitlines()]


def test_examples_are_planned_with_every_rejection_reported(tmp_path: Path) -> None:
    result = make_plan(EXAMPLE_FILES, tmp_path / "plan", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF)
    header = result.header
    stats = {s["code"]: s for s in header["stats"]}
    assert {code: (s["rows"], s["cards"], s["rejected"]) for code, s in stats.items()} == {
        "dobrostroy_bonus": (9, 7, 2),
        "stroy_discount": (7, 5, 2),
        "sad_club": (5, 3, 2),
    }
    rejected = {
        (i["file"], int(i["line"])): i["reason"]
        for i in _issues(tmp_path / "plan")
        if i["severity"] == "rejected"
    }
    assert rejected == {
        ("dobrostroy_bonus.csv", 8): "broken opening balance '12,5,0'",
        ("dobrostroy_bonus.csv", 10): "unknown status 'Потеряна'",
        ("stroy_discount.csv", 6): "no conversion rule for a 15.00 % discount",
        ("stroy_discount.csv", 7): "broken turnover '1.2.3'",
        ("sad_club.xlsx", 7): "broken opening balance 'много'",
        ("sad_club.xlsx", 8): "opening balance '12.345' has more than 2 decimals",
    }
    # Nothing silently dropped: every data row is a card, a rejection or a reported warning.
    for s in stats.values():
        assert s["rows"] == s["cards"] + s["rejected"] + s["already_present"]
    warnings = {
        (i["file"], int(i["line"])): i["reason"]
        for i in _issues(tmp_path / "plan")
        if i["severity"] == "warning"
    }
    assert warnings == {
        # an optional field that cannot be read is dropped, the card imported
        (
            "dobrostroy_bonus.csv",
            6,
        ): "broken birth date '31.02.1975' (expected %d.%m.%Y): birth date not imported",
        ("dobrostroy_bonus.csv", 9): "opening balance 40.00 expired on 2020-01-01: not imported",
        ("sad_club.xlsx", 6): "email without '@' or longer than 254 characters: not imported",
    }
    debts = [(i["line"], i["reason"]) for i in _issues(tmp_path / "plan") if i["severity"] == "debt"]
    assert debts == [("7", "negative balance -5.00: imported as 0, the debt is recorded here")]
    points = stats["dobrostroy_bonus"]["points"]
    assert (points["negative"], points["expired"], points["input"]) == ("-5.00", "40.00", "1685.75")
    invalid = [i for i in _issues(tmp_path / "plan") if i["severity"] == "invalid_phone"]
    assert [(i["line"], i["reason"]) for i in invalid] == [("5", "phone ***: letters")]

    cards = {(row[1], row[2]): row for row in _cards(tmp_path / "plan")}
    # cp1251, decimal comma with a thousands space, card number normalized, expiry at the end of the
    # day in Moscow, full name split.
    ivanov = cards[("0", "200000000001")]
    assert ivanov[4:13] == [
        "+79161234567",
        "accumulation_only",
        "1250.50",
        "2027-12-31T21:00:00+00:00",
        "\\N",
        "Иванов",
        "Иван",
        "Иванович",
        "1980-03-12",
    ]
    assert cards[("0", "20000000004")][5] == "blocked"
    # Discount conversion: 5 % → silver + 100; 10 % → gold, 2 % of 250000 and status active;
    # 7 % → 1 % of 15390.50 rounded down.
    assert cards[("1", "D1001")][5:9] == ["accumulation_only", "100.00", "\\N", "silver"]
    assert cards[("1", "D1002")][5:9] == ["active", "5000.00", "\\N", "gold"]
    assert cards[("1", "D1004")][5:9] == ["blocked", "153.90", "\\N", "silver"]
    assert cards[("1", "D1003")][6] == "\\N"  # 3 % → bronze, no points
    # XLSX: numeric cells for card, phone and points; a date cell; title rows above the header.
    assert cards[("2", "5550001")][3:7] == ["79161234567", "+79161234567", "accumulation_only", "480.50"]
    assert cards[("2", "5550001")][12:14] == ["1980-03-12", "ivanov@example.ru"]

    dup = header["duplicates"]
    assert dup == {
        "phone_groups": 2,
        "cards_in_phone_groups": 6,
        "number_groups": 1,
        "cards_in_number_groups": 2,
        "name_conflicts": 1,
        "person_suggestions": 0,
    }
    with (tmp_path / "plan" / "report.csv").open(encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    groups = {(r["kind"], r["group"]) for r in report if r["group"]}
    assert groups == {("phone_group", "P1"), ("phone_group", "P2"), ("number_group", "N1")}
    assert all("+7916" not in r["detail"] for r in report)  # phones masked in reports
    members = [r for r in report if r["group"]]
    # each card under its own header: the export's line number, and the card number as exported
    assert all(r["line"].isdigit() and int(r["line"]) >= 2 and r["card_number"] for r in members)
    shared = [r for r in members if r["kind"] == "number_group"]
    assert shared and all(
        r["detail"] == f"card number {r['card_number']} in several programs" for r in shared
    )


def test_report_html_is_self_contained_with_a_chart(tmp_path: Path) -> None:
    make_plan(EXAMPLE_FILES, tmp_path / "plan", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF)
    page = (tmp_path / "plan" / "report.html").read_text(encoding="utf-8")
    assert "<svg" in page and "<rect" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "разные имена" in page and "Неверные телефоны" in page  # the default language: Russian
    english = (tmp_path / "plan" / "report.en.html").read_text(encoding="utf-8")
    assert "different names" in english and "Invalid phones" in english


def test_planning_writes_nothing_to_the_database(db: Engine, tmp_path: Path) -> None:
    make_plan(EXAMPLE_FILES, tmp_path / "plan", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF, engine=db)
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Card)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(Program)).scalar() == 0


def test_same_person_suggestions_need_name_and_birth_date_and_other_phones(tmp_path: Path) -> None:
    mapping = MAPPINGS / "stroy_discount.yaml"
    data = tmp_path / "stroy_discount.csv"
    data.write_text(
        "CardNo,Phone,LastName,FirstName,Birthday,DiscountPct,Turnover,State\n"
        "A1,+79161110001,Орлова,Ольга,1979-11-02,3,0,active\n"
        "A2,+79161110002,ОРЛОВА,Ольга,1979-11-02,3,0,active\n"
        "A3,+79161110003,Орлова,Ольга,1980-11-02,3,0,active\n"
        "A4,+79161110001,Орлова,Ольга,1979-11-02,3,0,active\n",
        encoding="utf-8",
    )
    result = make_plan([data], tmp_path / "plan", mappings=[mapping], as_of=AS_OF)
    assert result.header["duplicates"]["person_suggestions"] == 1
    assert result.header["duplicates"]["phone_groups"] == 1
    assert result.header["duplicates"]["name_conflicts"] == 0


# ---------------------------------------------------------------------------- bad input


def _copy_example(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copy(EXAMPLE_FILES[[f.name for f in EXAMPLE_FILES].index(name)], target)
    return target


def test_file_in_another_encoding_is_rejected_and_the_others_planned(tmp_path: Path) -> None:
    # The cp1251 export re-saved as UTF-8: cp1251 would decode it into mojibake without an error.
    utf8 = tmp_path / "dobrostroy_bonus.csv"
    utf8.write_text(EXAMPLE_FILES[0].read_bytes().decode("cp1251"), encoding="utf-8")
    # The UTF-8 export re-saved as cp1251: not valid UTF-8 at its first Cyrillic letter (line 2).
    cp = tmp_path / "stroy_discount.csv"
    cp.write_bytes(EXAMPLE_FILES[1].read_bytes().decode("utf-8-sig").encode("cp1251"))
    result = make_plan(
        [utf8, cp, EXAMPLE_FILES[2]], tmp_path / "plan", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF
    )
    issues = {i["file"]: i for i in _issues(tmp_path / "plan") if i["severity"] == "file_rejected"}
    assert "the mapping says cp1251 but the file is UTF-8" in issues["dobrostroy_bonus.csv"]["reason"]
    assert "not valid utf-8-sig" in issues["stroy_discount.csv"]["reason"]
    assert issues["stroy_discount.csv"]["line"] == "2"
    assert {s["code"]: s["cards"] for s in result.header["stats"]}["sad_club"] == 3
    assert {s["file"]: s.get("rejected") for s in result.header["sources"]}["stroy_discount.csv"]


def test_missing_required_column_rejects_the_file(tmp_path: Path) -> None:
    data = tmp_path / "dobrostroy_bonus.csv"
    text = EXAMPLE_FILES[0].read_bytes().decode("cp1251").replace("Остаток баллов", "Баланс")
    data.write_bytes(text.encode("cp1251"))
    result = make_plan([data], tmp_path / "plan", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF)
    (issue,) = _issues(tmp_path / "plan")
    assert issue["severity"] == "file_rejected" and issue["line"] == "1"
    assert issue["reason"] == "missing required column(s): balance ('Остаток баллов')"
    assert result.header["cards"] == 0


def test_short_rows_and_repeated_numbers_are_rejected_by_line(tmp_path: Path) -> None:
    data = tmp_path / "dobrostroy_bonus.csv"
    text = (
        "Номер карты;Телефон;ФИО;Дата рождения;Остаток баллов;Сгорают;Состояние\r\n"
        "111;;;;1,00;;\r\n"
        "\r\n"
        "222;89161234567\r\n"
        '333;;"Многострочное\r\nимя";;2,00;;\r\n'
        "11-1;;;;3,00;;\r\n"
        ";;;;4,00;;\r\n"
        "444;;;;;;\r\n"
    )
    data.write_bytes(text.encode("cp1251"))
    make_plan([data], tmp_path / "plan", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF)
    rejected = [
        (i["line"], i["reason"])
        for i in _issues(tmp_path / "plan")
        if i["severity"] in ("rejected", "duplicate_row")
    ]
    assert rejected == [
        ("4", "2 fields, the header has at least 7"),
        ("7", "card number repeated in the program (first at line 2)"),
        ("8", "no card number"),
        ("9", "required balance is empty"),
    ]
    assert [row[2] for row in _cards(tmp_path / "plan")] == ["111", "333"]
    assert _cards(tmp_path / "plan")[1][9:11] == ["Многострочное", "имя"]  # a quoted newline, normalized


def test_values_are_escaped_for_copy() -> None:
    assert esc("a\tb\\c\nd\re") == "a\\tb\\\\c\\nd\\re"
    assert esc(None) == esc("") == "\\N"


def test_a_file_without_mapping_is_refused(tmp_path: Path) -> None:
    stray = tmp_path / "unknown_program.csv"
    stray.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(PlanError, match="no mapping file"):
        make_plan([stray], tmp_path / "plan", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF)


def test_plan_header_records_sources_and_hash(tmp_path: Path) -> None:
    first = make_plan(EXAMPLE_FILES, tmp_path / "a", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF).header
    again = make_plan(EXAMPLE_FILES, tmp_path / "b", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF).header
    assert first["plan_hash"] == again["plan_hash"]  # same inputs, same plan
    later = make_plan(EXAMPLE_FILES, tmp_path / "c", mappings=EXAMPLE_MAPPINGS).header
    assert later["plan_hash"] != first["plan_hash"]  # another balance date is another plan
    stored = json.loads((tmp_path / "a" / "plan.json").read_text(encoding="utf-8"))
    assert [s["file"] for s in stored["sources"]] == [f.name for f in EXAMPLE_FILES]
    assert all(len(s["sha256"]) == 64 for s in stored["sources"])


def test_parallel_readers_write_the_same_plan(tmp_path: Path) -> None:
    one = make_plan(EXAMPLE_FILES, tmp_path / "one", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF, workers=1)
    two = make_plan(EXAMPLE_FILES, tmp_path / "two", mappings=EXAMPLE_MAPPINGS, as_of=AS_OF, workers=2)
    assert one.header["plan_hash"] == two.header["plan_hash"]
    for name in ("cards.tsv", "issues.csv", "report.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
