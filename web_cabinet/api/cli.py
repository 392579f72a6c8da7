"""``bonusbridge api-clients``: create, list and revoke the shop API's clients and their keys."""

from __future__ import annotations

import typer
from sqlalchemy import Engine

from bonusbridge.app import build_hub
from bonusbridge.settings import settings_or_exit
from web_cabinet.api.clients import (
    SCOPES,
    ClientError,
    create_client,
    list_clients,
    parse_scopes,
    revoke_client,
)

app = typer.Typer(help="The shop API's clients: keys and scopes.", no_args_is_help=True)


def _engine() -> Engine:
    return build_hub(settings_or_exit()).engine


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Who calls, e.g. 'website-checkout'."),
    scopes: str = typer.Option(..., "--scopes", help=f"Comma-separated, of: {','.join(SCOPES)}."),
) -> None:
    """Create a client and print its key, once: only its hash is stored."""
    try:
        key = create_client(_engine(), name, parse_scopes(scopes))
    except ClientError as exc:
        typer.echo(f"api-clients: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created client {name!r}; its key (shown only now, store it safely):")
    typer.echo(key)


@app.command("list")
def list_() -> None:
    """Every client: key prefix, scopes, created, last used, revoked."""
    for client in list_clients(_engine()):
        state = f"revoked {client.revoked_at:%Y-%m-%d %H:%M}" if client.revoked_at else "active"
        used = f"{client.last_used_at:%Y-%m-%d %H:%M}" if client.last_used_at else "never"
        typer.echo(
            f"{client.name}\tbb_{client.key_prefix}_…\t{','.join(client.scopes)}\t"
            f"created {client.created_at:%Y-%m-%d}\tlast used {used}\t{state}"
        )


@app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The client's name.")) -> None:
    """Refuse the client's key from now on (the client is kept for the audit)."""
    try:
        changed = revoke_client(_engine(), name)
    except ClientError as exc:
        typer.echo(f"api-clients: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked client {name!r}" if changed else f"client {name!r} was already revoked")
