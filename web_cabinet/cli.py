"""``bonusbridge serve``: the cabinet (pages, shop API, SMS callbacks) under uvicorn.

Registered through the ``bonusbridge.commands`` entry-point group, like the emulator's command.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="The customers' cabinet and the shop API.")


@app.callback(invoke_without_command=True)
def serve(
    host: str | None = typer.Option(None, help="Interface to bind (default: BONUSBRIDGE_CABINET_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: BONUSBRIDGE_CABINET_PORT)."),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes."),
) -> None:
    """Serve the cabinet at http://HOST:PORT/ (behind a proxy: it trusts X-Forwarded-Proto)."""
    import uvicorn

    from bonusbridge.privacy import configure_logging
    from bonusbridge.settings import settings_or_exit

    settings = settings_or_exit()
    configure_logging()
    bind_host = host or settings.cabinet_host
    bind_port = port or settings.cabinet_port
    typer.echo(f"BonusBridge cabinet on http://{bind_host}:{bind_port}/")
    if workers > 1:
        uvicorn.run(
            "web_cabinet.app:create_app",
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=workers,
            proxy_headers=True,
        )
        return
    from web_cabinet.app import create_app

    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, proxy_headers=True)
