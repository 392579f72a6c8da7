"""Seed data from JSON or YAML: ``{<EntitySet>: [<object as an OData POST body>, ...], ...}``.

Objects are created through the same rules as a POST (so a fixture cannot hold what 1C would not
accept), in file order, without registering them in the exchange plan (seed data is the state the
base had before the middleware connected). A document with ``Posted: true`` is posted after it is
created. An object whose ``Ref_Key`` already exists is skipped, so loading is idempotent.
``demo`` names the fixture shipped for the configuration (``fixtures/demo_<config>.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from . import registers
from .objects import ObjectWriter
from .odata.errors import ODataError
from .odata.values import parse_guid
from .schema import Config
from .store import Store

FIXTURE_DIR = Path(__file__).parent / "fixtures"


class FixtureError(ValueError):
    """The fixture document is malformed or names something the configuration lacks."""


@dataclass
class FixtureReport:
    created: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    posted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "skipped": self.skipped, "posted": self.posted}


def demo_path(config: Config) -> Path:
    return FIXTURE_DIR / f"demo_{config.name}.yaml"


def read_fixtures(source: str | Path, config: Config) -> dict[str, list[dict[str, Any]]]:
    """Read a fixture file (``demo`` = the shipped one for the configuration)."""
    path = demo_path(config) if str(source) == "demo" else Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FixtureError(f"cannot read fixtures {path}: {exc}") from None
    return parse_fixtures(text)


def parse_fixtures(text: str | bytes) -> dict[str, list[dict[str, Any]]]:
    """YAML or JSON (JSON is YAML) into ``{set: [objects]}``; dates and numbers become literals."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FixtureError(f"fixtures are neither JSON nor YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise FixtureError("fixtures must map entity set names to lists of objects")
    return {str(k): [_literal(obj) for obj in v] for k, v in raw.items()}


def _literal(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0).isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    if isinstance(value, Decimal):
        return str(value)
    return value


def load_fixtures(store: Store, config: Config, data: dict[str, list[dict[str, Any]]]) -> FixtureReport:
    """Create the objects in one transaction; all or nothing."""
    writer = ObjectWriter(config)
    report = FixtureReport()
    with store.begin() as tx:
        tx.listeners = []  # seed data is not registered in the exchange plan
        for set_name, items in data.items():
            eset = config.entity_sets.get(set_name)
            if eset is None or eset.kind == "exchange_plan":
                raise FixtureError(f"fixtures: {set_name} is not a catalog or document of {config.name}")
            for item in items:
                if not isinstance(item, dict):
                    raise FixtureError(f"fixtures: {set_name} holds a non-object {item!r}")
                ref = parse_guid(str(item.get("Ref_Key", "")))
                if ref is not None and tx.get(set_name, ref) is not None:
                    report.skipped += 1
                    continue
                try:
                    doc = tx.insert(set_name, writer.new(tx, eset, item))
                    if eset.kind == "document" and item.get("Posted") is True:
                        registers.post(tx, config, eset, doc)
                        report.posted += 1
                except ODataError as exc:
                    raise FixtureError(
                        f"fixtures: {set_name} {item.get('Ref_Key', '')}: {exc.message}"
                    ) from None
                report.created[set_name] = report.created.get(set_name, 0) + 1
    return report
