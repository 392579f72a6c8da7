"""``bonusbridge staff``: the staff pages' users (create, list, disable, password)."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import Engine

from bonusbridge.app import build_hub
from bonusbridge.settings import settings_or_exit
from web_cabinet.session_store import SessionStore, session_store
from web_cabinet.staff.auth import (
    StaffError,
    create_user,
    disable_user,
    list_users,
    parse_roles,
    set_password,
)

app = typer.Typer(help="Staff users of the /staff pages.", no_args_is_help=True)


def _engine() -> Engine:
    return build_hub(settings_or_exit()).engine


def _engine_and_sessions() -> tuple[Engine, SessionStore]:
    settings = settings_or_exit()
    engine = build_hub(settings).engine
    return engine, session_store(settings, engine)


@app.command("create")
def create(
    login: Annotated[str, typer.Argument(help="Login (letters, digits, . _ - @).")],
    role: Annotated[
        list[str], typer.Option("--role", "-r", help="viewer, migration, admin, marketing (repeat or comma).")
    ],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="12+ characters (prompted)."
        ),
    ],
) -> None:
    """Create a staff user; the password is asked for unless given (kept only as scrypt)."""
    try:
        user = create_user(_engine(), login, password, parse_roles(role))
    except StaffError as exc:
        typer.echo(f"staff create: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created {user.login} ({user.roles})")


@app.command("list")
def list_() -> None:
    """Staff users with their roles, state and last login."""
    for user in list_users(_engine()):
        state = "disabled" if user.disabled else "active"
        last = user.last_login_at.isoformat(timespec="minutes") if user.last_login_at else "never"
        typer.echo(f"{user.login:<24} {user.roles:<28} {state:<9} last login {last}")


@app.command("disable")
def disable(login: Annotated[str, typer.Argument(help="The staff user to disable.")]) -> None:
    """Disable a staff user: their open sessions end at once."""
    try:
        engine, sessions = _engine_and_sessions()
        ended = disable_user(engine, login, sessions)
    except StaffError as exc:
        typer.echo(f"staff disable: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"disabled {login} ({ended} open session(s) ended)")


@app.command("password")
def password(
    login: Annotated[str, typer.Argument(help="The staff user whose password changes.")],
    new_password: Annotated[
        str,
        typer.Option(
            "--password",
            prompt="New password",
            hide_input=True,
            confirmation_prompt=True,
            help="12+ characters (prompted).",
        ),
    ],
) -> None:
    """Set a staff user's password; every session logged in with the old one ends at once."""
    try:
        engine, sessions = _engine_and_sessions()
        ended = set_password(engine, login, new_password, sessions)
    except StaffError as exc:
        typer.echo(f"staff password: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"password of {login} changed ({ended} open session(s) ended)")
