"""``bonusbridge migrate``: plan a legacy import from exports and their mapping files, then apply it."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from bonusbridge.app import build_hub
from bonusbridge.settings import settings_or_exit
from mapping.legacy.spec import MappingFileError
from reconciliation.legacy.applier import PlanInvalid, apply_plan, read_plan
from reconciliation.legacy.planner import BATCH_SIZE, PlanError, make_plan

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
) -> None:
    """Normalize, check and de-duplicate the exports; write the plan and its reports. Changes nothing."""
    engine = None
    if not offline:
        engine = build_hub(settings_or_exit()).engine
    try:
        result = make_plan(
            files,
            out,
            mappings=mapping or [],
            as_of=as_of.astimezone() if as_of is not None else None,
            engine=engine,
            batch_size=batch_size,
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
            f"  rejected {stat['rejected']:>6}  already there {stat['already_present']:>6}"
            f"  invalid phones {sum(stat['invalid_phones'].values()):>6}"
            f"  sharing a phone {stat['in_phone_groups']:>6}"
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
        f"{header['issues']} issues ({rejected} rejected) in {out / 'issues.csv'}; "
        f"report: {out / 'report.html'}"
    )


@app.command("apply")
def apply(
    plan_dir: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="A folder written by migrate plan.")
    ],
    jobs: Annotated[int, typer.Option(min=1, max=8, help="Batches at once (PostgreSQL).")] = 2,
    pause: Annotated[float, typer.Option(min=0.0, help="Seconds to wait after each batch.")] = 0.0,
) -> None:
    """Apply a plan in batches; safe to run again after any interruption (done batches are skipped)."""
    try:
        header = read_plan(plan_dir)
    except PlanInvalid as exc:
        typer.echo(f"migrate apply: {exc}", err=True)
        raise typer.Exit(2) from None
    engine = build_hub(settings_or_exit()).engine
    with typer.progressbar(length=header["cards"], label="applying", file=None) as bar:
        try:
            result = apply_plan(engine, plan_dir, progress=bar.update, pause=pause, jobs=jobs)
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
    if changed:
        raise typer.Exit(1)
