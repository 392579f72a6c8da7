"""The emulated configuration's metadata, loaded from ``configs/<name>.yaml``.

Everything the OData layer, the store, posting and ``$metadata`` need to know about an object kind
lives here, so adding a configuration is a YAML file and not code. Field declarations use a short
form (see the comment at the top of ``configs/retail.yaml``); this module expands it into the wire
fields real 1C exposes: the standard ones (``Ref_Key``, ``DataVersion`` ...) first, then the
configuration's own, with references turned into ``X_Key`` plus a navigation property ``X``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml

CONFIG_DIR = Path(__file__).parent / "configs"
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
NAMESPACE = "StandardODATA"

Kind = Literal["catalog", "document", "exchange_plan"]
EdmType = Literal["Edm.String", "Edm.Decimal", "Edm.Boolean", "Edm.DateTime", "Edm.Int64", "Edm.Guid"]


class ConfigError(ValueError):
    """The configuration YAML is malformed; the message says where."""


@dataclass(frozen=True)
class Field:
    """One wire field. ``ref`` names the target entity set of a reference (``X_Key``); ``nav`` is the
    navigation property name when the target is published here; ``composite`` marks the guid half of a
    composite-type field (its ``X_Type`` sibling is a plain string field)."""

    name: str
    edm: EdmType
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    default: Any = None
    ref: str | None = None
    nav: str | None = None
    enum: str | None = None
    composite: tuple[str, ...] = ()

    @property
    def is_reference(self) -> bool:
        return self.ref is not None or bool(self.composite)

    def empty(self) -> Any:
        """The value 1C shows for an unfilled field of this type."""
        if self.default is not None:
            return self.default
        if self.edm == "Edm.Guid":
            return EMPTY_REF
        if self.edm == "Edm.DateTime":
            return EMPTY_DATE
        if self.edm == "Edm.Boolean":
            return False
        if self.edm == "Edm.Decimal":
            return "0"
        if self.edm == "Edm.Int64":
            return 0
        if self.composite:
            return EMPTY_REF
        return ""


ROW_PREFIX = "row."


@dataclass(frozen=True)
class PostingRule:
    """What posting a document writes: one record in ``register`` per row of section ``rows``.

    ``when`` picks the rule: a key ``<field>`` is compared with the document header, a key
    ``row.<field>`` with each tabular row (rows that do not match write nothing). Sources of
    ``dimensions`` and ``resources`` are ``<field>`` (header) or ``row.<field>`` (the row)."""

    register: str
    record_type: Literal["Receipt", "Expense"]
    rows: str
    when: dict[str, Any]
    dimensions: dict[str, str]
    resources: dict[str, str]
    period: str = "Date"

    @property
    def header_when(self) -> dict[str, Any]:
        return {k: v for k, v in self.when.items() if not k.startswith(ROW_PREFIX)}

    @property
    def row_when(self) -> dict[str, Any]:
        return {k[len(ROW_PREFIX) :]: v for k, v in self.when.items() if k.startswith(ROW_PREFIX)}


@dataclass
class EntitySet:
    """A catalog, document or exchange plan: its wire fields in 1C's order and its tabular sections."""

    name: str
    kind: Kind
    fields: dict[str, Field]
    sections: dict[str, dict[str, Field]] = field(default_factory=dict)
    code_length: int = 0
    number_length: int = 0
    number_prefix: str = ""
    posting: list[PostingRule] = field(default_factory=list)
    # Attributes with 1C's "Индексировать": the store keeps a lookup by value (``Tx.find``).
    indexed: tuple[str, ...] = ()

    def section_set_name(self, section: str) -> str:
        return f"{self.name}_{section}"

    def row_fields(self, section: str) -> dict[str, Field]:
        """Fields of one tabular-section row: ``Ref_Key`` (the owner), ``LineNumber``, then its own."""
        standard = [Field("Ref_Key", "Edm.Guid", ref=self.name), Field("LineNumber", "Edm.Int64")]
        return {f.name: f for f in [*standard, *self.sections[section].values()]}


@dataclass
class Register:
    """An accumulation register: records by ``Recorder``; ``Balance`` only for ``kind: balance``."""

    name: str
    kind: Literal["balance", "turnovers"]
    dimensions: dict[str, Field]
    resources: dict[str, Field]

    @property
    def row_set_name(self) -> str:
        return f"{self.name}_RecordType"

    def row_fields(self) -> dict[str, Field]:
        """Fields of one record (``AccumulationRegister_X_RecordType``)."""
        standard = [
            Field("Recorder", "Edm.String", composite=("Document",)),
            Field("Recorder_Type", "Edm.String"),
            Field("Period", "Edm.DateTime"),
            Field("LineNumber", "Edm.Int64"),
            Field("Active", "Edm.Boolean", default=True),
            Field("RecordType", "Edm.String", default="Receipt"),
        ]
        return {f.name: f for f in [*standard, *self.dimensions.values(), *self.resources.values()]}

    def turnover_fields(self) -> dict[str, Field]:
        """Fields of a ``Turnovers(...)`` row: the dimensions, then per resource ``<R>Receipt`` and
        ``<R>Expense`` (balance registers only) and ``<R>Turnover``."""
        out = dict(self.dimensions)
        parts = ("Receipt", "Expense", "Turnover") if self.kind == "balance" else ("Turnover",)
        for res in self.resources.values():
            for part in parts:
                out[res.name + part] = Field(res.name + part, "Edm.Decimal", precision=res.precision)
        return out

    def balance_and_turnover_fields(self) -> dict[str, Field]:
        """Fields of a ``BalanceAndTurnovers(...)`` row: the dimensions, then per resource
        ``<R>OpeningBalance``, ``<R>Receipt``, ``<R>Expense``, ``<R>Turnover``, ``<R>ClosingBalance``."""
        out = dict(self.dimensions)
        for res in self.resources.values():
            for part in ("OpeningBalance", "Receipt", "Expense", "Turnover", "ClosingBalance"):
                out[res.name + part] = Field(res.name + part, "Edm.Decimal", precision=res.precision)
        return out

    def balance_fields(self) -> dict[str, Field]:
        """Fields of a ``Balance(...)`` row: the dimensions and ``<Resource>Balance``."""
        out = dict(self.dimensions)
        for res in self.resources.values():
            out[res.name + "Balance"] = Field(res.name + "Balance", "Edm.Decimal", precision=res.precision)
        return out


@dataclass(frozen=True)
class Node:
    ref: str
    code: str
    description: str
    this_node: bool = False


@dataclass
class ExchangePlan:
    name: str
    nodes: list[Node]
    content: list[str]
    # In the plan (registered on writes) but not published in OData: SelectChanges skips these
    # registrations and leaves them queued, as observed on real bases.
    unpublished: list[str] = field(default_factory=list)

    def node_by_code(self, code: str) -> Node | None:
        return next((n for n in self.nodes if n.code == code), None)


@dataclass(frozen=True)
class User:
    name: str
    password: str
    node: str | None = None
    read_only: bool = False


@dataclass
class Config:
    name: str
    title: str
    enums: dict[str, list[str]]
    entity_sets: dict[str, EntitySet]
    registers: dict[str, Register]
    exchange_plan: ExchangePlan | None
    users: list[User]
    #: What the chain's configuration extension adds (``extension:`` in the YAML): its name and the
    #: enum values it brings. ``without_extension`` gives the standard configuration.
    extension_name: str | None = None
    extension_values: dict[str, list[str]] = field(default_factory=dict)
    #: The attributes the extension adds to objects: entity set → field names.
    extension_fields: dict[str, list[str]] = field(default_factory=dict)

    def section_owner(self, set_name: str) -> tuple[EntitySet, str] | None:
        """``Catalog_X_Section`` → (Catalog_X, "Section") when it names a tabular section."""
        for eset in self.entity_sets.values():
            for section in eset.sections:
                if eset.section_set_name(section) == set_name:
                    return eset, section
        return None


_SHORT = re.compile(
    r"^(?P<type>\w+)(?:\((?P<args>[^)]*)\))?(?:\s+(?P<target>[\w,]+))?(?:\s*=\s*(?P<default>.+))?$"
)


def parse_field(name: str, spec: str, published: set[str], enums: dict[str, list[str]]) -> list[Field]:
    """Expand one shorthand declaration into its wire field(s)."""
    match = _SHORT.match(spec.strip())
    if not match:
        raise ConfigError(f"field {name}: cannot parse {spec!r}")
    kind, args, target, default = match["type"], match["args"], match["target"], match["default"]
    numbers = [int(a) for a in args.split(",")] if args else []
    if kind == "String":
        length = numbers[0] if numbers else 0
        return [Field(name, "Edm.String", max_length=length or None, default=default)]
    if kind == "Decimal":
        precision, scale = ([*numbers, 15, 2])[:2] if numbers else (15, 2)
        return [Field(name, "Edm.Decimal", precision=precision, scale=scale, default=_decimal(default))]
    if kind == "Boolean":
        return [Field(name, "Edm.Boolean", default=None if default is None else default == "true")]
    if kind == "DateTime":
        return [Field(name, "Edm.DateTime")]
    if kind == "Int64":
        return [Field(name, "Edm.Int64", default=None if default is None else int(default))]
    if kind == "Guid":
        return [Field(name, "Edm.Guid")]
    if kind == "ref" and target:
        nav = name if target in published else None
        return [Field(f"{name}_Key", "Edm.Guid", ref=target, nav=nav)]
    if kind == "enum" and target:
        if target not in enums:
            raise ConfigError(f"field {name}: unknown enum {target}")
        return [Field(name, "Edm.String", enum=target, default=default)]
    if kind == "composite" and target:
        return [
            Field(name, "Edm.String", composite=tuple(target.split(","))),
            Field(f"{name}_Type", "Edm.String", default="StandardODATA.Undefined"),
        ]
    raise ConfigError(f"field {name}: unknown type in {spec!r}")


def _decimal(value: str | None) -> str | None:
    return None if value is None else str(Decimal(value))


def _fields(raw: dict[str, str] | None, published: set[str], enums: dict[str, list[str]]) -> list[Field]:
    out: list[Field] = []
    for name, spec in (raw or {}).items():
        out.extend(parse_field(name, str(spec), published, enums))
    return out


def _standard_catalog_fields(raw: dict[str, Any], published: set[str]) -> list[Field]:
    fields = [
        Field("Ref_Key", "Edm.Guid"),
        Field("DataVersion", "Edm.String"),
        Field("DeletionMark", "Edm.Boolean"),
    ]
    if raw.get("hierarchical"):
        fields.append(Field("Parent_Key", "Edm.Guid", ref="self", nav="Parent"))
        fields.append(Field("IsFolder", "Edm.Boolean"))
    owner = raw.get("owner")
    if owner:
        fields.append(Field("Owner_Key", "Edm.Guid", ref=owner, nav="Owner" if owner in published else None))
    if raw.get("code_length"):
        fields.append(Field("Code", "Edm.String", max_length=int(raw["code_length"])))
    fields.append(Field("Description", "Edm.String", max_length=int(raw.get("description_length") or 100)))
    fields.append(Field("Predefined", "Edm.Boolean"))
    fields.append(Field("PredefinedDataName", "Edm.String"))
    return fields


def _posting(raw: list[dict[str, Any]] | None) -> list[PostingRule]:
    return [
        PostingRule(
            register=r["register"],
            record_type=r.get("record_type", "Receipt"),
            rows=r["rows"],
            when=dict(r.get("when") or {}),
            dimensions=dict(r["dimensions"]),
            resources=dict(r["resources"]),
            period=r.get("period", "Date"),
        )
        for r in raw or []
    ]


def load_config(name_or_path: str | Path) -> Config:
    """Load ``configs/<name>.yaml`` (``retail``, ``ut11``) or a YAML file at a path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"no emulator configuration {name_or_path!r} (known: {known})")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    enums: dict[str, list[str]] = {k: [str(v) for v in vs] for k, vs in (raw.get("enums") or {}).items()}
    plan_raw = raw.get("exchange_plan")
    published = set(raw.get("catalogs") or {}) | set(raw.get("documents") or {})
    sets: dict[str, EntitySet] = {}
    for name, spec in (raw.get("catalogs") or {}).items():
        own = _fields(spec.get("fields"), published, enums)
        fields = [f if f.ref != "self" else Field(f.name, f.edm, ref=name, nav=f.nav) for f in own]
        standard = [
            f if f.ref != "self" else Field(f.name, f.edm, ref=name, nav=f.nav)
            for f in _standard_catalog_fields(spec, published)
        ]
        sets[name] = EntitySet(
            name=name,
            kind="catalog",
            fields={f.name: f for f in [*standard, *fields]},
            sections=_sections(spec, published, enums),
            code_length=int(spec.get("code_length") or 0),
            indexed=_indexed(name, spec, fields, standard),
        )
    for name, spec in (raw.get("documents") or {}).items():
        standard = [
            Field("Ref_Key", "Edm.Guid"),
            Field("DataVersion", "Edm.String"),
            Field("DeletionMark", "Edm.Boolean"),
            Field("Number", "Edm.String", max_length=int(spec.get("number_length") or 11)),
            Field("Date", "Edm.DateTime"),
            Field("Posted", "Edm.Boolean"),
        ]
        own = _fields(spec.get("fields"), published, enums)
        sets[name] = EntitySet(
            name=name,
            kind="document",
            fields={f.name: f for f in [*standard, *own]},
            sections=_sections(spec, published, enums),
            number_length=int(spec.get("number_length") or 11),
            number_prefix=str(spec.get("number_prefix") or ""),
            posting=_posting(spec.get("posting")),
            indexed=_indexed(name, spec, own, standard),
        )
    registers: dict[str, Register] = {}
    for name, spec in (raw.get("registers") or {}).items():
        registers[name] = Register(
            name=name,
            kind=spec.get("kind", "balance"),
            dimensions={f.name: f for f in _fields(spec.get("dimensions"), published, enums)},
            resources={f.name: f for f in _fields(spec.get("resources"), published, enums)},
        )
    plan: ExchangePlan | None = None
    if plan_raw:
        plan = ExchangePlan(
            name=plan_raw["name"],
            nodes=[
                Node(str(n["ref"]), str(n["code"]), str(n["description"]), bool(n.get("this_node")))
                for n in plan_raw["nodes"]
            ],
            content=list(plan_raw.get("content") or []),
            unpublished=list(plan_raw.get("unpublished") or []),
        )
        sets[plan.name] = EntitySet(
            name=plan.name,
            kind="exchange_plan",
            fields={
                f.name: f
                for f in [
                    Field("Ref_Key", "Edm.Guid"),
                    Field("DataVersion", "Edm.String"),
                    Field("DeletionMark", "Edm.Boolean"),
                    Field("Code", "Edm.String", max_length=9),
                    Field("Description", "Edm.String", max_length=150),
                    Field("SentNo", "Edm.Int64"),
                    Field("ReceivedNo", "Edm.Int64"),
                    Field("ThisNode", "Edm.Boolean"),
                ]
            },
        )
    users = [
        User(str(u["name"]), str(u.get("password") or ""), u.get("node"), bool(u.get("read_only")))
        for u in raw.get("users") or []
    ]
    extension = raw.get("extension") or {}
    extension_values = {
        str(k): [str(v) for v in vs] for k, vs in (extension.get("enum_values") or {}).items()
    }
    for enum_name, values in extension_values.items():
        unknown = [v for v in values if v not in enums.get(enum_name, [])]
        if unknown:
            raise ConfigError(f"extension: {enum_name} has no value(s) {', '.join(unknown)}")
    extension_fields = {str(k): [str(v) for v in vs] for k, vs in (extension.get("fields") or {}).items()}
    for set_name, added in extension_fields.items():
        declared: dict[str, Field] = sets[set_name].fields if set_name in sets else {}
        if [name for name in added if name not in declared]:
            raise ConfigError(f"extension: {set_name} has no field(s) {', '.join(added)}")
    config = Config(
        str(raw["name"]),
        str(raw.get("title", raw["name"])),
        enums,
        sets,
        registers,
        plan,
        users,
        extension_name=str(extension["name"]) if extension.get("name") else None,
        extension_values=extension_values,
        extension_fields=extension_fields,
    )
    _check(config)
    return config


def without_extension(config: Config) -> Config:
    """The standard configuration: the extension's enum values gone (a write of one of them answers
    400 "Неверное значение перечисления", as a standard УТ 11 answers ``ТолькоНакопление``) and its
    attributes gone (not in ``$metadata``; a body naming one is ignored, as 1C ignores unknown
    fields: a standard Розница has no card ``Статус``)."""
    if not config.extension_values and not config.extension_fields:
        raise ConfigError(f"configuration {config.name} declares no extension to run without")
    enums = {
        name: [v for v in values if v not in config.extension_values.get(name, [])]
        for name, values in config.enums.items()
    }
    sets = {
        name: replace(
            eset,
            fields={k: f for k, f in eset.fields.items() if k not in config.extension_fields.get(name, [])},
        )
        for name, eset in config.entity_sets.items()
    }
    return replace(
        config, enums=enums, entity_sets=sets, title=f"{config.title} без расширения {config.extension_name}"
    )


def _indexed(name: str, spec: dict[str, Any], *groups: list[Field]) -> tuple[str, ...]:
    """Wire names of the ``index:`` list (a reference may be named without its ``_Key``)."""
    known = {f.name for fields in groups for f in fields}
    out: list[str] = []
    for raw in spec.get("index") or []:
        wire = str(raw) if str(raw) in known else f"{raw}_Key"
        if wire not in known:
            raise ConfigError(f"{name}: index on unknown field {raw}")
        out.append(wire)
    return tuple(out)


def _sections(
    spec: dict[str, Any], published: set[str], enums: dict[str, list[str]]
) -> dict[str, dict[str, Field]]:
    return {
        section: {f.name: f for f in _fields(fields, published, enums)}
        for section, fields in (spec.get("sections") or {}).items()
    }


def _check(config: Config) -> None:
    for eset in config.entity_sets.values():
        for rule in eset.posting:
            if rule.register not in config.registers:
                raise ConfigError(f"{eset.name}: posting into unknown register {rule.register}")
            if rule.rows not in eset.sections:
                raise ConfigError(f"{eset.name}: posting from unknown section {rule.rows}")
            _check_rule(config, eset, rule)
    if config.exchange_plan:
        for name in config.exchange_plan.content:
            if name not in config.entity_sets and name not in config.registers:
                raise ConfigError(f"exchange plan content: unknown {name}")
        for name in config.exchange_plan.unpublished:
            if name not in config.exchange_plan.content:
                raise ConfigError(f"exchange plan unpublished: {name} is not in the plan's content")


def _check_rule(config: Config, eset: EntitySet, rule: PostingRule) -> None:
    """Every name a posting rule uses exists: ``when`` keys and sources in the header or (``row.``)
    in the section, enum values in their enum, dimensions and resources in the register."""
    where = f"{eset.name}: posting into {rule.register}"
    if rule.record_type not in ("Receipt", "Expense"):
        raise ConfigError(f"{where}: record_type must be Receipt or Expense, not {rule.record_type!r}")

    def source(name: str) -> Field:
        if name.startswith(ROW_PREFIX):
            found = eset.sections[rule.rows].get(name[len(ROW_PREFIX) :])
            if found is None:
                raise ConfigError(f"{where}: section {rule.rows} has no field {name[len(ROW_PREFIX) :]}")
            return found
        found = eset.fields.get(name)
        if found is None:
            raise ConfigError(f"{where}: the document has no field {name}")
        return found

    for name, value in rule.when.items():
        f = source(name)
        if f.enum and value not in config.enums[f.enum]:
            raise ConfigError(f"{where}: {value!r} is not a value of enum {f.enum} ({name})")
    register = config.registers[rule.register]
    for dim, name in rule.dimensions.items():
        if dim not in register.dimensions and f"{dim}_Key" not in register.dimensions:
            raise ConfigError(f"{where}: the register has no dimension {dim}")
        source(name)
    for res, name in rule.resources.items():
        if res not in register.resources:
            raise ConfigError(f"{where}: the register has no resource {res}")
        source(name)
    source(rule.period)
