"""``bonusbridge points tiers``: run the tier review by hand — what the nightly task does — for
example after a program version changed the tiers, or to replay a missed night (``--at``)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from bonusbridge.app import build_hub
from bonusbridge.errors import BonusBridgeError
from bonusbridge.points import store, tiers
from bonusbridge.points.program import parse_instant
from bonusbridge.settings import settings_or_exit

tiers_app = typer.Typer(help="Card tiers: the review by rolling 12-month spend.", no_args_is_help=True)


@tiers_app.command("review")
def review(
    at: str | None = typer.Option(
        None, "--at", help="Review as of this ISO 8601 instant with its offset (default: now)."
    ),
    batch_size: int = typer.Option(tiers.BATCH_SIZE, "--batch", min=1, help="Cards per transaction."),
) -> None:
    """Review every card with a tier or with spend in the last 12 months under the program's
    downgrade policy, and record each change. Idempotent: again at the same instant, nothing."""
    try:
        moment = parse_instant("--at", at) if at else datetime.now(UTC)
    except BonusBridgeError as exc:
        typer.echo(f"refused ({exc.code}): {exc}", err=True)
        raise typer.Exit(1) from None
    hub = build_hub(settings_or_exit())
    with hub.engine.connect() as conn:
        program = store.load(conn, hub.settings)
    summary = tiers.review_all(hub.engine, program, moment, batch_size=batch_size)
    typer.echo(
        f"{summary.reviewed} cards reviewed as of {moment.isoformat()}, {summary.changed} changed tier"
    )
