"""The OData entity types a configuration publishes, in one shape for serializing, ``$metadata`` and
query validation: objects (catalogs, documents, exchange plans), tabular-section row sets, register
record sets (by ``Recorder``), register rows (``_RecordType``) and the ``Balance`` virtual table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..schema import Config, Field

Role = Literal["object", "section", "recordset", "records", "balance"]


@dataclass
class EntityType:
    """``fields`` in wire order; ``collections`` maps a nested collection (tabular section or
    ``RecordSet``) to its row fields; ``keys`` are the fields of the URL key."""

    name: str
    role: Role
    fields: dict[str, Field]
    keys: tuple[str, ...] = ("Ref_Key",)
    collections: dict[str, dict[str, Field]] = field(default_factory=dict)
    owner: str | None = None  # the object set of a section, the register of a record/balance type
    section: str | None = None

    @property
    def selectable(self) -> set[str]:
        """Names ``$select`` accepts: fields, nested collections and navigation properties."""
        navs = {f.nav for f in self.fields.values() if f.nav}
        return set(self.fields) | set(self.collections) | navs


def entity_types(config: Config) -> dict[str, EntityType]:
    """Every entity set the configuration publishes, by name (plus the virtual tables' row types
    ``<Register>_Balance``, ``_Turnover`` and ``_BalanceAndTurnover``)."""
    types: dict[str, EntityType] = {}
    for eset in config.entity_sets.values():
        types[eset.name] = EntityType(
            eset.name,
            "object",
            dict(eset.fields),
            collections={s: eset.row_fields(s) for s in eset.sections},
        )
        for section in eset.sections:
            name = eset.section_set_name(section)
            types[name] = EntityType(
                name,
                "section",
                eset.row_fields(section),
                keys=("Ref_Key", "LineNumber"),
                owner=eset.name,
                section=section,
            )
    for register in config.registers.values():
        rows = register.row_fields()
        types[register.name] = EntityType(
            register.name,
            "recordset",
            {"Recorder": rows["Recorder"], "Recorder_Type": rows["Recorder_Type"]},
            keys=("Recorder", "Recorder_Type"),
            collections={"RecordSet": rows},
        )
        types[register.row_set_name] = EntityType(
            register.row_set_name, "records", rows, keys=("Recorder", "Recorder_Type", "LineNumber")
        )
        types[f"{register.name}_Balance"] = EntityType(
            f"{register.name}_Balance", "balance", register.balance_fields(), keys=(), owner=register.name
        )
        types[f"{register.name}_Turnover"] = EntityType(
            f"{register.name}_Turnover", "balance", register.turnover_fields(), keys=(), owner=register.name
        )
        if register.kind == "balance":
            types[f"{register.name}_BalanceAndTurnover"] = EntityType(
                f"{register.name}_BalanceAndTurnover",
                "balance",
                register.balance_and_turnover_fields(),
                keys=(),
                owner=register.name,
            )
    return types
