"""``bonusbridge points members``: the members file from the command line, as on the staff's
members screen (seed 001: export, put 1 in ``member``, import back).

``export FILE`` writes every customer (UTF-8 with BOM, ``;`` by default). ``import FILE --by WHO``
only reads, checks and prints the plan; with ``--apply`` it writes the joins and leaves in one
transaction with one audit row naming ``--by``. A file with a bad row is refused whole: every
problem is printed with its row number and the exit code is 1. Nothing printed names a customer
(ids and counts only): the output ends up in terminals, scripts' logs and tickets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bonusbridge.app import build_hub
from bonusbridge.services import membership
from bonusbridge.services.members_file import MembersFileInvalid
from bonusbridge.settings import settings_or_exit

members_app = typer.Typer(
    help="The loyalty program's members file: export, edit the member column, import.", no_args_is_help=True
)
SEPARATOR_NAMES = {"semicolon": ";", "comma": ",", "tab": "\t"}
WARNINGS_PRINTED = 20


@members_app.command("export")
def export(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the file.")],
    separator: str = typer.Option("semicolon", help="semicolon (French and Russian Excel), comma or tab."),
) -> None:
    """Write the members file: customer_id, phone, last_name, first_name, email, cards, points
    (available now), member (1/0)."""
    if separator not in SEPARATOR_NAMES:
        raise typer.BadParameter("choose semicolon, comma or tab", param_hint="--separator")
    hub = build_hub(settings_or_exit())
    with path.open("wb") as out, hub.engine.connect() as conn:
        written = membership.export_members(
            conn, out, now=datetime.now(UTC), separator=SEPARATOR_NAMES[separator]
        )
    typer.echo(f"{written} customers written to {path}")


@members_app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The edited members file.")],
    actor: str = typer.Option(..., "--by", help="Who makes the change (kept in the audit trail)."),
    apply: bool = typer.Option(False, "--apply", help="Write the changes (without it: the plan only)."),
) -> None:
    """Read the member column back: print who would join and leave; ``--apply`` writes it."""
    if not actor.strip():
        raise typer.BadParameter("say who makes the change", param_hint="--by")
    hub = build_hub(settings_or_exit())
    data = path.read_bytes()
    try:
        with hub.engine.begin() as conn:
            plan = membership.import_members(
                conn, data, actor=actor, now=datetime.now(UTC), apply=apply, file_name=path.name
            )
    except MembersFileInvalid as refused:
        typer.echo(f"refused ({refused.code}): {len(refused.errors)} problem(s), nothing written", err=True)
        for problem in refused.errors:
            typer.echo(f"  row {problem.row}: {problem.code}: {problem.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"rows: {plan.rows}, join: {len(plan.join)}, leave: {len(plan.leave)}, unchanged: {plan.unchanged}"
    )
    for warning in plan.warnings[:WARNINGS_PRINTED]:
        where = f"row {warning.row}" if warning.row is not None else "file"
        typer.echo(f"  warning, {where}: {warning.detail}")
    if len(plan.warnings) > WARNINGS_PRINTED:
        typer.echo(f"  … and {len(plan.warnings) - WARNINGS_PRINTED} more warnings")
    if plan.applied is None:
        typer.echo("plan only: run again with --apply to write it")
        return
    typer.echo(f"applied: {len(plan.applied.joined)} joined, {len(plan.applied.left)} left")
