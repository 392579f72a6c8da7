"""The plan's reports: ``report.csv`` (one row per finding) and ``report.html`` (self-contained:
inline CSS and an inline SVG bar chart of duplicates per program, no scripts, nothing fetched)."""

from __future__ import annotations

import csv
import html
from array import array
from pathlib import Path
from typing import Any

from bonusbridge.privacy import mask_phone

#: Groups listed by name in the HTML page; the CSV always has all of them.
HTML_LIMIT = 200


def write_reports(
    out: Path,
    header: dict[str, Any],
    groups: dict[str, Any],
    seq_number: list[str],
    seq_program: array[int],
    seq_line: array[int],
    seq_source: array[int],
    sources: list[dict[str, Any]],
) -> None:
    codes = [p["code"] for p in header["programs"]]

    def card(seq: int) -> tuple[str, str, str, int]:
        return codes[seq_program[seq]], sources[seq_source[seq]]["file"], seq_number[seq], seq_line[seq]

    with (out / "report.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "group", "program", "file", "card_number", "line", "detail"])
        for stat in header["stats"]:
            writer.writerow(["program", "", stat["code"], " ".join(stat["files"]), "", "", _stat_text(stat)])
            for reason, count in sorted(stat["invalid_phones"].items()):
                writer.writerow(["invalid_phones", "", stat["code"], "", "", "", f"{reason}: {count}"])
        conflicts = {phone for phone, _ in groups["conflicts"]}
        for index, (phone, members) in enumerate(groups["phone"], 1):
            detail = f"phone {mask_phone(phone)}" + (" (different names)" if phone in conflicts else "")
            for seq in members:
                writer.writerow(["phone_group", f"P{index}", *card(seq), detail])
        for index, (number, members) in enumerate(groups["number"], 1):
            for seq in members:
                writer.writerow(
                    ["number_group", f"N{index}", *card(seq), f"card number {number} in several programs"]
                )
        for index, members in enumerate(groups["suggestions"], 1):
            for seq in members:
                writer.writerow(
                    ["same_person_suggestion", f"S{index}", *card(seq), "same name and birth date"]
                )
    (out / "report.html").write_text(_html(header, groups, card), encoding="utf-8")


def _stat_text(stat: dict[str, Any]) -> str:
    return (
        f"rows {stat['rows']}, cards {stat['cards']}, rejected {stat['rejected']}, "
        f"warnings {stat['warnings']}, already present {stat['already_present']}, "
        f"with balance {stat['with_balance']} ({stat['balance']} points), "
        f"no phone {stat['no_phone']}, invalid phones {sum(stat['invalid_phones'].values())}, "
        f"sharing a phone {stat['in_phone_groups']}, number in other programs {stat['in_number_groups']}"
    )


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
            f"<title>{stat['in_phone_groups']} sharing a phone</title></rect>"
            f'<rect x="{label + phone:.1f}" y="{y}" width="{number:.1f}" height="{bar}" fill="#4f81bd">'
            f"<title>{stat['in_number_groups']} with a number used in another program</title></rect>"
            f'<text x="{label + phone + number + 4:.1f}" y="{y + 13}" font-size="12">'
            f"{stat['in_phone_groups']} + {stat['in_number_groups']}</text>"
        )
    parts.append(
        f'<text x="{label}" y="{height - 6}" font-size="11" fill="#c0504d">■ sharing a phone</text>'
        f'<text x="{label + 140}" y="{height - 6}" font-size="11" fill="#4f81bd">'
        "■ card number in another program</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _html(header: dict[str, Any], groups: dict[str, Any], card: Any) -> str:
    e = html.escape
    stats = header["stats"]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(str(v))}</td>"
            for v in (
                s["code"],
                s["name"],
                s["kind"],
                s["rows"],
                s["cards"],
                s["rejected"],
                s["warnings"],
                s["already_present"],
                s["with_balance"],
                s["balance"],
                s["no_phone"],
                sum(s["invalid_phones"].values()),
                s["in_phone_groups"],
                s["in_number_groups"],
            )
        )
        + "</tr>"
        for s in stats
    )
    reasons = "".join(
        f"<tr><td>{e(s['code'])}</td><td>{e(reason)}</td><td>{count}</td></tr>"
        for s in stats
        for reason, count in sorted(s["invalid_phones"].items())
    )
    conflicts = {phone for phone, _ in groups["conflicts"]}

    def members(seqs: list[int]) -> str:
        return "; ".join(f"{e(p)} {e(n)} ({e(f)}:{line})" for p, f, n, line in (card(s) for s in seqs))

    phone_rows = "".join(
        f"<tr><td>P{i}</td><td>{e(mask_phone(phone))}</td><td>{'yes' if phone in conflicts else ''}</td>"
        f"<td>{members(m)}</td></tr>"
        for i, (phone, m) in enumerate(groups["phone"][:HTML_LIMIT], 1)
    )
    number_rows = "".join(
        f"<tr><td>N{i}</td><td>{e(number)}</td><td>{members(m)}</td></tr>"
        for i, (number, m) in enumerate(groups["number"][:HTML_LIMIT], 1)
    )
    suggestion_rows = "".join(
        f"<tr><td>S{i}</td><td>{members(m)}</td></tr>"
        for i, m in enumerate(groups["suggestions"][:HTML_LIMIT], 1)
    )
    summary = header["duplicates"]
    sources = "".join(
        f"<tr><td>{e(s['file'])}</td><td>{e(s['program'])}</td><td><code>{e(s['sha256'][:16])}…</code></td>"
        f"<td>{e(s.get('rejected', ''))}</td></tr>"
        for s in header["sources"]
    )
    more = f"<p>Only the first {HTML_LIMIT} groups of each kind are listed here; report.csv has all.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Legacy import plan {e(header["plan_hash"][:12])}</title>
<style>body{{font:14px sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}}th{{background:#eee}}</style></head><body>
<h1>Legacy import plan</h1>
<p>Plan <code>{e(header["plan_hash"])}</code>, opening balances as of {e(header["as_of"])},
{header["cards"]} cards
to create in {len(header["batches"])} batches, {header["issues"]} issues (see issues.csv: every rejected row
with its line and reason). Duplicates are not merged: customers choose in the cabinet.</p>
<h2>Files</h2><table><tr><th>file</th><th>program</th><th>sha256</th><th>rejected</th></tr>{sources}</table>
<h2>Programs</h2><table><tr><th>code</th><th>name</th><th>kind</th><th>rows</th><th>cards</th><th>rejected</th>
<th>warnings</th><th>already present</th><th>with balance</th><th>points</th><th>no phone</th>
<th>invalid phones</th>
<th>sharing a phone</th><th>number in other programs</th></tr>{rows}</table>
<h2>Duplicates per program</h2>{_chart(stats)}
<p>{summary["phone_groups"]} phones shared by {summary["cards_in_phone_groups"]} cards
({summary["name_conflicts"]} with different names); {summary["number_groups"]} card numbers used in several
programs ({summary["cards_in_number_groups"]} cards); {summary["person_suggestions"]} possible same-person
groups (same name and birth date, different phones: suggestions only).</p>
<h2>Invalid phones</h2><table><tr><th>program</th><th>reason</th><th>cards</th></tr>{reasons}</table>
<h2>Cards sharing a phone</h2>{more}
<table><tr><th>group</th><th>phone</th><th>different names</th><th>cards</th></tr>
{phone_rows}</table>
<h2>Card numbers in several programs</h2>
<table><tr><th>group</th><th>number</th><th>cards</th></tr>{number_rows}</table>
<h2>Possibly the same person</h2><table><tr><th>group</th><th>cards</th></tr>{suggestion_rows}</table>
</body></html>
"""
