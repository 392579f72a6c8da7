"""``bonusbridge run-demo``: start the whole demo on the embedded default and wait for Ctrl-C."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import typer

app = typer.Typer(help="The demo: emulated 1C, sync, SMS and the personal cabinet in one process.")


@app.callback(invoke_without_command=True)
def run_demo(
    port: int = typer.Option(8000, help="Port of the personal cabinet."),
    onec_port: int = typer.Option(8081, help="Port of the emulated 1C."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    var: Path = typer.Option(Path("var"), help="Folder of the demo's databases and SMS file."),  # noqa: B008
) -> None:
    """Start from a fresh demo state, print where to go and the demo phones, serve until stopped."""
    from demo.stack import running_demo

    # The change feed is polled every second: its request log would bury the SMS codes printed here.
    for chatty in ("connectors.onec.odata", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        with running_demo(var, onec_port=onec_port, cabinet_port=port, host=host) as demo:
            for line in demo.seeded:
                typer.echo(f"  seeded: {line}")
            typer.echo(demo.banner())
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: demo.stop.set())
            demo.stop.wait()
    except OSError as exc:
        typer.echo(f"bonusbridge run-demo: cannot listen ({exc}); try --port / --onec-port", err=True)
        raise typer.Exit(2) from None
    typer.echo("demo stopped")
