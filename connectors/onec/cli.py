"""``bonusbridge onec ...``: commands about the connection to 1C.

``bonusbridge onec ping`` checks each channel against the configured 1C and prints one line per
channel (``OK`` or ``FAIL <reason>``); it exits 0 only when every channel available in this build
works. It reads and never writes: the change feed check lists the exchange plan's nodes instead of
calling SelectChanges (which would stamp registrations with a message number), and for RabbitMQ
only declares the exchange passively.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import typer

from bonusbridge.settings import Settings, settings_or_exit

from .errors import OneCError
from .odata import ENTITY_SETS, ODataClient

app = typer.Typer(help="The connection to 1C:Enterprise.", no_args_is_help=True)


def _kombu() -> Any:
    """kombu, imported lazily (only the AMQP variant needs a broker) and typed as Any: it ships
    partial annotations that strict mypy cannot check against."""
    return importlib.import_module("kombu")


@dataclass(frozen=True)
class ChannelStatus:
    channel: str
    status: str  # OK, FAIL, N/A
    detail: str = ""

    def line(self) -> str:
        return f"{self.channel:<13} {self.status}" + (f" {self.detail}" if self.detail else "")


def _reason(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, OneCError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


def check_odata(settings: Settings) -> str:
    sets = ENTITY_SETS[settings.onec_config]
    with ODataClient.from_settings(settings) as client:
        published = client.service_document()
        if sets.cards not in published:
            raise OneCError(f"{sets.cards} is not published in OData (configuration {settings.onec_config}?)")
        client.list(sets.cards, top=1, select=["Ref_Key"])
    return f"{client.root} ({len(published)} entity sets, {sets.cards} readable)"


def check_change_feed(settings: Settings) -> str:
    if settings.onec_change_feed == "amqp":
        kombu = _kombu()

        with kombu.Connection(settings.onec_amqp_url, connect_timeout=settings.onec_timeout_seconds) as conn:
            conn.ensure_connection(max_retries=1)
            kombu.Exchange(settings.onec_amqp_exchange, type="topic", passive=True)(
                conn.default_channel
            ).declare()
        return f"amqp exchange {settings.onec_amqp_exchange} exists"
    with ODataClient.from_settings(settings) as client:
        node = client.exchange_node(settings.onec_exchange_plan, settings.onec_exchange_node)
    if node is None:
        raise OneCError(
            f"exchange plan {settings.onec_exchange_plan} has no node {settings.onec_exchange_node!r}"
        )
    return f"select_changes node {node.code} ({node.ref}), last sent message {node.sent_no}"


def _optional_ping(module_name: str) -> Callable[[Settings], Any] | None:
    """The ``ping(settings)`` of an optional client module, or None when this build lacks it."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return None
        raise
    ping: Callable[[Settings], Any] | None = getattr(module, "ping", None)
    return ping


def run_checks(settings: Settings) -> list[ChannelStatus]:
    checks: list[tuple[str, Callable[[Settings], Any] | None]] = [
        ("odata", check_odata),
        ("soap", _optional_ping("connectors.onec.soap_client")),
        ("http-service", _optional_ping("connectors.onec.hs_client")),
        ("change-feed", check_change_feed),
    ]
    results = []
    for channel, check in checks:
        if check is None:
            results.append(ChannelStatus(channel, "N/A", "not available in this build"))
            continue
        try:
            detail = check(settings)
        except Exception as exc:
            results.append(ChannelStatus(channel, "FAIL", _reason(exc)))
        else:
            results.append(_status(channel, detail))
    return results


def _status(channel: str, detail: Any) -> ChannelStatus:
    """A check returns a detail string, True/None, or ``(ok, detail)``; raising means FAIL."""
    if isinstance(detail, tuple) and len(detail) == 2 and isinstance(detail[0], bool):
        ok, detail = detail
        if not ok:
            return ChannelStatus(channel, "FAIL", str(detail))
    if detail is False:
        return ChannelStatus(channel, "FAIL", "check failed")
    return ChannelStatus(channel, "OK", "" if detail in (None, True) else str(detail))


@app.command("ping")
def ping(as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")) -> None:
    """Check OData, SOAP, the HTTP service and the change feed against the configured 1C."""
    settings = settings_or_exit()
    results = run_checks(settings)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=2))
    else:
        typer.echo(f"1C at {settings.onec_base_url} as {settings.onec_username!r} ({settings.onec_config})")
        for result in results:
            typer.echo(result.line())
    if any(r.status == "FAIL" for r in results):
        raise typer.Exit(1)
