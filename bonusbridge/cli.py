"""The ``bonusbridge`` command.

The hub owns ``db``, ``ledger``, ``cards`` and ``demo``. Other packages add their own command groups through
the ``bonusbridge.commands`` entry-point group (name = group name, value = a ``typer.Typer``), so
the hub never imports them.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

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
cards_app = typer.Typer(help="Cards and their spending lock.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(cards_app, name="cards")


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


@cards_app.command("recheck")
def cards_recheck() -> None:
    """Give every owned card the status its owner's profile calls for (after a change of
    BONUSBRIDGE_PROFILE_REQUIRED_FIELDS, say); print how many changed. Safe to run again."""
    from bonusbridge.services.cards import recheck_all_cards

    settings = settings_or_exit()
    hub = build_hub(settings)  # a database that cannot be used is said by ``main`` (database_problem)
    result = recheck_all_cards(hub.unit_of_work, required_fields=settings.profile_required_fields)
    required = ", ".join(settings.profile_required_fields) or "none"
    typer.echo(
        f"{result.changed} card(s) changed of {result.checked} owned usable card(s) checked "
        f"(required profile fields: {required})"
    )


def make_url_safe(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the configured database"


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
    sqlite_file = _sqlite_file()
    existed = sqlite_file is not None and sqlite_file.exists()
    try:
        app(prog_name="bonusbridge", standalone_mode=True)
    except BonusBridgeError as exc:
        typer.echo(f"bonusbridge: {exc.code}: {exc}", err=True)
        raise SystemExit(1) from None
    except Exception as exc:
        from sqlalchemy.exc import DBAPIError

        if not isinstance(exc, DBAPIError):
            raise
        if sqlite_file is not None and not existed:
            _remove_if_empty(sqlite_file)  # a mistyped URL leaves no empty database behind
        typer.echo(database_problem(exc), err=True)
        raise SystemExit(1) from None


def _database_url() -> str:
    from bonusbridge.settings import get_settings

    try:
        return get_settings().database_url
    except Exception:
        return ""


def database_problem(exc: Exception) -> str:
    """What a command says when the database is missing, unreachable or not upgraded: the URL it
    used (no password) and what to do, never a traceback."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
    url = make_url_safe(_database_url())
    return (
        f"bonusbridge: the database at {url} cannot be used: {reason}\n"
        "  Is it the one you meant (BONUSBRIDGE_DATABASE_URL; `make run`'s demo prints its own) and "
        "is it upgraded? Run `bonusbridge db upgrade` with the same BONUSBRIDGE_DATABASE_URL."
    )


def _sqlite_file() -> Path | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(_database_url())
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _remove_if_empty(path: Path) -> None:
    import sqlite3

    try:
        with sqlite3.connect(path) as conn:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables == 0:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
                leftover.unlink(missing_ok=True)
    except (OSError, sqlite3.Error):
        pass


if __name__ == "__main__":  # pragma: no cover
    main()
