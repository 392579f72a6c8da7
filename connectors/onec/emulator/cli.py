"""``bonusbridge emulator``: run the 1C emulator standalone under uvicorn.

Registered through the ``bonusbridge.commands`` entry-point group, so the hub's CLI never imports
it. The options live on the group's callback, so the command is ``bonusbridge emulator --port 8081``
(not ``bonusbridge emulator run ...``).
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The 1C:Enterprise emulator (OData, exchange plan, bonus registers, faults).")


@app.callback(invoke_without_command=True)
def emulator(
    port: int = typer.Option(8081, help="TCP port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    config: str = typer.Option("retail", help="Configuration: retail, ut11, or a YAML file."),
    database: Path | None = typer.Option(  # noqa: B008 - typer's idiom
        None, help="SQLite file for the emulator's own data (default: in memory, lost on exit)."
    ),
    fixtures: str = typer.Option(
        "demo", help="Seed data: a JSON/YAML file, 'demo' (the shipped demo) or 'none'."
    ),
    base: str = typer.Option("dobrostroy", help="Publication name: URLs start with /<base>/odata/."),
    strict: bool = typer.Option(
        False, "--strict", help="Enforce DataVersion/If-Match (412); real 1C does not."
    ),
    echo_suppression: str = typer.Option(
        "on",
        "--echo-suppression",
        help="'off': an uncustomized base that registers the website user's own writes back to its node.",
    ),
    without_extension: bool = typer.Option(
        False,
        "--without-extension",
        help="A standard configuration without the chain's extension (ut11: no ТолькоНакопление status).",
    ),
    amqp_url: str | None = typer.Option(
        None, "--amqp-url", help="Also publish every change as JSON to this RabbitMQ (amqp://...)."
    ),
    amqp_exchange: str = typer.Option(
        "onec.changes", "--amqp-exchange", help="Topic exchange the changes are published to."
    ),
    fair_share: bool = typer.Option(
        False,
        "--fair-share",
        help="Requests take turns per 1C user, not per connection: the website keeps its share "
        "next to a till network (a 1C cluster giving its sessions a working process of their own).",
    ),
    amqp_sync: bool = typer.Option(
        False,
        "--amqp-sync",
        help="Publish each change inside its write (default: a publisher thread with batched confirms).",
    ),
) -> None:
    """Serve an emulated 1C base at http://HOST:PORT/<base>/odata/standard.odata/."""
    import uvicorn

    from .app import create_app
    from .fixtures import FixtureError
    from .schema import ConfigError

    if echo_suppression not in ("on", "off"):
        typer.echo("bonusbridge emulator: --echo-suppression takes on or off", err=True)
        raise typer.Exit(2)
    try:
        asgi = create_app(
            config,
            database_url=f"sqlite:///{database}" if database else None,
            base=base,
            strict=strict,
            fixtures=None if fixtures == "none" else fixtures,
            echo_suppression=echo_suppression == "on",
            extension=not without_extension,
            fair_share=fair_share,
        )
    except (ConfigError, FixtureError) as exc:
        typer.echo(f"bonusbridge emulator: {exc}", err=True)
        raise typer.Exit(2) from None
    publisher = None
    if amqp_url:
        from .amqp import attach_publisher

        publisher = attach_publisher(asgi, amqp_url, amqp_exchange, background=not amqp_sync)
        typer.echo(f"publishing changes to the topic exchange {amqp_exchange!r}")
    flavour = f"{config}, without the extension" if without_extension else config
    typer.echo(f"1C emulator ({flavour}) at http://{host}:{port}/{base}/odata/standard.odata/")
    try:
        uvicorn.run(asgi, host=host, port=port, log_level="warning")
    finally:
        if publisher is not None:
            publisher.close()  # sends what is still queued
