"""``bonusbridge points``: show the program, quote a basket from a file, add a version or a campaign,
end a campaign, list the staff audit.

Adding is validated as the engine computes: unknown settings, floats, a version effective in the
past (a closed period) and campaigns contradicting existing ones are refused with the reason, and
nothing is written. Every change goes through ``points.editing``, as the staff pages' do: it needs
``--by`` and ``--reason`` and is written with its audit row (``bonusbridge points audit``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from bonusbridge import audit
from bonusbridge.app import build_hub
from bonusbridge.errors import BonusBridgeError
from bonusbridge.points import editing, store
from bonusbridge.points.members_cli import members_app
from bonusbridge.points.multipliers import CustomerFacts
from bonusbridge.points.program import parse_instant
from bonusbridge.points.quote import Basket, Line, Wallet, quote
from bonusbridge.points.tiers_cli import tiers_app
from bonusbridge.settings import settings_or_exit

app = typer.Typer(help="The points engine: program versions, campaigns, quotes.", no_args_is_help=True)
version_app = typer.Typer(help="Program versions (rules by effective date).", no_args_is_help=True)
campaign_app = typer.Typer(help="Campaigns multiplying points.", no_args_is_help=True)
app.add_typer(version_app, name="version")
app.add_typer(campaign_app, name="campaign")
app.add_typer(members_app, name="members")


def _read(path: Path) -> dict[str, Any]:
    # YAML's own floats would lose exactness: numbers are read as strings.
    text = path.read_text(encoding="utf-8")
    loaded = json.loads(text, parse_float=str) if path.suffix == ".json" else yaml.load(text, Loader=_Exact)
    if not isinstance(loaded, dict):
        raise typer.BadParameter(f"{path}: a mapping of settings is expected")
    return loaded


class _Exact(yaml.SafeLoader):
    """SafeLoader reading floats and timestamps as their text (Decimal and ISO parsing do the rest)."""


def _as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_Exact.add_constructor("tag:yaml.org,2002:float", _as_text)
_Exact.add_constructor("tag:yaml.org,2002:timestamp", _as_text)


def _fail(exc: BonusBridgeError) -> None:
    typer.echo(f"refused ({exc.code}): {exc}", err=True)
    raise typer.Exit(1)


@app.command("show")
def show() -> None:
    """Every version (effective date and rules) and every campaign, as JSON."""
    hub = build_hub(settings_or_exit())
    with hub.engine.connect() as conn:
        program = store.load(conn, hub.settings)
    out = {
        "versions": [
            {"id": v.id, "effective_from": v.effective_from.isoformat(), "rules": v.rules.to_json()}
            for v in program.versions
        ],
        "campaigns": [c.to_json() for c in program.campaigns],
    }
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


@app.command("quote")
def quote_file(path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Quote a basket: JSON with ``lines`` (sku, quantity, price, discount, category, brand,
    vat_rate), optional ``at``, ``currency``, ``vouchers``, ``points_to_spend``, ``balance``,
    ``birth_date``, ``first_purchase``."""
    raw = _read(path)
    hub = build_hub(settings_or_exit())
    try:
        with hub.engine.connect() as conn:
            program = store.load(conn, hub.settings)
        lines = [
            Line(
                str(line["sku"]),
                Decimal(str(line["quantity"])),
                Decimal(str(line["price"])),
                Decimal(str(line.get("discount", "0"))),
                line.get("category"),
                line.get("brand"),
                Decimal(str(line.get("vat_rate", "0"))),
            )
            for line in raw.get("lines", [])
        ]
        at = parse_instant("at", raw["at"]) if raw.get("at") else datetime.now(UTC)
        born = raw.get("birth_date")
        result = quote(
            program,
            Basket(
                lines,
                at,
                raw.get("currency"),
                Decimal(str(raw.get("vouchers", "0"))),
                Decimal(str(raw.get("points_to_spend", "0"))),
            ),
            CustomerFacts(
                birth_date=datetime.fromisoformat(str(born)).date() if born else None,
                first_purchase=bool(raw.get("first_purchase", False)),
            ),
            Wallet(Decimal(str(raw.get("balance", "0")))),
        )
    except BonusBridgeError as exc:
        _fail(exc)
        return
    out = {
        "program_version": result.version_id,
        "total": f"{result.total:.2f}",
        "points": f"{result.points:.2f}",
        "points_value": f"{result.points_value:.2f}",
        "max_spend_points": f"{result.max_spend_points:.2f}",
        "max_spend_value": f"{result.max_spend_value:.2f}",
        "spend_refused": result.spend_refused,
        "rule": result.rule,
        "lines": [
            {
                "sku": line.sku,
                "points": f"{line.points:.2f}",
                "multiplier": str(line.multiplier),
                "rules": line.rules,
            }
            for line in result.lines
        ],
    }
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


def _required(raw: dict[str, Any], name: str) -> None:
    # A file names its moment: "from now" is the staff form's convenience, not a file's default.
    if raw.get(name) in (None, ""):
        typer.echo(f"refused (invalid_program_rules): {name} is required (ISO 8601 with offset)", err=True)
        raise typer.Exit(1)


@version_app.command("add")
def add_version(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    actor: str = typer.Option(..., "--by", help="Who makes the change (kept with the version)."),
    reason: str = typer.Option(..., "--reason", "--note", help="Why (kept as the version's note, audited)."),
) -> None:
    """Add a version from YAML/JSON: ``effective_from`` (with offset, not in the past) and the
    settings that change; the others carry over from the latest version."""
    raw = _read(path)
    _required(raw, "effective_from")
    hub = build_hub(settings_or_exit())
    try:
        with hub.engine.begin() as conn:
            edit = editing.add_version(
                conn, hub.settings, raw, now=datetime.now(UTC), actor=actor, reason=reason
            )
    except BonusBridgeError as exc:
        _fail(exc)
        return
    changed = ", ".join(sorted(edit.details["changes"])) or "nothing"
    typer.echo(f"version {edit.version_id} added (changes: {changed})")


@campaign_app.command("end")
def end_campaign(
    code: Annotated[str, typer.Argument(help="The campaign's code.")],
    actor: str = typer.Option(..., "--by", help="Who makes the change."),
    reason: str = typer.Option(..., "--reason", help="Why (audited)."),
    at: str | None = typer.Option(None, "--at", help="When it ends (ISO 8601 with offset); default now."),
) -> None:
    """End a running or scheduled campaign now or at a later moment (never in the past, only
    sooner than planned); ended before it starts, it is cancelled."""
    hub = build_hub(settings_or_exit())
    try:
        moment = parse_instant("at", at) if at else None
        with hub.engine.begin() as conn:
            edit = editing.end_campaign(
                conn, hub.settings, code, now=datetime.now(UTC), actor=actor, reason=reason, at=moment
            )
    except BonusBridgeError as exc:
        _fail(exc)
        return
    ends = edit.details["ends_at"][1]
    typer.echo(f"campaign {code} cancelled" if ends is None else f"campaign {code} ends at {ends}")


@app.command("audit")
def audit_list(
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="How many entries, newest first."),
    action: str | None = typer.Option(None, "--action", help="Only actions starting so (program.)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
) -> None:
    """The staff audit trail: who changed what, when and why (program versions, campaigns…)."""
    hub = build_hub(settings_or_exit())
    with hub.engine.connect() as conn:
        found = audit.entries(conn, action_prefix=action, limit=limit)
    for entry in found:
        if as_json:
            line = {
                "id": entry.id,
                "at": entry.at.isoformat(),
                "actor": entry.actor,
                "action": entry.action,
                "subject": entry.subject,
                "reason": entry.reason,
                "details": entry.details,
            }
            typer.echo(json.dumps(line, ensure_ascii=False, sort_keys=True))
        else:
            when = entry.at.isoformat(timespec="seconds")
            typer.echo(f"{entry.id:>6} {when:<25} {entry.actor:<20} {entry.action:<22} {entry.subject:<24} "
                       f"{entry.reason or ''}")  # fmt: skip


@campaign_app.command("add")
def add_campaign(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    actor: str = typer.Option(..., "--by", help="Who makes the change."),
    reason: str = typer.Option(..., "--reason", help="Why (audited)."),
) -> None:
    """Add a campaign from YAML/JSON (code, multiplier, starts_at, ends_at, weekdays, hours,
    categories, brands, skus, cities, regions, tiers, programs)."""
    raw = _read(path)
    _required(raw, "starts_at")
    hub = build_hub(settings_or_exit())
    try:
        with hub.engine.begin() as conn:
            edit = editing.add_campaign(
                conn, hub.settings, raw, now=datetime.now(UTC), actor=actor, reason=reason
            )
    except BonusBridgeError as exc:
        _fail(exc)
        return
    typer.echo(f"{edit.subject.replace(':', ' ')} added")


app.add_typer(tiers_app, name="tiers")
