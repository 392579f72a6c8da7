"""The plan's reports, for the staff who work through them.

- ``report.csv`` — one row per finding (programs, invalid phones by reason, every group's cards);
  ``reconciliation.merges.phone_groups_of_plan`` reads the phone groups back from it.
- ``report.json`` — everything the pages show, with full phones: the source of the pages here and
  of the staff pages (``/staff/imports/plan/{hash}``), which show full phones only to the roles
  allowed to see them. It sits beside ``cards.tsv``, which holds the same phones.
- ``report.ru.html`` and ``report.en.html`` (``report.html`` is the plan's language): the banner of
  an incomplete plan, the files, the per-program **reconciliation sheet in points** (input =
  imported + expired + rejected + duplicate rows + already in the hub + negative, each with its
  total), the chart of duplicates per program, and the first page of every list; each list goes
  on in pages of ``PAGE`` (``report.<lang>.<list>-<n>.html``): the rows with an invalid phone, a
  landline or toll-free phone, or a negative balance, one by one with the reason, and every
  duplicate group with its cards' names, birth dates and balances and, for phone groups, whether
  ``--auto-merge`` may merge it or why it is left to staff. Phones are masked in these files.

Self-contained pages: inline CSS and SVG, no scripts, nothing fetched.
"""

from __future__ import annotations

import csv
import html
import json
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal

from bonusbridge.privacy import mask_name, mask_phone
from reconciliation.legacy.guards import Person, refusals

#: Rows per page of each list.
PAGE = 500
LANGS = ("ru", "en")
#: Kept for callers that spoke of the old single page's cut-off.
HTML_LIMIT = PAGE

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Legacy import plan",
        "intro": "Plan {hash}, opening balances as of {as_of}: {cards} cards to create in {batches} batches, "
        "{issues} issues (issues.csv: every row with its file, line and reason). Duplicates are not "
        "merged at import unless staff ask for it (--auto-merge); customers choose in the cabinet.",
        "hub": "{hub} cards already in the hub took part in the duplicate search.",
        "incomplete": "INCOMPLETE PLAN: {n} file(s) could not be read and none of their rows is planned. "
        "Fix the file or its mapping and plan again; migrate apply refuses this plan unless given "
        "--allow-incomplete.",
        "rows_only": "Plan of selected rows only (--rows): {rows}.",
        "files": "Files",
        "file": "file",
        "program": "program",
        "sha": "sha256",
        "rejected_file": "could not be read",
        "sheet": "Reconciliation in points, per program",
        "sheet_note": "input = imported + expired + rejected + duplicate rows + already in the hub + "
        "negative (debts, imported as 0). Rows whose points could not be read are counted apart.",
        "input": "input",
        "imported": "imported",
        "expired": "expired",
        "rejected": "rejected",
        "duplicates": "duplicate rows",
        "present": "already in the hub",
        "negative": "negative (debt)",
        "check": "balanced",
        "unreadable": "rows, points unreadable",
        "total": "total",
        "yes": "yes",
        "no": "NO",
        "programs": "Programs",
        "name": "name",
        "kind": "kind",
        "rows": "rows",
        "cards": "cards",
        "rejected_rows": "rejected rows",
        "warnings": "warnings",
        "with_balance": "with balance",
        "no_phone": "no phone",
        "invalid_phones": "invalid phones",
        "not_mobile": "landline / toll-free",
        "sharing": "sharing a phone",
        "number_other": "number in other programs",
        "chart": "Duplicates per program",
        "summary": "{phone_groups} phones shared by {cards_in_phone_groups} cards ({name_conflicts} with "
        "different names); {number_groups} card numbers in several programs ({cards_in_number_groups} "
        "cards); {person_suggestions} possible same-person groups (same name and birth date, different "
        "phones: suggestions only).",
        "list_invalid_phone": "Invalid phones, row by row",
        "list_not_mobile": "Landline and toll-free phones: valid, not usable for SMS login",
        "list_debt": "Negative balances: imported as 0, the debt recorded here",
        "list_phone": "Cards sharing a phone",
        "list_number": "Card numbers in several programs",
        "list_person": "Possibly the same person",
        "line": "line",
        "number": "card number",
        "phone": "phone",
        "reason": "reason",
        "amount": "points",
        "group": "group",
        "members": "cards",
        "birth": "born",
        "balance": "points",
        "status": "status",
        "auto_merge": "auto-merge",
        "auto_ok": "may be merged",
        "auto_no": "left to staff: {reasons}",
        "names_differ": "different names",
        "hub_card": "in the hub",
        "page": "page {n} of {of}",
        "pages": "Pages",
        "more": "{n} in all; the rest on the next pages.",
        "none": "none",
        "other_lang": "По-русски",
    },
    "ru": {
        "title": "План импорта старых программ",
        "intro": "План {hash}, остатки на {as_of}: будет создано карт — {cards} (пакетов: {batches}), "
        "замечаний — {issues} (issues.csv: каждая строка с файлом, номером строки и причиной). "
        "Дубликаты при импорте не объединяются, если сотрудник не попросил (--auto-merge): клиент "
        "выбирает в личном кабинете.",
        "hub": "В поиске дубликатов участвовали карты, уже загруженные в хаб: {hub}.",
        "incomplete": "ПЛАН НЕПОЛНЫЙ: файлов, которые не удалось прочитать, — {n}; ни одна их строка не "
        "вошла в план. Исправьте файл или его описание и составьте план заново; migrate apply не "
        "применит этот план без --allow-incomplete.",
        "rows_only": "План только выбранных строк (--rows): {rows}.",
        "files": "Файлы",
        "file": "файл",
        "program": "программа",
        "sha": "sha256",
        "rejected_file": "не прочитан",
        "sheet": "Сверка баллов по программам",
        "sheet_note": "на входе = загружено + сгорело + отклонено + повторные строки + уже в хабе + "
        "отрицательные (долги, загружены как 0). Строки, баллы которых не прочитать, считаются отдельно.",
        "input": "на входе",
        "imported": "загружено",
        "expired": "сгорело",
        "rejected": "отклонено",
        "duplicates": "повторные строки",
        "present": "уже в хабе",
        "negative": "отрицательные (долг)",
        "check": "сходится",
        "unreadable": "строк, баллы не прочитать",
        "total": "итого",
        "yes": "да",
        "no": "НЕТ",
        "programs": "Программы",
        "name": "название",
        "kind": "вид",
        "rows": "строк",
        "cards": "карт",
        "rejected_rows": "отклонено строк",
        "warnings": "предупреждений",
        "with_balance": "с баллами",
        "no_phone": "без телефона",
        "invalid_phones": "неверных телефонов",
        "not_mobile": "городских / 8-800",
        "sharing": "с общим телефоном",
        "number_other": "номер в других программах",
        "chart": "Дубликаты по программам",
        "summary": "Телефонов, общих для нескольких карт: {phone_groups} (карт: {cards_in_phone_groups}, "
        "с разными именами: {name_conflicts}); номеров карт в нескольких программах: {number_groups} "
        "(карт: {cards_in_number_groups}); возможно один человек (то же имя и дата рождения, разные "
        "телефоны, только предложение): {person_suggestions}.",
        "list_invalid_phone": "Неверные телефоны, построчно",
        "list_not_mobile": "Городские и бесплатные (8-800) номера: верные, но вход по SMS невозможен",
        "list_debt": "Отрицательные остатки: загружены как 0, долг записан здесь",
        "list_phone": "Карты с общим телефоном",
        "list_number": "Номера карт в нескольких программах",
        "list_person": "Возможно, один человек",
        "line": "строка",
        "number": "номер карты",
        "phone": "телефон",
        "reason": "причина",
        "amount": "баллы",
        "group": "группа",
        "members": "карты",
        "birth": "дата рождения",
        "balance": "баллы",
        "status": "статус",
        "auto_merge": "автообъединение",
        "auto_ok": "можно объединить",
        "auto_no": "решает сотрудник: {reasons}",
        "names_differ": "разные имена",
        "hub_card": "уже в хабе",
        "page": "страница {n} из {of}",
        "pages": "Страницы",
        "more": "Всего: {n}; остальные на следующих страницах.",
        "none": "нет",
        "other_lang": "In English",
    },
}
REASONS_RU = {
    "the phone is not a mobile number": "телефон не мобильный",
    "more than": "больше чем",
    "cards,": "карт,",
    "the cards name different people": "на картах разные люди",
    "the cards carry different birth dates": "на картах разные даты рождения",
}


#: A phone's problem or number type (``mapping.phones``' codes) in words, per language.
PHONE_WORDS = {
    "en": {
        "empty": "empty",
        "too_long_input": "far too long",
        "letters": "has letters",
        "not_a_number": "not a phone number",
        "invalid_country_code": "unknown country code",
        "too_short": "too short",
        "too_long": "too long",
        "local_only": "local number without its area code",
        "invalid_length": "wrong length",
        "invalid_number": "no such number",
        "fixed_line": "landline",
        "fixed_line_or_mobile": "landline or mobile",
        "toll_free": "toll-free (8-800)",
        "premium_rate": "premium rate",
        "shared_cost": "shared cost",
        "voip": "internet telephony",
        "unknown": "unknown type",
    },
    "ru": {
        "empty": "пусто",
        "too_long_input": "слишком длинная строка",
        "letters": "есть буквы",
        "not_a_number": "не номер телефона",
        "invalid_country_code": "неизвестный код страны",
        "too_short": "слишком короткий",
        "too_long": "слишком длинный",
        "local_only": "местный номер без кода города",
        "invalid_length": "неверная длина",
        "invalid_number": "такого номера нет",
        "fixed_line": "городской",
        "fixed_line_or_mobile": "городской или мобильный",
        "toll_free": "бесплатный (8-800)",
        "premium_rate": "платный",
        "shared_cost": "с разделённой оплатой",
        "voip": "IP-телефония",
        "unknown": "тип неизвестен",
    },
}


def phone_reason(code: str, lang: str) -> str:
    """A phone's problem or type in words; a code it does not know is shown as it is."""
    return PHONE_WORDS.get(lang, PHONE_WORDS["en"]).get(code, code)


def format_points(value: Decimal | str | None, lang: str) -> str:
    """Points for people, by Babel in ``lang``'s style ("1 234,50", "1,234.50"), as the cabinet and
    the staff pages format them (``web_cabinet.formats.points``)."""
    amount = Decimal(0) if value is None else Decimal(value)
    return str(format_decimal(amount, format="#,##0.00", locale=lang))


def format_count(value: int, lang: str) -> str:
    return str(format_decimal(value, format="#,##0", locale=lang))


@dataclass
class ReportData:
    header: dict[str, Any]
    groups: dict[str, Any]
    codes: list[str]
    seq_number: list[str]
    seq_program: array[int]
    seq_line: array[int]
    seq_source: array[int]
    sources: list[dict[str, Any]]
    details: dict[int, Any]
    hub: dict[int, Any]
    listed: list[tuple[str, str, str, int, str, str, str]]
    merge_limit: int


def _member(data: ReportData, seq: int) -> dict[str, Any]:
    hub = data.hub.get(seq)
    info = hub if hub is not None else data.details.get(seq)
    source = data.seq_source[seq]
    member: dict[str, Any] = {
        "program": data.codes[data.seq_program[seq]],
        "file": "" if hub is not None else data.sources[source]["file"],
        "line": None if hub is not None else data.seq_line[seq],
        "number": data.seq_number[seq],
        "hub": hub is not None,
    }
    if info is not None:
        member.update(
            phone=info.phone,
            last_name=info.last_name,
            first_name=info.first_name,
            middle_name=info.middle_name,
            birth_date=info.birth_date.isoformat() if info.birth_date else None,
            balance=str(info.balance),
            status=info.status,
        )
    return member


def _person(member: dict[str, Any]) -> Person:
    from datetime import date

    birth = member.get("birth_date")
    return Person(
        member.get("last_name"),
        member.get("first_name"),
        member.get("middle_name"),
        date.fromisoformat(birth) if birth else None,
    )


def build(data: ReportData) -> dict[str, Any]:
    """The report's content (``report.json``)."""
    groups = data.groups
    conflicts = {phone for phone, _ in groups["conflicts"]}
    phone_groups = []
    for index, (phone, seqs) in enumerate(groups["phone"], 1):
        members = [_member(data, seq) for seq in seqs]
        phone_groups.append(
            {
                "id": f"P{index}",
                "phone": phone,
                "names_differ": phone in conflicts,
                "auto_merge": refusals(phone, [_person(m) for m in members], limit=data.merge_limit),
                "members": members,
            }
        )
    number_groups = [
        {"id": f"N{index}", "number": number, "members": [_member(data, seq) for seq in seqs]}
        for index, (number, seqs) in enumerate(groups["number"], 1)
    ]
    suggestions = [
        {"id": f"S{index}", "members": [_member(data, seq) for seq in seqs]}
        for index, seqs in enumerate(groups["suggestions"], 1)
    ]
    listed: dict[str, list[dict[str, Any]]] = {"invalid_phone": [], "not_mobile": [], "debt": []}
    for kind, program, file, line, number, phone, reason in data.listed:
        listed[kind].append(
            {
                "program": program,
                "file": file,
                "line": line,
                "number": number,
                "phone": phone,
                "reason": reason,
            }
        )
    return {
        "header": data.header,
        "lists": {
            **listed,
            "phone": phone_groups,
            "number": number_groups,
            "person": suggestions,
        },
    }


def write_reports(out: Path, data: ReportData) -> None:
    report = build(data)
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    _write_csv(out / "report.csv", report)
    lang = data.header.get("lang", "ru")
    for each in LANGS:
        for name, text in pages(report, each, show_phones=False).items():
            (out / name).write_text(text, encoding="utf-8")
    (out / "report.html").write_text(
        (out / f"report.{lang}.html").read_text(encoding="utf-8"), encoding="utf-8"
    )


def _write_csv(path: Path, report: dict[str, Any]) -> None:
    header = report["header"]
    lists = report["lists"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "group", "program", "file", "card_number", "line", "detail"])
        for stat in header["stats"]:
            writer.writerow(["program", "", stat["code"], " ".join(stat["files"]), "", "", _stat_text(stat)])
            for reason, count in sorted(stat["invalid_phones"].items()):
                writer.writerow(["invalid_phones", "", stat["code"], "", "", "", f"{reason}: {count}"])
            for kind, count in sorted(stat.get("not_mobile", {}).items()):
                writer.writerow(["not_mobile_phones", "", stat["code"], "", "", "", f"{kind}: {count}"])

        def row(kind: str, group: str, member: dict[str, Any], detail: str) -> None:
            writer.writerow(
                [
                    kind,
                    group,
                    member["program"],
                    member["file"] or "(hub)",
                    member["number"],
                    member["line"] if member["line"] is not None else "",
                    detail,
                ]
            )

        for group in lists["phone"]:
            detail = f"phone {mask_phone(group['phone'])}" + (
                " (different names)" if group["names_differ"] else ""
            )
            if group["auto_merge"]:
                detail += "; auto-merge: left to staff (" + "; ".join(group["auto_merge"]) + ")"
            for member in group["members"]:
                row("phone_group", group["id"], member, detail)
        for group in lists["number"]:
            for member in group["members"]:
                row("number_group", group["id"], member, f"card number {group['number']} in several programs")
        for group in lists["person"]:
            for member in group["members"]:
                row("same_person_suggestion", group["id"], member, "same name and birth date")


def _stat_text(stat: dict[str, Any]) -> str:
    points = stat.get("points", {})
    return (
        f"rows {stat['rows']}, cards {stat['cards']}, rejected {stat['rejected']}, "
        f"rejected files {stat.get('rejected_files', 0)}, duplicate rows {stat.get('duplicate_rows', 0)}, "
        f"warnings {stat['warnings']}, already present {stat['already_present']}, "
        f"with balance {stat['with_balance']} ({stat['balance']} points), "
        f"no phone {stat['no_phone']}, invalid phones {sum(stat['invalid_phones'].values())}, "
        f"not mobile {sum(stat.get('not_mobile', {}).values())}, negative {stat.get('negative', 0)}, "
        f"sharing a phone {stat['in_phone_groups']}, number in other programs {stat['in_number_groups']}; "
        f"points: input {points.get('input')} = imported {points.get('imported')} + expired "
        f"{points.get('expired')} + rejected {points.get('rejected')} + duplicates "
        f"{points.get('duplicates')} + already present {points.get('already_present')} + negative "
        f"{points.get('negative')}"
    )


# --------------------------------------------------------------------------- pages


SHEET = ("imported", "expired", "rejected", "duplicates", "already_present", "negative")
_SHEET_LABEL = {"already_present": "present"}
LISTS = ("invalid_phone", "not_mobile", "debt", "phone", "number", "person")


def page_name(lang: str, kind: str | None = None, number: int = 1) -> str:
    return f"report.{lang}.html" if kind is None else f"report.{lang}.{kind}-{number}.html"


def _reasons(reasons: list[str], lang: str) -> str:
    if lang != "ru":
        return "; ".join(reasons)
    out = []
    for reason in reasons:
        for en, ru in REASONS_RU.items():
            reason = reason.replace(en, ru)
        out.append(reason)
    return "; ".join(out)


def pages(
    report: dict[str, Any],
    lang: str,
    *,
    show_phones: bool,
    link: Any = page_name,
) -> dict[str, str]:
    """Every page of the report in ``lang``: name → HTML. ``show_phones``: full phones (for the
    staff roles allowed to see them) instead of masked ones. ``link(lang, kind, n)`` names a page."""
    out = {link(lang): main_page(report, lang, show_phones=show_phones, link=link)}
    for kind in LISTS:
        rows = report["lists"][kind]
        count = max(1, -(-len(rows) // PAGE))
        for number in range(2, count + 1):
            out[link(lang, kind, number)] = list_page(
                report, lang, kind, number, show_phones=show_phones, link=link
            )
    return out


def _style() -> str:
    return (
        "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#eee}"
        "td.n{text-align:right;white-space:nowrap}.banner{background:#fde2e1;border:2px solid #c0504d;"
        "padding:1em;font-weight:bold}.bad{color:#c0504d;font-weight:bold}</style>"
    )


def _page(lang: str, title: str, body: str) -> str:
    e = html.escape
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"{_style()}</head><body>\n{body}\n</body></html>\n"
    )


def _phone(phone: str | None, show: bool) -> str:
    if not phone:
        return ""
    return html.escape(phone if show else mask_phone(phone))


def _list_table(report: dict[str, Any], lang: str, kind: str, number: int, show: bool) -> str:
    t = TEXTS[lang]
    e = html.escape
    rows = report["lists"][kind][(number - 1) * PAGE : number * PAGE]
    if not rows:
        return f"<p>{t['none']}</p>"
    if kind in ("invalid_phone", "not_mobile", "debt"):
        last = t["amount"] if kind == "debt" else t["reason"]
        head = [
            t["program"],
            t["file"],
            t["line"],
            t["number"],
            *([] if kind == "debt" else [t["phone"]]),
            last,
        ]
        body = []
        for r in rows:
            cells = [e(r["program"]), e(r["file"]), f'<td class="n">{r["line"]}', e(r["number"])]
            if kind != "debt":
                cells.append(_phone(r["phone"], show))
                cells.append(e(phone_reason(str(r["reason"]), lang)))
            else:
                cells.append(f'<td class="n">{e(format_points(r["reason"], lang))}')
            body.append("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}" for c in cells) + "</tr>")
        return _table(head, body)
    head = [t["group"], *([t["phone"], t["auto_merge"]] if kind == "phone" else []), t["members"]]
    body = []
    for group in rows:
        cells = [e(group["id"])]
        if kind == "phone":
            extra = f" ({t['names_differ']})" if group["names_differ"] else ""
            cells.append(_phone(group["phone"], show) + e(extra))
            if group["auto_merge"]:
                why = t["auto_no"].format(reasons=_reasons(group["auto_merge"], lang))
                cells.append(f'<span class="bad">{e(why)}</span>')
            else:
                cells.append(e(t["auto_ok"]))
        cells.append(_members(group["members"], lang, show))
        body.append("<tr>" + "".join(f"<td>{c}" for c in cells) + "</tr>")
    return _table(head, body)


def _members(members: list[dict[str, Any]], lang: str, show: bool) -> str:
    t = TEXTS[lang]
    e = html.escape
    rows = []
    for m in members:
        names = [m.get("last_name"), m.get("first_name"), m.get("middle_name")]
        name = " ".join(part if show else mask_name(part) for part in names if part)
        where = t["hub_card"] if m["hub"] else f"{m['file']}:{m['line']}"
        rows.append(
            f"<tr><td>{e(m['program'])}<td>{e(m['number'])}<td>{e(where)}<td>{e(name)}"
            f'<td>{e(m.get("birth_date") or "")}<td class="n">{e(format_points(m.get("balance"), lang))}'
            f"<td>{e(m.get('status') or '')}</tr>"
        )
    head = (
        f"<tr><th>{t['program']}<th>{t['number']}<th>{t['file']}<th>{t['name']}<th>{t['birth']}"
        f"<th>{t['balance']}<th>{t['status']}</tr>"
    )
    return f'<table style="margin:0">{head}{"".join(rows)}</table>'


def _table(head: list[str], body: list[str]) -> str:
    return (
        "<table><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + "</tr>"
        + "".join(body)
        + "</table>"
    )


def _pager(report: dict[str, Any], lang: str, kind: str, current: int, link: Any) -> str:
    t = TEXTS[lang]
    total = len(report["lists"][kind])
    count = max(1, -(-total // PAGE))
    if count == 1:
        return ""
    parts = []
    for number in range(1, count + 1):
        target = link(lang) + f"#{kind}" if number == 1 else link(lang, kind, number)
        label = str(number)
        parts.append(
            f"<b>{label}</b>" if number == current else f'<a href="{html.escape(target)}">{label}</a>'
        )
    return (
        f"<p>{html.escape(t['more'].format(n=format_count(total, lang)))} {html.escape(t['pages'])}: "
        + " ".join(parts)
        + "</p>"
    )


def list_page(
    report: dict[str, Any], lang: str, kind: str, number: int, *, show_phones: bool, link: Any = page_name
) -> str:
    t = TEXTS[lang]
    total = len(report["lists"][kind])
    count = max(1, -(-total // PAGE))
    title = f"{t['list_' + kind]} — {t['page'].format(n=number, of=count)}"
    body = (
        f'<p><a href="{html.escape(link(lang))}">{html.escape(t["title"])}</a></p>'
        f"<h1>{html.escape(title)}</h1>"
        + _pager(report, lang, kind, number, link)
        + _list_table(report, lang, kind, number, show_phones)
        + _pager(report, lang, kind, number, link)
    )
    return _page(lang, title, body)


def main_page(report: dict[str, Any], lang: str, *, show_phones: bool, link: Any = page_name) -> str:
    t = TEXTS[lang]
    e = html.escape
    header = report["header"]
    stats = header["stats"]
    other = "en" if lang == "ru" else "ru"
    parts = [f'<p><a href="{e(link(other))}">{e(t["other_lang"])}</a></p>', f"<h1>{e(t['title'])}</h1>"]
    if header.get("incomplete"):
        banner = t["incomplete"].format(n=len(header["rejected_files"]))
        parts.append(f'<div class="banner" role="alert">{e(banner)}<ul>')
        for rejected in header["rejected_files"]:
            parts.append(
                f"<li>{e(rejected['file'])} ({e(rejected['program'])}): {e(rejected['reason'])}</li>"
            )
        parts.append("</ul></div>")
    if header.get("rows_only"):
        rows = ", ".join(f"{name}: {count}" for name, count in header["rows_only"].items())
        parts.append(f"<p>{e(t['rows_only'].format(rows=rows))}</p>")
    parts.append(
        "<p>"
        + e(
            t["intro"].format(
                hash=header["plan_hash"],
                as_of=header["as_of"],
                cards=format_count(header["cards"], lang),
                batches=len(header["batches"]),
                issues=format_count(header["issues"], lang),
            )
        )
        + (" " + e(t["hub"].format(hub=format_count(header.get("hub_cards_compared", 0), lang))))
        + "</p>"
    )
    parts.append(f"<h2>{e(t['files'])}</h2>")
    parts.append(
        _table(
            [t["file"], t["program"], t["sha"], t["rejected_file"]],
            [
                f"<tr><td>{e(s['file'])}<td>{e(s['program'])}<td><code>{e(s['sha256'][:16])}…</code>"
                f'<td class="bad">{e(s.get("rejected", ""))}</tr>'
                for s in header["sources"]
            ],
        )
    )
    # The reconciliation sheet.
    parts.append(f"<h2>{e(t['sheet'])}</h2><p>{e(t['sheet_note'])}</p>")
    totals = {key: Decimal(0) for key in ("input", *SHEET)}
    body = []
    for stat in stats:
        points = {key: Decimal(value) for key, value in stat["points"].items()}
        for key in totals:
            totals[key] += points[key]
        body.append(_sheet_row(stat["code"], points, stat.get("unreadable_points", 0), lang))
    body.append(
        _sheet_row(t["total"], totals, sum(s.get("unreadable_points", 0) for s in stats), lang, bold=True)
    )
    parts.append(
        _table(
            [
                t["program"],
                t["input"],
                *(t[_SHEET_LABEL.get(k, k)] for k in SHEET),
                t["check"],
                t["unreadable"],
            ],
            body,
        )
    )
    parts.append(f"<h2>{e(t['programs'])}</h2>")
    keys: list[tuple[str, Callable[[dict[str, Any]], int]]] = [
        ("rows", lambda s: s["rows"]),
        ("cards", lambda s: s["cards"]),
        ("rejected_rows", lambda s: s["rejected"]),
        ("duplicates", lambda s: s.get("duplicate_rows", 0)),
        ("warnings", lambda s: s["warnings"]),
        ("present", lambda s: s["already_present"]),
        ("with_balance", lambda s: s["with_balance"]),
        ("no_phone", lambda s: s["no_phone"]),
        ("invalid_phones", lambda s: sum(s["invalid_phones"].values())),
        ("not_mobile", lambda s: sum(s.get("not_mobile", {}).values())),
        ("negative", lambda s: s.get("negative", 0)),
        ("sharing", lambda s: s["in_phone_groups"]),
        ("number_other", lambda s: s["in_number_groups"]),
    ]
    parts.append(
        _table(
            [t["program"], t["name"], t["kind"], *(t[k] for k, _ in keys)],
            [
                f"<tr><td>{e(s['code'])}<td>{e(s['name'])}<td>{e(s['kind'])}"
                + "".join(f'<td class="n">{format_count(get(s), lang)}' for _, get in keys)
                + "</tr>"
                for s in stats
            ],
        )
    )
    parts.append(f"<h2>{e(t['chart'])}</h2>{_chart(stats)}")
    parts.append(f"<p>{e(t['summary'].format(**header['duplicates']))}</p>")
    for kind in LISTS:
        parts.append(
            f'<h2 id="{kind}">{e(t["list_" + kind])} ({format_count(len(report["lists"][kind]), lang)})</h2>'
        )
        parts.append(_list_table(report, lang, kind, 1, show_phones))
        parts.append(_pager(report, lang, kind, 1, link))
    return _page(lang, f"{t['title']} {header['plan_hash'][:12]}", "\n".join(parts))


def _sheet_row(
    label: str, points: dict[str, Decimal], unreadable: int, lang: str, *, bold: bool = False
) -> str:
    t = TEXTS[lang]
    e = html.escape
    balanced = points["input"] == sum((points[k] for k in SHEET), Decimal(0))
    wrap = (lambda s: f"<b>{s}</b>") if bold else (lambda s: s)
    cells = [f"<td>{wrap(e(label))}"]
    cells += [f'<td class="n">{wrap(e(format_points(points[k], lang)))}' for k in ("input", *SHEET)]
    cells.append(f"<td>{t['yes'] if balanced else '<span class=bad>' + t['no'] + '</span>'}")
    cells.append(f'<td class="n">{format_count(unreadable, lang)}')
    return "<tr>" + "".join(cells) + "</tr>"


def _chart(stats: list[dict[str, Any]]) -> str:
    width, bar, gap, label = 720, 18, 6, 170
    peak = max([s["in_phone_groups"] + s["in_number_groups"] for s in stats] + [1])
    height = len(stats) * (bar + gap) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        'aria-label="Cards in duplicate groups per program">'
    ]
    for index, stat in enumerate(stats):
        y = 10 + index * (bar + gap)
        phone = stat["in_phone_groups"] * (width - label - 80) / peak
        number = stat["in_number_groups"] * (width - label - 80) / peak
        parts.append(
            f'<text x="{label - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
            f"{html.escape(stat['code'])}</text>"
            f'<rect x="{label}" y="{y}" width="{phone:.1f}" height="{bar}" fill="#c0504d">'
            f"<title>{stat['in_phone_groups']}</title></rect>"
            f'<rect x="{label + phone:.1f}" y="{y}" width="{number:.1f}" height="{bar}" fill="#4f81bd">'
            f"<title>{stat['in_number_groups']}</title></rect>"
            f'<text x="{label + phone + number + 4:.1f}" y="{y + 13}" font-size="12">'
            f"{stat['in_phone_groups']} + {stat['in_number_groups']}</text>"
        )
    parts.append(
        f'<text x="{label}" y="{height - 6}" font-size="11" fill="#c0504d">■ phone</text>'
        f'<text x="{label + 140}" y="{height - 6}" font-size="11" fill="#4f81bd">■ card number</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
