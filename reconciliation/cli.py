"""``bonusbridge reconcile``: the hub compared with 1C, drift kept as a report, and repaired on request."""

from __future__ import annotations

from typing import Annotated

import typer

from bonusbridge.app import build_hub
from bonusbridge.settings import settings_or_exit
from connectors.onec.errors import OneCError
from connectors.onec.odata import ODataClient
from mapping.profile import load_profile
from reconciliation.drift import NOT_READ, RepairRefused, check_drift, feed_of, repair_drift

app = typer.Typer(help="Reconciliation with 1C: balance, status and profile drift.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Reconciliation with 1C (a group, so ``bonusbridge reconcile balances`` keeps its name)."""


@app.command("balances")
def balances(
    repair: Annotated[
        bool, typer.Option("--repair", help="Bring the hub's balances to 1C's register (asks first).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask; needs --confirmed-by.")] = False,
    confirmed_by: Annotated[
        str | None, typer.Option("--confirmed-by", help="Who confirms the repair (recorded).")
    ] = None,
) -> None:
    """Compare every linked card's balance and status and every profile with 1C; keep the report.

    Exit 0 when everything agrees (or was repaired), 1 when drift remains, 2 when 1C could not be read.
    """
    settings = settings_or_exit()
    if repair and yes and not (confirmed_by or "").strip():
        typer.echo("reconcile balances: --yes needs --confirmed-by NAME", err=True)
        raise typer.Exit(2)
    engine = build_hub(settings).engine
    profile = load_profile(settings.onec_config, tz=settings.onec_zone)
    with ODataClient.from_settings(settings) as client:
        try:
            report_id, comparison = check_drift(engine, client, profile, trigger="cli")
        except OneCError as exc:
            typer.echo(f"reconcile balances: 1C could not be read: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"drift report {report_id}")
        typer.echo(comparison.summary())
        if comparison.ok:
            return
        balance_drift = [d for d in comparison.card_differences if d.field == "total"]
        if not repair:
            raise typer.Exit(1)
        if not balance_drift:
            typer.echo("no balance to repair; status and profile drift are left to the sync's policy")
            raise typer.Exit(1)
        if not yes:
            name = confirmed_by or typer.prompt("your name (recorded as who confirmed)")
            if not typer.confirm(
                f"post {len(balance_drift)} correcting movement(s) bringing the hub to 1C's register?"
            ):
                typer.echo("nothing changed")
                raise typer.Exit(1)
            confirmed_by = name
        assert confirmed_by is not None
        try:
            result = repair_drift(
                engine,
                client,
                profile,
                report_id,
                confirmed_by=confirmed_by,
                feed=feed_of(settings, engine, client),
            )
        except (RepairRefused, OneCError) as exc:
            typer.echo(f"reconcile balances: {exc}", err=True)
            raise typer.Exit(2) from None
    for outcome in result.outcomes:
        what = (
            f"movement {outcome.movement_id}"
            if outcome.movement_id is not None
            else f"skipped: {outcome.skipped}"
        )
        typer.echo(f"  card {outcome.card_id}: {format(outcome.delta, '+f')} -> {what}")
    typer.echo(f"repaired {result.repaired} of {len(result.outcomes)}, confirmed by {result.confirmed_by}")
    behind = [
        o for o in result.outcomes if o.skipped and (o.skipped == NOT_READ or "sync listen" in o.skipped)
    ]
    if behind:
        typer.echo(
            f"the change feed is behind: {len(behind)} balance(s) left alone, 1C's register already counts "
            "changes the hub has not applied yet; let `bonusbridge sync listen` catch up and run again"
        )
    if result.repaired < len(result.outcomes) or len(balance_drift) < len(comparison.differences):
        raise typer.Exit(1)
