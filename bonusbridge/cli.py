"""The ``bonusbridge`` command.

The hub owns ``db``, ``ledger`` and ``demo``. Other packages add their own command groups through
the ``bonusbridge.commands`` entry-point group (name = group name, value = a ``typer.Typer``), so
the hub never imports them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from bonusbridge.app import build_hub
from bonusbridge.errors import BonusBridgeError
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.privacy import configure_logging
from bonusbridge.settings import settings_or_exit

app = typer.Typer(
    help="BonusBridge: loyalty middleware between 1C, the website and SMS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
ledger_app = typer.Typer(help="The bonus ledger.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision to reach.")) -> None:
    """Apply the schema migrations (safe to run again: it does nothing when up to date)."""
    from bonusbridge.schema import upgrade

    hub = build_hub(settings_or_exit())
    upgrade(hub.engine, revision)
    typer.echo(f"database at {revision} ({hub.engine.url.render_as_string(hide_password=True)})")


@ledger_app.command("check")
def ledger_check() -> None:
    """Verify every balance against its movements, lots and holds; exit 1 on any drift."""
    hub = build_hub(settings_or_exit())
    with hub.engine.connect() as conn:
        findings = check_ledger(conn)
    for finding in findings:
        typer.echo(f"DRIFT {finding}")
    if findings:
        typer.echo(f"{len(findings)} finding(s): the ledger does not add up", err=True)
        raise typer.Exit(1)
    typer.echo("ledger consistent: every balance equals its movements, lots and holds")


@app.command("demo")
def demo() -> None:
    """Prepare the database and load demo cards (idempotent), then say what was done."""
    from bonusbridge.demo import load_demo
    from bonusbridge.schema import upgrade

    hub = build_hub(settings_or_exit())
    upgrade(hub.engine)
    typer.echo(f"database ready: {hub.engine.url.render_as_string(hide_password=True)}")
    report = load_demo(hub)
    for line in report.lines:
        typer.echo(f"  {line}")
    typer.echo("demo loaded. Try: bonusbridge ledger check")


def _load_plugins() -> None:
    """Add the command groups other packages registered. One that fails to import is reported and
    skipped, so a broken optional part never takes ``db upgrade`` or ``ledger check`` down with it."""
    for entry in entry_points(group="bonusbridge.commands"):
        try:
            app.add_typer(entry.load(), name=entry.name)
        except Exception as exc:
            typer.echo(f"bonusbridge: command group {entry.name!r} unavailable: {exc}", err=True)


def main() -> None:
    configure_logging()
    _load_plugins()
    try:
        app(prog_name="bonusbridge", standalone_mode=True)
    except BonusBridgeError as exc:
        typer.echo(f"bonusbridge: {exc.code}: {exc}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":  # pragma: no cover
    main()
