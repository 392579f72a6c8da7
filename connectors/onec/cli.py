"""``bonusbridge onec ...``: commands about the connection to 1C.

``bonusbridge onec ping`` checks each channel against the configured 1C and prints one line per
channel (``OK``, ``WARN <what>`` or ``FAIL <reason>``); it exits 0 only when every channel available
in this build works. It reads and never writes (unless ``--write-probe``): the change feed check
lists the exchange plan's nodes instead of calling SelectChanges (which would stamp registrations
with a message number), and for RabbitMQ only declares the exchange passively.

Two checks are about what the mapping needs rather than a channel:

- ``mapping``: ``$metadata`` (read with its own larger limits: a real УТ's is ~17 MB) must publish
  every object and field the mapping profile reads or writes. 1C's ``$metadata`` types an enum as
  ``Edm.String`` and lists no values, so the enum values the profile writes (the card status
  ``ТолькоНакопление``, which a standard УТ 11 lacks without the chain's extension) are checked by
  evidence: a delivery 1C refused ("Неверное значение перечисления", parked by the sync) fails the
  check naming the value; a value some 1C object already holds is there; a hub holding cards with
  that status linked to 1C while 1C holds none is a warning.
- ``clock``: 1C's dates carry no zone, so ``BONUSBRIDGE_ONEC_TIMEZONE`` must be the zone 1C's server
  stamps them in. The check compares the latest till receipts' ``Date`` (read in that zone) with the
  time the hub stored them (seconds apart when the zone is right), and with ``--write-probe`` a
  fresh write's: an unposted bonus document marked for deletion and without rows (it moves no points)
  whose ``Date`` 1C stamps. An offset of a quarter of an hour or more fails loudly, naming it.
"""

from __future__ import annotations

import importlib
import json
import re
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
    status: str  # OK, WARN, FAIL, N/A
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


# --- what the mapping needs -----------------------------------------------------------------------

_EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"


def metadata_properties(text: str) -> dict[str, set[str]]:
    """``$metadata``'s entity sets (and tabular sections' row types, ``<Set>_<Section>_RowType``)
    with their property names."""
    from defusedxml import ElementTree

    root = ElementTree.fromstring(text.encode("utf-8"))
    found: dict[str, set[str]] = {}
    for tag in ("EntityType", "ComplexType"):
        for node in root.iter(f"{_EDM}{tag}"):
            names = {p.get("Name", "") for p in node.iter(f"{_EDM}Property")}
            names |= {p.get("Name", "") for p in node.iter(f"{_EDM}NavigationProperty")}
            found[str(node.get("Name"))] = names
    return found


def _needed(profile: Any) -> dict[str, set[str]]:
    """The 1C objects and fields the profile reads or writes (the document rows' own sets too)."""
    needed: dict[str, set[str]] = {}

    def add(entity_set: str, rules: Any) -> None:
        fields = needed.setdefault(entity_set, set())
        for rule in rules:
            fields.update(rule.onec)

    add(profile.customer.entity_set, profile.customer.rules)
    add(profile.card.entity_set, profile.card.rules)
    for document in (profile.movement, profile.receipt):
        add(document.entity_set, document.header.rules)
        rows = needed.setdefault(f"{document.entity_set}_{document.rows_section}_RowType", set())
        rows.update(name for rule in document.rows.rules if rule.writes or rule.reads for name in rule.onec)
    needed[profile.movement.entity_set].add(profile.movement.operation_field)
    return needed


def _hub_engine(settings: Settings) -> Any:
    """The hub's database engine for the evidence checks, or None when there is no hub database
    here (an SQLite file that does not exist is not created by a ping)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from bonusbridge.db import create_db_engine

    url = make_url(settings.database_url)
    missing = not url.database or url.database == ":memory:" or not Path(url.database).is_file()
    if url.get_backend_name() == "sqlite" and missing:
        return None
    return create_db_engine(settings.database_url)


def _refused_values(settings: Settings) -> list[str]:
    """What 1C refused of the hub's deliveries as a value its configuration lacks (parked rows)."""
    try:
        from sqlalchemy import select

        from bonusbridge.models import OutboxMessage, SyncState

        engine = _hub_engine(settings)
        if engine is None:
            return []
        try:
            with engine.connect() as conn:
                return [
                    str(error)
                    for error in conn.scalars(
                        select(OutboxMessage.last_error)
                        .where(
                            OutboxMessage.state == SyncState.PARKED,
                            OutboxMessage.last_error.like("onec_value_rejected%"),
                        )
                        .order_by(OutboxMessage.id.desc())
                        .limit(20)
                    )
                ]
        finally:
            engine.dispose()
    except Exception:  # the hub's database is not reachable from here: no evidence, not a failure
        return []


def _hub_cards_with(settings: Settings, status: str) -> int | None:
    try:
        from sqlalchemy import func, select

        from bonusbridge.models import Card

        engine = _hub_engine(settings)
        if engine is None:
            return None
        try:
            with engine.connect() as conn:
                return int(
                    conn.scalar(
                        select(func.count())
                        .select_from(Card)
                        .where(Card.status == status, Card.onec_ref.is_not(None))
                    )
                    or 0
                )
        finally:
            engine.dispose()
    except Exception:
        return None


def check_mapping(settings: Settings) -> tuple[bool, str] | str:
    """The objects, fields and enum values the mapping profile needs are in 1C (see the module)."""
    from mapping.profile import load_profile

    from .filters import F

    profile = load_profile(settings.onec_config, tz=settings.onec_zone)
    with ODataClient.from_settings(settings) as client:
        published = metadata_properties(client.metadata())
        problems: list[str] = []
        notes: list[str] = []
        for entity_set, fields in _needed(profile).items():
            if entity_set not in published:
                problems.append(f"{entity_set.removesuffix('_RowType')} is not published in OData")
                continue
            missing = sorted(fields - published[entity_set])
            if missing and entity_set.endswith("_RowType"):
                # A document row's proposed columns (the points' dates): 1C ignores unknown fields
                # in a body, and the hub then keeps its own dates.
                notes.append(f"{entity_set.removesuffix('_RowType')} has no {', '.join(missing)} (ignored)")
            elif missing:
                problems.append(f"{entity_set} lacks {', '.join(missing)}")
        warnings: list[str] = []
        status_field = profile.card.onec_field("status")
        status_map = profile.enums.get("card_status")
        refused = _refused_values(settings)
        card_fields = published.get(profile.card.entity_set, set())
        if status_field and status_map is not None and status_field in card_fields:
            for hub_value, onec_value in status_map.to_onec.items():
                named = re.compile(rf"(?<!\w){re.escape(onec_value)}(?!\w)")
                if any(named.search(error) for error in refused):
                    problems.append(
                        f"1C refused the card status {onec_value!r} ({status_field}: its configuration "
                        f"lacks that enum value — the chain's extension); the hub's deliveries of it are "
                        f"parked (`sync dlq --parked`), and the lock is enforced only where the hub is "
                        f"asked (quote, checkout, POST /api/v1/onec/quote)"
                    )
                    continue
                held = client.list(
                    profile.card.entity_set, filter=F.eq(status_field, onec_value), top=1, select=["Ref_Key"]
                )
                if held:
                    continue
                cards = _hub_cards_with(settings, str(hub_value))
                if cards:
                    warnings.append(
                        f"the hub has {cards} card(s) {hub_value} linked to 1C, 1C none with "
                        f"{status_field} {onec_value!r} (missing extension, or not delivered yet)"
                    )
    if problems:
        return False, "; ".join(problems)
    checked = f"{sum(len(v) for v in _needed(profile).values())} fields of {len(_needed(profile))} objects"
    if warnings:
        return False, "WARN " + "; ".join(warnings)
    extra = "".join(f"; {note}" for note in notes)
    return f"{checked} published{extra}; enum values: none refused (1C's $metadata lists no enum values)"


#: An offset at least this large between 1C's clock (read in the configured zone) and the hub's.
CLOCK_TOLERANCE_SECONDS = 15 * 60


def _offset_text(seconds: float) -> str:
    hours = seconds / 3600
    side = "behind" if seconds < 0 else "ahead of"
    return f"{abs(hours):.1f} h {side}"


def _receipt_offsets(settings: Settings, profile: Any) -> list[float]:
    """For the latest till receipts the hub stored: 1C's ``Date`` (read in the configured zone)
    minus the time the hub stored it, in seconds. Tills stamp receipts at once, so with the right
    zone these are the feed's lag: seconds."""
    try:
        import json as _json

        from sqlalchemy import select

        from bonusbridge.models import InboxMessage
        from mapping.dates import from_onec_datetime

        engine = _hub_engine(settings)
        if engine is None:
            return []
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(InboxMessage.payload, InboxMessage.received_at)
                    .where(InboxMessage.entity_set == profile.receipt.entity_set)
                    .order_by(InboxMessage.id.desc())
                    .limit(20)
                ).all()
        finally:
            engine.dispose()
    except Exception:
        return []
    offsets = []
    for payload, received_at in rows:
        try:
            stamped = from_onec_datetime(_json.loads(payload).get("Date"), settings.onec_zone)
        except (ValueError, TypeError, AttributeError):
            continue
        if stamped is None or received_at is None:
            continue
        if received_at.tzinfo is None:
            from datetime import UTC

            received_at = received_at.replace(tzinfo=UTC)
        offsets.append((stamped - received_at).total_seconds())
    return offsets


def _write_probe_offset(settings: Settings, profile: Any) -> float:
    """A fresh write's ``Date`` as 1C stamps it (read in the configured zone) minus now: an
    unposted bonus document without rows, marked for deletion (it moves no points)."""
    from datetime import UTC, datetime

    from mapping.dates import from_onec_datetime

    with ODataClient.from_settings(settings) as client:
        before = datetime.now(UTC)
        created = client.create(
            profile.movement.entity_set,
            {
                profile.movement.operation_field: profile.movement.credit,
                "Комментарий": "bonusbridge onec ping: clock check (no points, marked for deletion)",
                "DeletionMark": True,
            },
        )
        after = datetime.now(UTC)
    stamped = from_onec_datetime(str(created.get("Date") or ""), settings.onec_zone)
    if stamped is None:
        raise OneCError("1C stamped no Date on a new document: the clock cannot be compared")
    middle = before + (after - before) / 2
    return (stamped - middle).total_seconds()


def check_clock(settings: Settings, *, write_probe: bool = False) -> tuple[bool, str] | str:
    """1C's clock read in ``BONUSBRIDGE_ONEC_TIMEZONE`` agrees with the hub's (see the module)."""
    from statistics import median

    from mapping.profile import load_profile

    profile = load_profile(settings.onec_config, tz=settings.onec_zone)
    zone = settings.onec_timezone
    evidence: list[tuple[str, float]] = []
    if write_probe:
        evidence.append(("a fresh write", _write_probe_offset(settings, profile)))
    offsets = _receipt_offsets(settings, profile)
    if offsets:
        evidence.append((f"the latest {len(offsets)} till receipt(s)", median(offsets)))
    if not evidence:
        return (
            f"zone {zone}: nothing to compare yet (no till receipt stored; "
            "`onec ping --write-probe` compares a fresh write's time)"
        )
    wrong = [(what, offset) for what, offset in evidence if abs(offset) >= CLOCK_TOLERANCE_SECONDS]
    if wrong:
        what, offset = wrong[0]
        return False, (
            f"!!! 1C's clock read in BONUSBRIDGE_ONEC_TIMEZONE={zone} is {_offset_text(offset)} the hub's "
            f"({what}): 1C's server stamps another zone. Every 1C date is then misread by that much "
            "(backdated-document checks, conflicts' \"newer\"); set BONUSBRIDGE_ONEC_TIMEZONE to 1C's zone"
        )
    what, offset = evidence[0]
    return f"zone {zone} matches 1C's clock ({what}: {offset:+.0f} s)"


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


def run_checks(settings: Settings, *, write_probe: bool = False) -> list[ChannelStatus]:
    checks: list[tuple[str, Callable[[Settings], Any] | None]] = [
        ("odata", check_odata),
        ("soap", _optional_ping("connectors.onec.soap_client")),
        ("http-service", _optional_ping("connectors.onec.hs_client")),
        ("change-feed", check_change_feed),
        ("mapping", check_mapping),
        ("clock", lambda s: check_clock(s, write_probe=write_probe)),
    ]
    results = []
    for channel, check in checks:
        if check is None:
            results.append(ChannelStatus(channel, "N/A", "not available in this build"))
            continue
        if channel == "mapping" and results and results[0].status == "FAIL":
            # $metadata comes from the same OData service: not read again to fail the same way.
            results.append(ChannelStatus(channel, "N/A", "needs OData, which failed"))
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
        if not ok and str(detail).startswith("WARN "):
            return ChannelStatus(channel, "WARN", str(detail).removeprefix("WARN "))
        if not ok:
            return ChannelStatus(channel, "FAIL", str(detail))
    if detail is False:
        return ChannelStatus(channel, "FAIL", "check failed")
    return ChannelStatus(channel, "OK", "" if detail in (None, True) else str(detail))


@app.command("ping")
def ping(
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    write_probe: bool = typer.Option(
        False,
        "--write-probe",
        help="Also compare a fresh write's time with the hub's clock (writes one unposted, "
        "deletion-marked bonus document without rows).",
    ),
) -> None:
    """Check OData, SOAP, the HTTP service, the change feed, what the mapping needs and 1C's clock."""
    settings = settings_or_exit()
    results = run_checks(settings, write_probe=write_probe)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=2))
    else:
        typer.echo(f"1C at {settings.onec_base_url} as {settings.onec_username!r} ({settings.onec_config})")
        for result in results:
            typer.echo(result.line())
    if any(r.status == "FAIL" for r in results):
        raise typer.Exit(1)
