"""``$metadata``: the CSDL v3 document 1C publishes (namespace ``StandardODATA``, container
``EnterpriseV8``), generated from the configuration so clients can be tested against it.

Tabular sections appear as ``Collection(<Type>_RowType)`` complex properties of their object and as
entity types of their own; references as ``X_Key`` properties plus navigation properties with
associations; ``Balance`` as a bindable function import on its register, as real 1C declares it.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from ..schema import NAMESPACE, Config, Field
from .model import EntityType, entity_types


def _property(f: Field) -> str:
    attrs = [f"Name={quoteattr(f.name)}", f'Type="{f.edm}"', 'Nullable="true"']
    if f.edm == "Edm.String" and f.max_length:
        attrs.append(f'MaxLength="{f.max_length}"')
    if f.edm == "Edm.Decimal" and f.precision is not None:
        attrs.append(f'Precision="{f.precision}" Scale="{f.scale or 0}"')
    return f"<Property {' '.join(attrs)}/>"


def build_metadata(config: Config) -> str:
    types = entity_types(config)
    schema: list[str] = []
    container: list[str] = []
    associations: list[str] = []
    for etype in types.values():
        schema.append(_entity_type(etype, associations, container))
        for cname, rows in etype.collections.items():
            row_props = "".join(_property(f) for f in rows.values())
            schema.append(f'<ComplexType Name="{etype.name}_{cname}_RowType">{row_props}</ComplexType>')
        if etype.role != "balance":
            container.append(f'<EntitySet Name="{etype.name}" EntityType="{NAMESPACE}.{etype.name}"/>')
    for register in config.registers.values():
        tables: list[tuple[str, str, tuple[str, ...]]] = [
            ("Turnovers", "Turnover", ("StartPeriod", "EndPeriod"))
        ]
        if register.kind == "balance":
            tables.insert(0, ("Balance", "Balance", ("Period",)))
            tables.append(("BalanceAndTurnovers", "BalanceAndTurnover", ("StartPeriod", "EndPeriod")))
        for function, row_type, periods in tables:
            params = "".join(f'<Parameter Name="{p}" Type="Edm.DateTime"/>' for p in periods)
            container.append(
                f'<FunctionImport Name="{function}" '
                f'ReturnType="Collection({NAMESPACE}.{register.name}_{row_type})" '
                'IsBindable="true" m:IsAlwaysBindable="true">'
                f'<Parameter Name="bindingParameter" Type="Collection({NAMESPACE}.{register.name})"/>'
                f"{params}"
                '<Parameter Name="Condition" Type="Edm.String"/>'
                '<Parameter Name="Dimensions" Type="Edm.String"/></FunctionImport>'
            )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">'
        '<edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
        'm:DataServiceVersion="3.0" m:MaxDataServiceVersion="3.0">'
        f'<Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="{NAMESPACE}">'
        + "".join(schema)
        + "".join(associations)
        + '<EntityContainer Name="EnterpriseV8" m:IsDefaultEntityContainer="true">'
        + "".join(container)
        + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )


def _entity_type(etype: EntityType, associations: list[str], container: list[str]) -> str:
    keys = "".join(f'<PropertyRef Name="{k}"/>' for k in etype.keys)
    parts = [f'<EntityType Name="{etype.name}">']
    if keys:
        parts.append(f"<Key>{keys}</Key>")
    parts.extend(_property(f) for f in etype.fields.values())
    for cname in etype.collections:
        parts.append(
            f'<Property Name="{cname}" Type="Collection({NAMESPACE}.{etype.name}_{cname}_RowType)" '
            'Nullable="false"/>'
        )
    for f in etype.fields.values():
        if f.nav and f.ref and etype.role == "object":
            assoc = f"{etype.name}_{f.nav}"
            parts.append(
                f'<NavigationProperty Name="{f.nav}" Relationship="{NAMESPACE}.{assoc}" '
                'FromRole="Begin" ToRole="End"/>'
            )
            associations.append(
                f'<Association Name="{assoc}">'
                f'<End Role="Begin" Type="{NAMESPACE}.{etype.name}" Multiplicity="*"/>'
                f'<End Role="End" Type="{NAMESPACE}.{f.ref}" Multiplicity="0..1"/></Association>'
            )
            container.append(
                f'<AssociationSet Name="{assoc}" Association="{NAMESPACE}.{assoc}">'
                f'<End Role="Begin" EntitySet="{etype.name}"/><End Role="End" EntitySet="{f.ref}"/>'
                "</AssociationSet>"
            )
    parts.append("</EntityType>")
    return "".join(parts)
