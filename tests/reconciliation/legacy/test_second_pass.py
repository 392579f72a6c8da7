"""Issue 16, migration items 1–7, each on generated data with the defect planted: auto-merge never
joins strangers, unmerge is exact, a rejected file makes the plan incomplete, re-planning keeps the
hub's cards in the duplicate search, landlines are flagged, a bad optional field keeps its card
(and ``--rows`` imports fixed rows), and a report staff can work from."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from bonusbridge.models import Card, CardBalance, CardMerge, CardStatus, Customer, LegacyCard, Program
from bonusbridge.settings import get_settings
from reconciliation.legacy import report as report_module
from reconciliation.legacy.cli import app
from reconciliation.legacy.synth import generate

AS_OF = "2026-11-30T21:00:00+00:00"

MAPPING = """program: {{code: {code}, name: "Клуб {code}", kind: bonus}}
file: {{format: csv, encoding: utf-8, delimiter: ";", decimal_comma: true}}
columns:
  number: "Номер"
  phone: "Телефон"
  full_name: "ФИО"
  birth_date: "Дата рождения"
  balance: "Баллы"
required: [number]
dates: {{formats: ["%d.%m.%Y"], timezone: Europe/Moscow}}
statuses: {{default: active}}
"""


def export(folder: Path, code: str, rows: list[tuple[str, str, str, str, str]]) -> tuple[Path, Path]:
    """One program's export (UTF-8, ``;``, decimal commas) and its mapping."""
    folder.mkdir(parents=True, exist_ok=True)
    mapping = folder / f"{code}.yaml"
    mapping.write_text(MAPPING.format(code=code), encoding="utf-8")
    data = folder / f"{code}.csv"
    lines = ["Номер;Телефон;ФИО;Дата рождения;Баллы", *(";".join(row) for row in rows)]
    data.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return data, mapping


@pytest.fixture
def runner(db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def plan(runner: CliRunner, out: Path, files: list[Path], mappings: list[Path], *extra: str) -> Path:
    args = ["plan", *map(str, files), "--out", str(out), "--as-of", AS_OF, *extra]
    for mapping in mappings:
        args += ["-m", str(mapping)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def group_sets(plan_dir: Path) -> set[frozenset[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    with (plan_dir / "report.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["kind"] == "phone_group":
                found.setdefault(row["group"], set()).add((row["program"], row["card_number"]))
    return {frozenset(members) for members in found.values()}


def issues(plan_dir: Path) -> list[dict[str, str]]:
    text = (plan_dir / "issues.csv").read_text(encoding="utf-8-sig")
    delimiter = ";" if text.split("\n", 1)[0].count(";") else ","
    return list(csv.DictReader(text.splitlines(), delimiter=delimiter))


def card_state(db: Engine, numbers: list[str]) -> dict[str, tuple[object, ...]]:
    with db.connect() as conn:
        return {
            row.number: (row.status, row.status_reason, row.customer_id, row.is_primary, row.merged_into_id)
            for row in conn.execute(select(Card).where(Card.number.in_(numbers)))
        }


# --------------------------------------------------------------------------- 1. auto-merge guards

GROUPS = [
    # A shop's landline on the cards of three different people.
    ("100", "+7 495 123-45-67", "Иванов Иван", "", "10,00"),
    ("101", "+7 495 123-45-67", "Петров Пётр", "", "20,00"),
    ("102", "+7 495 123-45-67", "Сидоров Олег", "", "30,00"),
    # Same mobile, two different people.
    ("200", "8 916 200-00-01", "Кузнецов Юрий", "", "5,00"),
    ("201", "8 916 200-00-01", "Попов Андрей", "", "5,00"),
    # Same name, different birth dates.
    ("300", "8 916 300-00-01", "Смирнов Алексей", "01.02.1970", "1,00"),
    ("301", "8 916 300-00-01", "Смирнов Алексей", "01.02.1990", "1,00"),
    # Seven cards on one mobile, one name: more than the limit of 5.
    *((f"40{i}", "8 916 400-00-01", "Новиков Николай", "", "1,00") for i in range(7)),
    # One person, two cards (written differently): the only group auto-merge may merge.
    ("500", "8 916 500-00-01", "ВАСИЛЬЕВ  михаил", "", "7,00"),
    ("501", "+7 (916) 500-00-01", "Васильев Михаил", "", "3,00"),
]


def test_auto_merge_never_joins_strangers_and_leaves_them_to_staff_with_the_reason(runner, db, tmp_path):
    data, mapping = export(tmp_path / "in", "shops", GROUPS)
    out = plan(runner, tmp_path / "plan", [data], [mapping])
    report = (out / "report.csv").read_text(encoding="utf-8")
    assert "left to staff" in report and "not a mobile number (fixed_line)" in report
    applied = runner.invoke(app, ["apply", str(out), "--auto-merge", "program=shops", "--merged-by", "olga"])
    assert applied.exit_code == 0, applied.output
    assert "auto-merge: 1 of 5 groups merged" in applied.output, applied.output
    assert "4 left to staff as suggestions" in applied.output
    for reason in (
        "the phone is not a mobile number (fixed_line)",
        "the cards name different people",
        "the cards carry different birth dates",
        "7 cards, more than 5",
    ):
        assert reason in applied.output
    with (out / "auto_merge_suggestions.csv").open(encoding="utf-8-sig") as handle:
        suggested = list(csv.DictReader(handle, delimiter=";"))
    assert {row["card_number"] for row in suggested} == {n for n, *_ in GROUPS if not n.startswith("5")}
    with db.connect() as conn:
        merged = conn.execute(select(CardMerge.id)).all()
        owners = conn.execute(select(Card.number, Card.customer_id)).all()
    assert len(merged) == 1
    assert {number for number, owner in owners if owner is not None} == {"500", "501"}


def test_auto_merge_size_limit_is_a_setting(runner, db, tmp_path, monkeypatch):
    monkeypatch.setenv("BONUSBRIDGE_AUTO_MERGE_MAX_GROUP", "7")
    get_settings.cache_clear()
    data, mapping = export(tmp_path / "in", "shops", [row for row in GROUPS if row[0].startswith("40")])
    out = plan(runner, tmp_path / "plan", [data], [mapping])
    applied = runner.invoke(app, ["apply", str(out), "--auto-merge", "program=shops"])
    assert applied.exit_code == 0 and "auto-merge: 1 of 1 groups merged" in applied.output, applied.output


# --------------------------------------------------------------------------- 2. unmerge is exact


def test_unmerge_restores_every_card_exactly_and_removes_the_customer_the_merge_created(runner, db, tmp_path):
    rows = [
        ("500", "8 916 500-00-01", "Васильев Михаил", "", "7,00"),
        ("501", "8 916 500-00-01", "Васильев Михаил", "", "3,00"),
        ("502", "8 916 500-00-01", "", "", "2,00"),
    ]
    data, mapping = export(tmp_path / "in", "club", rows)
    out = plan(runner, tmp_path / "plan", [data], [mapping])
    applied = runner.invoke(app, ["apply", str(out)])
    assert applied.exit_code == 0, applied.output
    before = card_state(db, ["500", "501", "502"])
    assert {state[0] for state in before.values()} == {CardStatus.ACTIVE}
    merged = runner.invoke(app, ["apply", str(out), "--auto-merge", "group=P1", "--merged-by", "olga"])
    assert merged.exit_code == 0 and "1 of 1 groups merged" in merged.output, merged.output
    during = card_state(db, ["500", "501", "502"])
    assert during != before
    # The merge's primary only accumulates: its new owner's profile has no birth date.
    assert CardStatus.ACCUMULATION_ONLY in {state[0] for state in during.values()}
    log = runner.invoke(app, ["merges"])
    assert log.exit_code == 0 and "olga" in log.output and "in force" in log.output, log.output
    [merge_id] = re.findall(r"^#(\d+) ", log.output, re.M)

    undone = runner.invoke(app, ["unmerge", merge_id, "--by", "olga", "--reason", "not one person"])
    assert undone.exit_code == 0, undone.output
    assert "the customer it created was removed" in undone.output
    assert card_state(db, ["500", "501", "502"]) == before
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Customer)).scalar() == 0
        balances = dict(
            tuple(row)
            for row in conn.execute(
                select(Card.number, CardBalance.total).join(CardBalance, CardBalance.card_id == Card.id)
            )
        )
    assert balances == {"500": Decimal("7.00"), "501": Decimal("3.00"), "502": Decimal("2.00")}
    log = runner.invoke(app, ["merges", "--json"])
    entry = json.loads(log.output.splitlines()[0])
    assert entry["unmerged_by"] == "olga" and entry["customer_id"] is None
    again = runner.invoke(app, ["unmerge", merge_id, "--by", "olga", "--reason", "not one person"])
    assert again.exit_code == 0 and "replayed" in again.output
    refused = runner.invoke(app, ["unmerge", "999", "--by", "olga", "--reason", "x"])
    assert refused.exit_code == 2 and "merge 999 does not exist" in refused.output
    assert "Traceback" not in refused.output


# --------------------------------------------------------------------------- 3. a rejected file


def test_a_file_that_cannot_be_read_makes_the_plan_incomplete_and_apply_refuses_it(runner, db, tmp_path):
    made = generate(tmp_path / "in", programs=3, cards=300, seed=3)
    # legacy01 is cp1251; its mapping now says UTF-8.
    broken = made.mappings[0]
    broken.write_text(broken.read_text(encoding="utf-8").replace("encoding: cp1251", "encoding: utf-8"))
    args = ["plan", *map(str, made.files), "--out", str(tmp_path / "plan"), "--as-of", AS_OF]
    for mapping in made.mappings:
        args += ["-m", str(mapping)]
    planned = runner.invoke(app, args)
    assert planned.exit_code == 3, planned.output
    assert "INCOMPLETE" in planned.output and "legacy01.csv" in planned.output
    header = json.loads((tmp_path / "plan" / "plan.json").read_text(encoding="utf-8"))
    assert header["incomplete"] and header["rejected_files"][0]["file"] == "legacy01.csv"
    assert header["stats"][0]["rejected_files"] == 1 and header["stats"][0]["rejected"] == 0
    for name in ("report.ru.html", "report.en.html"):
        page = (tmp_path / "plan" / name).read_text(encoding="utf-8")
        assert 'class="banner"' in page and "legacy01.csv" in page
    refused = runner.invoke(app, ["apply", str(tmp_path / "plan")])
    assert refused.exit_code == 2 and "--allow-incomplete" in refused.output
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Card)).scalar() == 0
    applied = runner.invoke(app, ["apply", str(tmp_path / "plan"), "--allow-incomplete"])
    assert applied.exit_code == 0, applied.output
    with db.connect() as conn:
        codes = set(conn.execute(select(Program.code)).scalars())
    assert codes == {"legacy02", "legacy03"}  # no empty program for the file not read


# --------------------------------------------------------------------------- 4. re-planning


def test_replanning_after_a_partial_import_finds_the_same_groups(runner, db, tmp_path):
    made = generate(tmp_path / "in", programs=3, cards=3000, share_phone=0.3, seed=11)
    first = plan(runner, tmp_path / "first", made.files, made.mappings)
    groups = group_sets(first)
    assert len(groups) > 100
    # A partial import: the first program only.
    part = plan(runner, tmp_path / "part", made.files[:1], made.mappings[:1])
    assert runner.invoke(app, ["apply", str(part)]).exit_code == 0
    again = plan(runner, tmp_path / "again", made.files, made.mappings)
    assert group_sets(again) == groups
    header = json.loads((again / "plan.json").read_text(encoding="utf-8"))
    assert header["hub_cards_compared"] > 0 and header["stats"][0]["already_present"] > 900
    kinds = [row["severity"] for row in issues(again)]
    assert "already_present" not in kinds and kinds.count("info") == 1


# --------------------------------------------------------------------------- 5. landlines


def test_landlines_and_toll_free_numbers_are_flagged_and_counted(runner, db, tmp_path):
    rows = [
        ("1", "+7 495 123-45-67", "", "", "1,00"),
        ("2", "8 800 555-35-35", "", "", "1,00"),
        ("3", "8 916 123-45-67", "", "", "1,00"),
        ("4", "8 (812) 555-12-12", "", "", "1,00"),
    ]
    data, mapping = export(tmp_path / "in", "club", rows)
    out = plan(runner, tmp_path / "plan", [data], [mapping])
    [stat] = json.loads((out / "plan.json").read_text(encoding="utf-8"))["stats"]
    assert stat["not_mobile"] == {"fixed_line": 2, "toll_free": 1}
    flagged = {row["line"]: row["reason"] for row in issues(out) if row["severity"] == "not_mobile"}
    assert set(flagged) == {"2", "3", "5"} and "not usable for SMS login" in flagged["3"]
    assert "+7 800 555" not in flagged["3"]  # masked
    page = (out / "report.en.html").read_text(encoding="utf-8")
    assert "not usable for SMS login" in page and "toll-free (8-800)" in page and "landline" in page


# --------------------------------------------------------------------------- 6. bad optional fields


def test_a_bad_birth_date_or_a_negative_balance_keeps_the_card(runner, db, tmp_path):
    rows = [
        ("1", "8 916 000-00-01", "Иванов Иван", "31.02.1980", "12,50"),
        ("2", "8 916 000-00-02", "Петров Пётр", "01.01.1980", "-7,25"),
        ("3", "8 916 000-00-03", "", "", "abc"),
    ]
    data, mapping = export(tmp_path / "in", "club", rows)
    out = plan(runner, tmp_path / "plan", [data], [mapping])
    [stat] = json.loads((out / "plan.json").read_text(encoding="utf-8"))["stats"]
    assert (stat["cards"], stat["rejected"], stat["negative"]) == (2, 1, 1)
    assert stat["points"]["negative"] == "-7.25" and stat["points"]["imported"] == "12.50"
    by_line = {row["line"]: row for row in issues(out)}
    assert by_line["2"]["severity"] == "warning" and "birth date not imported" in by_line["2"]["reason"]
    assert by_line["3"]["severity"] == "debt"
    assert runner.invoke(app, ["apply", str(out)]).exit_code == 0
    with db.connect() as conn:
        cards = dict(
            tuple(row)
            for row in conn.execute(
                select(Card.number, CardBalance.total).join(CardBalance, CardBalance.card_id == Card.id)
            )
        )
        births = dict(conn.execute(select(Card.number, LegacyCard.birth_date).join(LegacyCard)).all())
    assert cards == {"1": Decimal("12.50"), "2": Decimal("0.00")}
    assert births["1"] is None and str(births["2"]) == "1980-01-01"

    # The broken row is fixed in the export and imported later by planning just that row.
    rows[2] = ("3", "8 916 000-00-03", "", "", "4,00")
    export(tmp_path / "in", "club", rows)
    fixed = plan(runner, tmp_path / "fixed", [data], [mapping], "--rows", "club.csv:4")
    header = json.loads((fixed / "plan.json").read_text(encoding="utf-8"))
    assert header["cards"] == 1 and header["rows_only"] == {"club.csv": 1}
    assert runner.invoke(app, ["apply", str(fixed)]).exit_code == 0
    with db.connect() as conn:
        total = conn.execute(
            select(CardBalance.total).join(Card, Card.id == CardBalance.card_id).where(Card.number == "3")
        ).scalar()
    assert total == Decimal("4.00")
    bad = runner.invoke(
        app, ["plan", str(data), "-m", str(mapping), "--out", str(tmp_path / "x"), "--rows", "z"]
    )
    assert bad.exit_code == 2 and "not a line number" in bad.output


def test_rows_refused_at_apply_are_imported_later_from_applied_issues(runner, db, tmp_path):
    rows = [("1", "8 916 000-00-01", "", "", "1,00"), ("2", "8 916 000-00-02", "", "", "2,00")]
    data, mapping = export(tmp_path / "in", "club", rows)
    out = plan(runner, tmp_path / "plan", [data], [mapping])
    # Card 2 appears between plan and apply (made by another import, then found to be a mistake).
    other, other_mapping = export(tmp_path / "other", "club", [rows[1]])
    early = plan(runner, tmp_path / "early", [other], [other_mapping])
    assert runner.invoke(app, ["apply", str(early)]).exit_code == 0
    applied = runner.invoke(app, ["apply", str(out)])
    assert applied.exit_code == 0 and "1 cards created, 1 left alone" in applied.output, applied.output
    listed = out / "applied_issues.csv"
    assert "club.csv" in listed.read_text(encoding="utf-8")
    again = plan(runner, tmp_path / "again", [data], [mapping], "--rows", f"@{listed}")
    header = json.loads((again / "plan.json").read_text(encoding="utf-8"))
    assert header["rows_only"] == {"club.csv": 1}
    assert header["stats"][0]["already_present"] == 1  # still there: never overwritten


# --------------------------------------------------------------------------- 7. the report


def test_the_report_balances_points_lists_rows_and_pages_every_group(runner, db, tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "PAGE", 50)
    made = generate(tmp_path / "in", programs=3, cards=3000, bad_rows=30, share_phone=0.3, seed=5)
    out = plan(runner, tmp_path / "plan", made.files, made.mappings)
    header = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    for stat in header["stats"]:
        points = {key: Decimal(value) for key, value in stat["points"].items()}
        parts = ("imported", "expired", "rejected", "duplicates", "already_present", "negative")
        assert points["input"] == sum(points[key] for key in parts), stat["code"]
    assert any(Decimal(s["points"]["negative"]) < 0 for s in header["stats"])
    ru = (out / "report.ru.html").read_text(encoding="utf-8")
    en = (out / "report.en.html").read_text(encoding="utf-8")
    assert "Сверка баллов по программам" in ru and "Reconciliation in points" in en
    assert '<html lang="ru">' in (out / "report.html").read_text(encoding="utf-8")
    assert "NO" not in re.findall(r"<td>(?:yes|NO)", en)
    # Every invalid phone row by row, over the pages.
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    invalid = sum(sum(s["invalid_phones"].values()) for s in header["stats"])
    assert len(report["lists"]["invalid_phone"]) == invalid > 50
    # Every duplicate group, paged, with names and balances.
    groups = report["lists"]["phone"]
    assert len(groups) == header["duplicates"]["phone_groups"] > 100
    last_page = -(-len(groups) // 50)
    page = (out / f"report.en.phone-{last_page}.html").read_text(encoding="utf-8")
    assert groups[-1]["id"] in page
    assert not (out / f"report.en.phone-{last_page + 1}.html").exists()
    named = next(g for g in groups if any(m.get("last_name") for m in g["members"]))
    assert all("balance" in m for m in named["members"])
    # Phones masked in the files; in full only for a reader allowed to see them.
    phone = groups[0]["phone"]
    assert phone not in ru
    assert phone in report_module.main_page(report, "ru", show_phones=True)
    # issues.csv opens in a Russian Excel: UTF-8 with BOM, ";".
    raw = (out / "issues.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfseverity;program;file;line")
    english = plan(runner, tmp_path / "en", made.files, made.mappings, "--lang", "en")
    assert (english / "issues.csv").read_bytes().startswith(b"\xef\xbb\xbfseverity,program")
