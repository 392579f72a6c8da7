"""``bonusbridge migrate``: plan a legacy import from exports and their mapping files, then apply it."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from bonusbridge.actors import Actor, Permission
from bonusbridge.app import build_hub
from bonusbridge.errors import BonusBridgeError
from bonusbridge.settings import settings_or_exit
from bonusbridge.unit_of_work import UnitOfWork
from mapping.legacy.spec import MappingFileError
from reconciliation import merges
from reconciliation.legacy.applier import PlanInvalid, apply_plan, read_plan
from reconciliation.legacy.notify import DEFAULT_CAMPAIGN, NotifyRefused, notify_import
from reconciliation.legacy.planner import BATCH_SIZE, PlanError, make_plan, parse_rows

app = typer.Typer(help="Legacy loyalty programs: plan an import, then apply it.", no_args_is_help=True)


@app.command("plan")
def plan(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Exports (CSV or XLSX).")],
    out: Annotated[Path, typer.Option("--out", help="Plan folder to write (plan.json, cards.tsv, reports).")],
    mapping: Annotated[
        list[Path] | None,
        typer.Option("--mapping", "-m", exists=True, dir_okay=False, help="Mapping files (else FILE.yaml)."),
    ] = None,
    as_of: Annotated[
        datetime | None, typer.Option(help="Date of the exports' balances (default: now).")
    ] = None,
    offline: Annotated[bool, typer.Option(help="Do not read the database for cards already there.")] = False,
    batch_size: Annotated[
        int, typer.Option(min=100, help="Cards per apply batch (one transaction).")
    ] = BATCH_SIZE,
    rows: Annotated[
        str | None,
        typer.Option(
            "--rows",
            help="Plan only these rows, fixed since: FILE:LINES (12,15-20; several joined by ';'), "
            "LINES with one file, or @LIST.csv (a CSV with file and line columns, e.g. issues.csv).",
        ),
    ] = None,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of report.html and issues.csv's separator: ru or en.")
    ] = "ru",
) -> None:
    """Normalize, check and de-duplicate the exports; write the plan and its reports. Changes nothing.

    Exits 3 when a file could not be read (the plan is incomplete; apply refuses it)."""
    settings = settings_or_exit()
    engine = None
    if not offline:
        engine = build_hub(settings).engine
    try:
        only = parse_rows(rows, files) if rows else None
        result = make_plan(
            files,
            out,
            mappings=mapping or [],
            as_of=as_of.astimezone() if as_of is not None else None,
            engine=engine,
            batch_size=batch_size,
            rows=only,
            lang=lang,
            merge_limit=settings.auto_merge_max_group,
        )
    except (PlanError, MappingFileError) as exc:
        typer.echo(f"migrate plan: {exc}", err=True)
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        typer.echo(
            f"migrate plan: cannot read the hub's cards ({type(exc).__name__}); use --offline", err=True
        )
        raise typer.Exit(2) from None
    header = result.header
    for stat in header["stats"]:
        typer.echo(
            f"{stat['code']:<16} rows {stat['rows']:>8}  cards {stat['cards']:>8}"
            f"  rejected rows {stat['rejected']:>6}  already there {stat['already_present']:>6}"
            f"  invalid phones {sum(stat['invalid_phones'].values()):>6}"
            f"  not mobile {sum(stat['not_mobile'].values()):>6}"
            f"  sharing a phone {stat['in_phone_groups']:>6}"
        )
        points = stat["points"]
        typer.echo(
            f"{'':<16} points: input {points['input']} = imported {points['imported']} + expired "
            f"{points['expired']} + rejected {points['rejected']} + duplicate rows {points['duplicates']} + "
            f"already there {points['already_present']} + negative {points['negative']}"
        )
    dup = header["duplicates"]
    typer.echo(
        f"plan {header['plan_hash'][:12]}: {header['cards']} cards in {len(header['batches'])} batches; "
        f"{dup['phone_groups']} shared phones ({dup['name_conflicts']} with different names), "
        f"{dup['number_groups']} numbers in several programs, "
        f"{dup['person_suggestions']} same-person suggestions"
    )
    rejected = sum(stat["rejected"] for stat in header["stats"])
    typer.echo(
        f"{header['issues']} issues ({rejected} rejected rows) in {out / 'issues.csv'}; "
        f"report: {out / 'report.html'}"
    )
    if header["rejected_files"]:
        for item in header["rejected_files"]:
            typer.echo(f"FILE NOT READ: {item['file']} ({item['program']}): {item['reason']}", err=True)
        typer.echo(
            f"migrate plan: the plan is INCOMPLETE ({len(header['rejected_files'])} file(s) not read); "
            "fix them and plan again (apply refuses it without --allow-incomplete)",
            err=True,
        )
        raise typer.Exit(3)


@app.command("apply")
def apply(
    plan_dir: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="A folder written by migrate plan.")
    ],
    jobs: Annotated[int, typer.Option(min=1, max=8, help="Batches at once (PostgreSQL).")] = 2,
    pause: Annotated[float, typer.Option(min=0.0, help="Seconds to wait after each batch.")] = 0.0,
    auto_merge: Annotated[
        list[str] | None,
        typer.Option(
            "--auto-merge",
            help="Merge duplicates now instead of waiting for the customer: program=<code> or "
            "group=<id> (as in report.csv); repeatable.",
        ),
    ] = None,
    merged_by: Annotated[
        str, typer.Option("--merged-by", help="Staff name recorded on auto-merges.")
    ] = "migration",
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete", help="Apply a plan some file of which could not be read (the rest only)."
        ),
    ] = False,
) -> None:
    """Apply a plan in batches; safe to run again after any interruption (done batches are skipped).

    Rows fixed later (or refused as changed since planning) are imported by planning just them
    (``migrate plan … --rows @applied_issues.csv``) and applying that plan."""
    try:
        header = read_plan(plan_dir)
    except PlanInvalid as exc:
        typer.echo(f"migrate apply: {exc}", err=True)
        raise typer.Exit(2) from None
    if header.get("rejected_files") and not allow_incomplete:
        typer.echo(
            "migrate apply: the plan is incomplete, these files could not be read: "
            + ", ".join(f"{r['file']} ({r['reason']})" for r in header["rejected_files"])
            + ". Fix them and plan again, or apply the rest with --allow-incomplete",
            err=True,
        )
        raise typer.Exit(2)
    to_merge: dict[str, list[tuple[str, ...]]] = {}
    if auto_merge:
        try:
            to_merge = merges.select_groups(merges.phone_groups_of_plan(plan_dir), auto_merge)
        except (merges.InvalidMergeRequest, OSError) as exc:
            typer.echo(f"migrate apply: {exc}", err=True)
            raise typer.Exit(2) from None
    engine = build_hub(settings_or_exit()).engine
    with typer.progressbar(length=header["cards"], label="applying", file=None) as bar:
        try:
            result = apply_plan(
                engine,
                plan_dir,
                progress=bar.update,
                pause=pause,
                jobs=jobs,
                allow_incomplete=allow_incomplete,
            )
        except PlanInvalid as exc:
            typer.echo(f"migrate apply: {exc}", err=True)
            raise typer.Exit(2) from None
    issues_path = plan_dir / "applied_issues.csv"
    with issues_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "program", "file", "line", "card_number", "detail"])
        for issue in result.issues:
            writer.writerow(
                [
                    issue["kind"],
                    issue["program"],
                    issue["file"],
                    issue["line"],
                    issue["card_number"],
                    issue["detail"],
                ]
            )
    changed = sum(1 for issue in result.issues if issue["kind"] == "changed_since_plan")
    typer.echo(
        f"plan {result.plan_hash[:12]}: {result.batches_applied} batches applied now, "
        f"{result.batches_skipped} "
        f"done before; {result.created} cards created, {result.skipped} left alone "
        f"({changed} changed since planning) — see {issues_path}"
    )
    if to_merge:
        staff = Actor(merged_by, frozenset({Permission.MERGE}))
        outcomes = merges.auto_merge_groups(
            engine,
            to_merge,
            actor=staff,
            reason=f"auto-merge at import (plan {result.plan_hash[:12]}: {', '.join(auto_merge or [])})",
            key_prefix=f"auto-merge:{result.plan_hash[:16]}",
        )
        merged = [o for o in outcomes if o.merge_id is not None]
        suggestions = [o for o in outcomes if o.suggestion]
        for outcome in outcomes:
            if outcome.skipped:
                typer.echo(f"  group {outcome.group}: not merged, {outcome.skipped}")
        suggestions_path = plan_dir / "auto_merge_suggestions.csv"
        with suggestions_path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, delimiter=";" if header.get("lang", "ru") == "ru" else ",")
            writer.writerow(["group", "program", "card_number", "reason"])
            for outcome in suggestions:
                for card in to_merge.get(outcome.group, []):
                    writer.writerow(
                        [outcome.group, card[0], card[1] if len(card) > 1 else "", outcome.skipped]
                    )
        typer.echo(
            f"auto-merge: {len(merged)} of {len(outcomes)} groups merged "
            f"({sum(1 for o in merged if o.replayed)} before), "
            f"{sum((o.points_moved for o in merged), Decimal(0))} points moved; "
            f"{len(suggestions)} left to staff as suggestions ({suggestions_path})"
        )
    if changed:
        raise typer.Exit(1)


@app.command("notify")
def notify(
    plan: Annotated[str, typer.Argument(help="The applied plan: its folder, or its hash (8+ characters).")],
    per_minute: Annotated[
        int | None, typer.Option("--per-minute", min=1, help="At most this many SMS a minute (spaced).")
    ] = None,
    campaign: Annotated[
        str, typer.Option(help="Campaign name: a phone is told once per campaign.")
    ] = DEFAULT_CAMPAIGN,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; queue nothing.")] = False,
) -> None:
    """Queue the SMS announcing the bonus program to the import's phones, once per phone (resumable)."""
    plan_hash = plan
    if Path(plan).is_dir():
        try:
            plan_hash = read_plan(Path(plan), verify=False)["plan_hash"]
        except (PlanInvalid, KeyError) as exc:
            typer.echo(f"migrate notify: {exc}", err=True)
            raise typer.Exit(2) from None
    settings = settings_or_exit()
    engine = build_hub(settings).engine
    try:
        result = notify_import(
            engine, settings, plan_hash, campaign=campaign, per_minute=per_minute, dry_run=dry_run
        )
    except NotifyRefused as exc:
        typer.echo(f"migrate notify: {exc}", err=True)
        raise typer.Exit(2) from None
    invalid = ", ".join(f"{k} {v}" for k, v in sorted(result.invalid_reasons.items())) or "none"
    verb = "would queue" if dry_run else "queued"
    typer.echo(
        f"plan {result.plan_hash[:12]}, campaign {result.campaign}: {result.cards} cards, "
        f"{result.phones} phones; {verb} {result.queued}, {result.already_queued} queued before; "
        f"{result.invalid_phones} invalid phones ({invalid}), {result.no_phone} cards without a phone"
    )
    if result.first_at is not None and result.last_at is not None:
        typer.echo(f"sending from {result.first_at:%Y-%m-%d %H:%M} to {result.last_at:%Y-%m-%d %H:%M} UTC")


@app.command("merges")
def merge_log(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many (paging).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The merge log: every merge of every path (cabinet, staff, import), undone ones included.
    Names and card numbers are masked."""
    engine = build_hub(settings_or_exit()).engine
    try:
        with UnitOfWork(engine) as uow:
            entries = merges.list_merges(uow.session, limit=limit, offset=offset)
    except SQLAlchemyError as exc:
        typer.echo(f"migrate merges: cannot read the merge log ({type(exc).__name__})", err=True)
        raise typer.Exit(2) from None
    for entry in entries:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "id": entry.id,
                        "customer_id": entry.customer_id,
                        "customer": entry.customer_masked,
                        "primary_card_id": entry.primary_card_id,
                        "primary_card": entry.primary_card_masked,
                        "absorbed": [
                            {
                                "card_id": card.card_id,
                                "card": card.number_masked,
                                "points_moved": str(card.points_moved),
                                "points_restored": None
                                if card.points_restored is None
                                else str(card.points_restored),
                            }
                            for card in entry.absorbed
                        ],
                        "points_moved": str(entry.points_moved),
                        "actor": entry.actor,
                        "origin": entry.origin,
                        "reason": entry.reason,
                        "decided_at": entry.decided_at.isoformat(),
                        "unmerged_at": entry.unmerged_at.isoformat() if entry.unmerged_at else None,
                        "unmerged_by": entry.unmerged_by,
                    },
                    ensure_ascii=False,
                )
            )
            continue
        state = (
            f"undone {entry.unmerged_at:%Y-%m-%d %H:%M} by {entry.unmerged_by}"
            if entry.unmerged_at
            else "in force"
        )
        cards = ", ".join(f"{c.card_id} ({c.number_masked}, {c.points_moved})" for c in entry.absorbed)
        typer.echo(
            f"#{entry.id} {entry.decided_at:%Y-%m-%d %H:%M} {entry.origin}/{entry.actor}: "
            f"customer {entry.customer_id if entry.customer_id is not None else '(removed)'} "
            f"{entry.customer_masked}, primary {entry.primary_card_id} ({entry.primary_card_masked}) "
            f"absorbed {cards}; {entry.points_moved} points; {state}; {entry.reason or ''}"
        )
    if not entries:
        typer.echo("no merges")


@app.command("unmerge")
def unmerge_command(
    merge_id: Annotated[int, typer.Argument(help="The merge's id (migrate merges).")],
    by: Annotated[str, typer.Option("--by", help="Staff member undoing it (recorded).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    allow_partial: Annotated[
        bool, typer.Option("--allow-partial", help="Give back what is left when merged points were spent.")
    ] = False,
    key: Annotated[
        str | None, typer.Option("--key", help="Idempotency key (default: unmerge:<id>); a re-run replays.")
    ] = None,
) -> None:
    """Undo a merge exactly: the same lots go back with their expiry dates, every card gets back its
    status, owner and primary flag, and a customer the merge created is removed if nothing uses it."""
    engine = build_hub(settings_or_exit()).engine
    try:
        with UnitOfWork(engine) as uow:
            result = merges.unmerge(
                uow,
                merge_id,
                actor=by,
                reason=reason,
                key=key or f"unmerge:{merge_id}",
                allow_partial=allow_partial,
            )
            uow.commit()
    except BonusBridgeError as exc:
        typer.echo(f"migrate unmerge: {exc}", err=True)
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        typer.echo(f"migrate unmerge: the database refused ({type(exc).__name__})", err=True)
        raise typer.Exit(2) from None
    for card in result.cards:
        typer.echo(
            f"  card {card.card_id}: moved {card.moved}, restored {card.restored}"
            + (f", spent {card.spent}" if card.spent else "")
            + (f", expired {card.expired}" if card.expired else "")
        )
    typer.echo(
        f"merge {result.merge_id} undone{' before (replayed)' if result.replayed else ''}: "
        f"{result.points_restored} points restored"
        + ("; the customer it created was removed" if result.customer_removed else "")
        + ("; PARTIAL: spent points could not be given back" if result.partial else "")
    )
