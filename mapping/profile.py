"""Mapping profiles: which 1C object and field holds each hub value, per 1C configuration.

A profile is a YAML file in ``mapping/profiles/`` (data, not code). This module loads one,
validates it completely at load time, so that a typo fails at start-up with the file and the key
named instead of in the middle of a sync, and interprets it: ``customer_from_onec``,
``customer_to_onec``, ``card_from_onec``, ``card_to_onec``, ``movement_to_onec``,
``movement_from_onec``, ``receipt_from_onec`` (till receipts, read only) and ``balance_from_onec``.
For the sync's change feed it also says what a 1C object is (``classify``), which key its changes
are ordered by (``partition_key``) and which customer and card fields go both ways
(``synced_fields``).

How a rule is applied:

- Reading, a rule whose 1C fields are all *absent* from the object is skipped and its hub fields
  are left out of the result (a ``$select`` that did not ask for them says nothing about them);
  present but empty (``""``, empty GUID, empty date) gives None. With several 1C fields the first
  filled one wins.
- Writing, a rule whose hub fields are absent from the input is skipped, so a patch carries only
  what changed. Movements are the exception: every mapped field must be given (None when empty).
- Text is checked for control characters both ways (see ``mapping.text``).

Errors are typed (``mapping.errors``) and say where they happened (entity set, reference, field),
never the value. By default the first one is raised; pass ``errors=[]`` to collect them instead,
leave the bad field out and go on, each one logged as a warning on the ``mapping`` logger.

Bonuses: Retail keeps them per card (register dimension ``ДисконтнаяКарта``), УТ 11 per partner
(dimension ``Партнер``); ``Profile.bonuses_per`` and ``Profile.bonus_owner_field`` say which, and
the movement and balance maps use ``card_onec_ref`` or ``customer_onec_ref`` accordingly.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import yaml

from bonusbridge.models import Card, Customer
from mapping import amounts, phones, refs
from mapping.converters import (
    CONVERTER_NAMES,
    CONVERTERS,
    HUB_ENUMS,
    Converter,
    Direction,
    EnumMap,
    enum_converter,
    is_empty_onec_value,
)
from mapping.errors import (
    InvalidAmountText,
    InvalidEnumValue,
    InvalidReference,
    MappingError,
    MissingField,
    ProfileError,
)
from mapping.text import clean_text

log = logging.getLogger("mapping")

LINE_NUMBER = "LineNumber"
#: Where a change-feed object says what it is: ``"odata.type": "StandardODATA.<EntitySet>"``.
ODATA_TYPE = "odata.type"
#: A composite-type field ``X`` carries its type in ``X_Type``: "StandardODATA.Catalog_Партнеры".
TYPE_SUFFIX = "_Type"
TYPE_PREFIX = "StandardODATA."
UNDEFINED_TYPE = "StandardODATA.Undefined"

#: Hub fields a profile may map, per entity. Customer and card fields are the model's columns
#: (minus the hub's own bookkeeping) plus references to related 1C objects, which the sync
#: resolves to hub ids.
CUSTOMER_FIELDS = frozenset(Customer.__table__.columns.keys()) - {
    "id",
    "version",
    "created_at",
    "updated_at",
    "changed_by",
}
CARD_FIELDS = (
    frozenset(Card.__table__.columns.keys())
    - {"id", "created_at", "updated_at", "customer_id", "program_id", "merged_into_id", "is_primary"}
) | {"customer_onec_ref", "kind_onec_ref"}
#: ``points`` is the movement's absolute amount; its sign travels as the operation field.
MOVEMENT_FIELDS = frozenset(
    {
        "onec_ref",
        "occurred_at",
        "available_from",
        "expires_at",
        "reason",
        "document",
        "external_id",
        "card_onec_ref",
        "customer_onec_ref",
        "program_onec_ref",
        "points",
    }
)
BALANCE_FIELDS = frozenset(
    {"card_onec_ref", "customer_onec_ref", "program_onec_ref", "total", "to_write_off"}
)
#: A till receipt's bonus rows become movements: ``points`` (a row's absolute amount) is signed by
#: the row's operation, ``document`` is the receipt's number, ``till`` its cash register.
RECEIPT_FIELDS = frozenset(
    {
        "onec_ref",
        "occurred_at",
        "document",
        "till",
        "card_onec_ref",
        "customer_onec_ref",
        "program_onec_ref",
        "points",
    }
)


class BonusesPer(enum.StrEnum):
    CARD = "card"
    PARTNER = "partner"


class HubKind(enum.StrEnum):
    """What a 1C object from the change feed is to the hub (``Profile.classify``)."""

    CUSTOMER = "customer"
    CARD = "card"
    MOVEMENT = "movement"
    RECEIPT = "receipt"


_OWNER_FIELD = {BonusesPer.CARD: "card_onec_ref", BonusesPer.PARTNER: "customer_onec_ref"}
_ONEC_NAME = re.compile(r"[^\W\d]\w*")
_ENTITY_SET = re.compile(r"(Catalog|Document|AccumulationRegister|InformationRegister|ExchangePlan)_\w+")


# --- the parsed profile ------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRule:
    """One line of a profile: hub field(s) ↔ 1C field(s) through a converter."""

    hub: tuple[str, ...]
    onec: tuple[str, ...]
    converter: Converter
    direction: Direction
    omit_empty: bool
    where: str
    #: For ``composite_ref``: the entity set the reference must point to (``X_Type`` sibling).
    target: str | None = None

    @property
    def reads(self) -> bool:
        return self.direction in (Direction.BOTH, Direction.FROM_ONEC)

    @property
    def writes(self) -> bool:
        return self.direction in (Direction.BOTH, Direction.TO_ONEC)


@dataclass(frozen=True)
class EntityMap:
    """The rules for one 1C object (or tabular-section row) ↔ one hub entity."""

    entity_set: str
    rules: tuple[FieldRule, ...]
    create_defaults: Mapping[str, Any]
    #: The 1C field holding the object's own change time, if the configuration keeps one
    #: (``changed_at:`` in the profile; standard Розница and УТ 11 have none): the sync's "newer".
    changed_at: str | None = None

    @property
    def alternative_fields(self) -> tuple[str, ...]:
        """The 1C fields of rules that read one hub value from several 1C fields (the full name
        from НаименованиеПолное or Description): each is compared on its own, so an edit of any one
        of them is seen (``Profile.customer_from_onec(previous=…)``)."""
        seen: dict[str, None] = {}
        for rule in self.rules:
            if rule.reads and len(rule.onec) > 1:
                seen.update(dict.fromkeys(rule.onec))
        return tuple(seen)

    @property
    def onec_fields(self) -> tuple[str, ...]:
        """The 1C fields the rules read: a ready ``$select`` list."""
        seen: dict[str, None] = {}
        for rule in self.rules:
            if rule.reads:
                seen.update(dict.fromkeys(rule.onec))
                if rule.target:
                    seen.update(dict.fromkeys(f"{name}{TYPE_SUFFIX}" for name in rule.onec))
        return tuple(seen)

    @property
    def hub_fields(self) -> frozenset[str]:
        return frozenset(field for rule in self.rules for field in rule.hub)

    def onec_field(self, hub_field: str) -> str | None:
        """The (first) 1C field the hub field is read from, None when no rule reads it."""
        return next((rule.onec[0] for rule in self.rules if rule.reads and hub_field in rule.hub), None)


@dataclass(frozen=True)
class ContactKind:
    """One contact-information type (``Тип``) and the rules for its rows."""

    type_value: str
    fields: EntityMap
    prefer_mobile: bool


@dataclass(frozen=True)
class ContactsMap:
    entity_set: str
    section: str
    type_field: str
    kinds: tuple[ContactKind, ...]


@dataclass(frozen=True)
class MovementMap:
    entity_set: str
    operation_field: str
    credit: str
    debit: str
    header: EntityMap
    rows_section: str
    rows: EntityMap


@dataclass(frozen=True)
class ReceiptMap:
    """A till receipt (``Document_ЧекККМ``), read only: each non-zero bonus row is a movement.

    Unlike the bonus document, the operation is per row. ``required`` are the hub fields a receipt
    with bonus rows must fill (the card, and in УТ 11 the partner who owns the points).
    """

    entity_set: str
    header: EntityMap
    rows_section: str
    rows: EntityMap
    operation_field: str
    credit: str
    debit: str
    required: tuple[str, ...]


@dataclass(frozen=True)
class BalanceMap:
    entity_set: str
    virtual_table: str
    fields: EntityMap


@dataclass(frozen=True, repr=False)
class Profile:
    """A loaded, validated profile and the engine that applies it.

    ``tz`` is the 1C server's zone for date-times; None means the settings' ``onec_zone``.
    """

    name: str
    title: str
    source: str
    bonuses_per: BonusesPer
    enums: Mapping[str, EnumMap]
    customer: EntityMap
    contacts: ContactsMap
    card: EntityMap
    movement: MovementMap
    receipt: ReceiptMap
    balance: BalanceMap
    tz: tzinfo | None = None

    def __repr__(self) -> str:
        return f"<Profile {self.name} from {self.source}, tz={self.tz}>"

    @property
    def bonus_owner_field(self) -> str:
        """``card_onec_ref`` (Retail: points per card) or ``customer_onec_ref`` (УТ 11: per partner)."""
        return _OWNER_FIELD[self.bonuses_per]

    # --- customers ----------------------------------------------------------------------------

    def customer_from_onec(
        self,
        partner: Mapping[str, Any],
        contacts: Sequence[Mapping[str, Any]] | None = None,
        *,
        errors: list[MappingError] | None = None,
        previous: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Hub ``Customer`` fields from a ``Catalog_Партнеры`` object and its contact rows.

        ``previous``: 1C's values of the rules' alternative fields at the last common version
        (``onec_alternatives``). A rule reading one hub value from several 1C fields then takes the
        one that changed since — the newer change — rather than the first filled: an accountant's
        edit of ``Description`` alone is not hidden behind an unchanged ``НаименованиеПолное``.

        ``contacts=None`` means the rows were not read (phone and e-mail are left out); an empty
        list means the partner has none (they become None). If the object itself carries the
        tabular section (as 1C returns it without ``$select``), that is used when ``contacts`` is None.
        """
        label = _label(self.customer.entity_set, partner)
        result = self._read(self.customer, partner, label, errors, previous=previous)
        if contacts is None:
            section = partner.get(self.contacts.section)
            contacts = section if isinstance(section, list) else None
        if contacts is not None:
            result.update(self._read_contacts(contacts, label, errors))
        return result

    def customer_to_onec(
        self,
        fields: Mapping[str, Any],
        *,
        for_create: bool = False,
        errors: list[MappingError] | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A ``Catalog_Партнеры`` body and the contact rows the hub owns, from hub fields.

        Only the given fields are written (a patch). The rows are numbered from 1; to PATCH an
        existing partner, whose section 1C replaces as a whole, use ``merge_contacts`` instead so
        the rows the hub does not own survive. ``for_create`` adds the profile's create defaults.
        """
        body = self._write(self.customer, fields, f"customer → {self.customer.entity_set}", errors)
        if for_create:
            body = {**self.customer.create_defaults, **body}
        return body, self.merge_contacts([], fields, errors=errors)

    def merge_contacts(
        self,
        existing: Sequence[Mapping[str, Any]],
        fields: Mapping[str, Any],
        *,
        errors: list[MappingError] | None = None,
    ) -> list[dict[str, Any]]:
        """The partner's whole contact section with the hub's values written into it.

        For each contact kind whose hub field is given, the row the hub reads (see
        ``customer_from_onec``) is the row it updates, in place, keeping 1C's other columns
        (``Вид_Key``, ``ЗначенияПолей``); it is appended when there is none and removed when the hub
        value is None. Rows of other kinds, and other rows of the same kind (a second phone), are
        kept. ``LineNumber`` is renumbered 1..n, as 1C demands.
        """
        rows = [dict(row) for row in _by_line_number(existing)]
        where = f"customer → {self.contacts.entity_set}"
        for kind in self.contacts.kinds:
            hub_fields = kind.fields.hub_fields
            if not hub_fields.intersection(fields):
                continue
            local: list[MappingError] = []
            written = self._write(kind.fields, fields, f"{where}[{kind.type_value}]", local)
            if local:
                if errors is None:
                    raise local[0]
                errors.extend(local)  # already logged by _write
                continue
            new_values = {name: fields.get(name) for name in hub_fields}
            index = self._contact_row_to_write(kind, rows, new_values)
            if all(value is None for value in new_values.values()):
                if index is not None:
                    del rows[index]
            elif index is not None:
                rows[index].update(written)
            else:
                rows.append({self.contacts.type_field: kind.type_value, **written})
        return [
            {LINE_NUMBER: amounts.to_onec_int(number), **{k: v for k, v in row.items() if k != LINE_NUMBER}}
            for number, row in enumerate(rows, 1)
        ]

    # --- cards --------------------------------------------------------------------------------

    def card_from_onec(
        self,
        card: Mapping[str, Any],
        *,
        errors: list[MappingError] | None = None,
        previous: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Hub ``Card`` fields (plus ``customer_onec_ref``, ``kind_onec_ref``) from a 1C card
        (``previous`` as in ``customer_from_onec``)."""
        return self._read(self.card, card, _label(self.card.entity_set, card), errors, previous=previous)

    def onec_alternatives(self, kind: str, onec_object: Mapping[str, Any]) -> dict[str, Any]:
        """1C's values of the entity's alternative fields (``EntityMap.alternative_fields``) as
        they stand, text trimmed: what the sync keeps with the common version, to tell next time
        which of them 1C changed."""
        entity = self.customer if HubKind(kind) is HubKind.CUSTOMER else self.card
        return {
            name: _comparable(onec_object.get(name))
            for name in entity.alternative_fields
            if name in onec_object
        }

    def readings(self, kind: str, onec_object: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """For each filled alternative field (see ``EntityMap.alternative_fields``), the hub
        values it alone would give: (1C field, hub values). Fields that cannot be mapped are left
        out (the whole read reports them)."""
        entity = self.customer if HubKind(kind) is HubKind.CUSTOMER else self.card
        found: list[tuple[str, dict[str, Any]]] = []
        for rule in entity.rules:
            if not rule.reads or len(rule.onec) < 2:
                continue
            for name in rule.onec:
                if name not in onec_object or is_empty_onec_value(onec_object[name]):
                    continue
                single = replace(entity, rules=(replace(rule, onec=(name,)),))
                values = self._read(single, onec_object, _label(entity.entity_set, onec_object), [])
                if values:
                    found.append((name, values))
        return found

    def change_time_field(self, change: Mapping[str, Any]) -> str | None:
        """The 1C field holding this feed object's own change time, if its profile entity maps one."""
        try:
            kind = self.classify(change)
        except MappingError:
            return None
        if kind is HubKind.CUSTOMER:
            return self.customer.changed_at
        if kind is HubKind.CARD:
            return self.card.changed_at
        return None

    def card_to_onec(
        self,
        fields: Mapping[str, Any],
        *,
        for_create: bool = False,
        errors: list[MappingError] | None = None,
    ) -> dict[str, Any]:
        """A 1C card body from hub ``Card`` fields (only those given)."""
        body = self._write(self.card, fields, f"card → {self.card.entity_set}", errors)
        return {**self.card.create_defaults, **body} if for_create else body

    # --- bonus points -------------------------------------------------------------------------

    def movement_to_onec(self, movement: Mapping[str, Any]) -> dict[str, Any]:
        """A ``Document_НачислениеИСписаниеБонусныхБаллов`` body for one hub movement.

        ``movement`` holds ``amount`` (signed: positive accrues, negative writes off) and every hub
        field the profile's movement map names, ``card_onec_ref`` or ``customer_onec_ref`` per
        ``bonus_owner_field`` among them. The body has one row; the connector creates the document
        and then posts it (``/Post``), since ``Posted`` is never written directly.
        """
        amount_value = movement.get("amount")
        if amount_value is None:
            raise MissingField("a movement needs its signed amount")
        amount = amounts.to_onec_amount(amount_value)
        if amount == 0:
            raise InvalidAmountText("a movement amount must not be zero")
        fields = {**movement, "points": abs(amount)}
        where = f"movement → {self.movement.entity_set}"
        body = self._write(self.movement.header, fields, where, None, require_all=True)
        body[self.movement.operation_field] = self.movement.credit if amount > 0 else self.movement.debit
        row = self._write(
            self.movement.rows, fields, f"{where}.{self.movement.rows_section}", None, require_all=True
        )
        body[self.movement.rows_section] = [{LINE_NUMBER: amounts.to_onec_int(1), **row}]
        return body

    def movement_from_onec(self, document: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Hub movement fields, one dict per row of a bonus document (``amount`` signed), in
        ``LineNumber`` order, each with its ``line_number`` (int) so that a sync can give every row
        its own id (``<Ref_Key>/<line_number>``).

        Only the mapping: whether the document counts (``Posted``, ``DeletionMark``; an unposted
        one moved no points, one unposted later must be reversed) is for the sync to decide.
        """
        label = _label(self.movement.entity_set, document)
        movement = self.movement
        sign = _operation_sign(
            document.get(movement.operation_field),
            movement.operation_field,
            movement.credit,
            movement.debit,
            label,
        )
        header = self._read(self.movement.header, document, label, None)
        rows = document.get(self.movement.rows_section)
        if not isinstance(rows, list):
            raise MissingField(
                f"{label}: no {self.movement.rows_section} rows", field=self.movement.rows_section
            )
        movements = []
        for row in _by_line_number(rows):
            where = _row_label(label, self.movement.rows_section, row)
            line_number = _line_number(row, where)
            values = self._read(self.movement.rows, row, where, None)
            points: Decimal | None = values.pop("points", None)
            if points is None:
                raise MissingField(f"{where}: a row without its amount")
            movements.append({**header, **values, "line_number": line_number, "amount": sign * points})
        return movements

    def receipt_from_onec(self, document: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Hub movements from a till receipt (``Document_ЧекККМ``): one per non-zero bonus row.

        Each: ``onec_ref``, ``line_number`` (int), ``occurred_at`` (aware UTC), ``card_onec_ref``,
        ``customer_onec_ref`` (УТ 11), ``program_onec_ref``, ``amount`` (Decimal, + for
        ``Начисление``, − for ``Списание``), ``document`` (the receipt's number) and ``till``, in
        ``LineNumber`` order. A row of zero points moves nothing and is skipped, so a receipt
        without bonus rows (most receipts: no card was shown) gives ``[]`` and needs no card.

        Only the mapping, as for ``movement_from_onec``: whether the receipt counts (``Posted``,
        ``DeletionMark``) is for the sync to decide.
        """
        receipt = self.receipt
        label = _label(receipt.entity_set, document)
        header = self._read(receipt.header, document, label, None)
        rows = document.get(receipt.rows_section)
        if not isinstance(rows, list):
            raise MissingField(f"{label}: no {receipt.rows_section} rows", field=receipt.rows_section)
        points_field = receipt.rows.onec_field("points")
        movements = []
        for row in _by_line_number(rows):
            where = _row_label(label, receipt.rows_section, row)
            line_number = _line_number(row, where)
            values = self._read(receipt.rows, row, where, None)
            points: Decimal | None = values.pop("points", None)
            if points is None:
                raise MissingField(f"{where}: a row without its amount", field=points_field)
            if points == 0:
                continue
            if points < 0:
                raise InvalidAmountText(
                    f"{where}.{points_field}: a negative amount (the operation gives the sign)",
                    field=points_field,
                )
            sign = _operation_sign(
                row.get(receipt.operation_field),
                receipt.operation_field,
                receipt.credit,
                receipt.debit,
                where,
            )
            movement = {**header, **values, "line_number": line_number, "amount": sign * points}
            for name in receipt.required:
                if movement.get(name) is None:
                    column = receipt.header.onec_field(name) or receipt.rows.onec_field(name)
                    raise MissingField(f"{label}: bonus rows but no {column} ({name})", field=column)
            movements.append(movement)
        return movements

    def balance_from_onec(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """One row of ``AccumulationRegister_БонусныеБаллы/Balance`` as hub values.

        ``total`` is the ``Начислено`` balance (spendable points), ``to_write_off`` the
        ``КСписанию`` one; the owner is ``card_onec_ref`` or ``customer_onec_ref`` per profile.
        """
        return self._read(self.balance.fields, row, self.balance.entity_set, None)

    # --- the change feed ----------------------------------------------------------------------

    def classify(self, change: Mapping[str, Any], entity_set: str | None = None) -> HubKind | None:
        """Which hub kind a change-feed object is: ``HubKind`` (a ``str``), or None for anything
        the hub does not sync (programs, card kinds, register record sets, exchange-plan nodes).

        The entity set comes from ``odata.type`` (``StandardODATA.<EntitySet>``, as SelectChanges
        and ``connectors.onec.changefeed.message_to_change`` give it, deletions included) unless
        passed as ``entity_set``. An object with neither is a ``MissingField``.
        """
        if entity_set is None:
            odata_type = change.get(ODATA_TYPE)
            if not isinstance(odata_type, str) or not odata_type.strip():
                raise MissingField(f"a change without its {ODATA_TYPE}", field=ODATA_TYPE)
            entity_set = odata_type.strip().removeprefix(TYPE_PREFIX)
        return self._kinds.get(entity_set)

    def partition_key(self, kind: str, change: Mapping[str, Any]) -> str:
        """The reference whose changes must be applied in order (a lower-case GUID).

        customer: the partner's ``Ref_Key``; card: the card's ``Ref_Key``; movement and receipt:
        the owner of the points (``bonus_owner_field``): Retail the card (a bonus document's
        first row's ``ДисконтнаяКарта_Key``, a receipt's header one), УТ 11 the partner (the
        document's first row's ``Партнер_Key``, a receipt's header one). So in УТ 11 a partner's
        data and movements share one key.

        Absent or empty, the reference is a ``MissingField`` naming the 1C field: a deleted
        document arrives as ``{"Ref_Key", "odata.deleted"}`` only, and a receipt without a card
        has none (it also has no movement); the sync finds the key of those from what it stored.
        """
        hub_kind = HubKind(kind)
        label = _label(self._entity_set(hub_kind), change)
        if hub_kind is HubKind.CUSTOMER:
            return self._ref(self.customer, "onec_ref", change, label)
        if hub_kind is HubKind.CARD:
            return self._ref(self.card, "onec_ref", change, label)
        owner = self.bonus_owner_field
        if hub_kind is HubKind.MOVEMENT:
            header, section, rows = self.movement.header, self.movement.rows_section, self.movement.rows
        else:
            header, section, rows = self.receipt.header, self.receipt.rows_section, self.receipt.rows
        if header.onec_field(owner) is not None:
            return self._ref(header, owner, change, label)
        section_rows = change.get(section)
        if not isinstance(section_rows, list) or not section_rows:
            column = rows.onec_field(owner)
            raise MissingField(f"{label}: no {section} rows to take the {column} from", field=column)
        first = _by_line_number(section_rows)[0]
        return self._ref(rows, owner, first, _row_label(label, section, first))

    def synced_fields(self, kind: str) -> tuple[str, ...]:
        """The hub fields of a customer or card that the profile maps both ways (read from 1C and
        written to it, by one rule or by two), in profile order: what a sync compares and sends,
        and what a comparison of the hub and 1C must find equal. References (``onec_ref``,
        ``customer_onec_ref``, ``kind_onec_ref``) are not among them: the sync resolves those."""
        hub_kind = HubKind(kind)
        if hub_kind is HubKind.CUSTOMER:
            contact_rules = (rule for contact in self.contacts.kinds for rule in contact.fields.rules)
            rules: tuple[FieldRule, ...] = (*self.customer.rules, *contact_rules)
        elif hub_kind is HubKind.CARD:
            rules = self.card.rules
        else:
            raise ValueError(f"synced_fields is for customers and cards, not {hub_kind.value}s")
        read = dict.fromkeys(name for rule in rules if rule.reads for name in rule.hub)
        written = {name for rule in rules if rule.writes for name in rule.hub}
        return tuple(name for name in read if name in written and not _is_reference(name))

    @property
    def _kinds(self) -> dict[str, HubKind]:
        return {self._entity_set(kind): kind for kind in HubKind}

    def _entity_set(self, kind: HubKind) -> str:
        entity_sets = {
            HubKind.CUSTOMER: self.customer.entity_set,
            HubKind.CARD: self.card.entity_set,
            HubKind.MOVEMENT: self.movement.entity_set,
            HubKind.RECEIPT: self.receipt.entity_set,
        }
        return entity_sets[kind]

    def _ref(self, entity: EntityMap, hub_field: str, source: Mapping[str, Any], label: str) -> str:
        """The reference ``hub_field`` as the entity's rule reads it; None or absent is missing."""
        rules = tuple(rule for rule in entity.rules if rule.reads and rule.hub == (hub_field,))
        value = self._read(replace(entity, rules=rules), source, label, None).get(hub_field)
        if value is None:
            column = rules[0].onec[0] if rules else hub_field
            raise MissingField(f"{label}: no {column}", field=column)
        return str(value)

    # --- the interpreter ----------------------------------------------------------------------

    def _read(
        self,
        entity: EntityMap,
        source: Mapping[str, Any],
        label: str,
        errors: list[MappingError] | None,
        *,
        previous: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for rule in entity.rules:
            if not rule.reads or rule.converter.read is None:
                continue
            present = [name for name in rule.onec if name in source]
            if not present:
                continue
            filled = [name for name in present if not is_empty_onec_value(source[name])]
            if previous and len(filled) > 1:
                # Several filled 1C fields for one hub value, disagreeing or not: the one 1C
                # changed since the last common version is the newer change and wins.
                changed = [
                    name
                    for name in filled
                    if name in previous and _comparable(source[name]) != previous[name]
                ]
                filled = changed + [name for name in filled if name not in changed]
            chosen = filled[0] if filled else present[0]
            value = source[chosen]
            try:
                if isinstance(value, str):
                    value = clean_text(value, field=chosen)
                hub_values = rule.converter.read(value, self.tz)
                if rule.target:
                    _check_composite_type(source, chosen, rule.target, hub_values[0])
            except MappingError as exc:
                self._fail(exc.in_context(f"{label}.{chosen}"), errors, field=chosen)
                continue
            result.update(zip(rule.hub, hub_values, strict=True))
        return result

    def _write(
        self,
        entity: EntityMap,
        fields: Mapping[str, Any],
        label: str,
        errors: list[MappingError] | None,
        *,
        require_all: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for rule in entity.rules:
            if not rule.writes or rule.converter.write is None:
                continue
            where = f"{label}.{'/'.join(rule.onec)}"
            given = [name for name in rule.hub if name in fields]
            if len(given) < len(rule.hub):
                if given or (require_all and not rule.omit_empty):
                    missing = ", ".join(name for name in rule.hub if name not in fields)
                    self._fail(MissingField(f"{where}: needs {missing}", field=rule.onec[0]), errors)
                continue
            values = tuple(fields[name] for name in rule.hub)
            if rule.omit_empty and all(value is None for value in values):
                continue
            try:
                onec_value = rule.converter.write(values, self.tz)
                if isinstance(onec_value, str):
                    clean_text(onec_value, field=rule.onec[0])
            except MappingError as exc:
                self._fail(exc.in_context(f"{where} ← {'/'.join(rule.hub)}"), errors, field=rule.onec[0])
                continue
            body.update(dict.fromkeys(rule.onec, onec_value))
            if rule.target:
                type_value = UNDEFINED_TYPE if values[0] is None else f"{TYPE_PREFIX}{rule.target}"
                body.update(dict.fromkeys((f"{name}{TYPE_SUFFIX}" for name in rule.onec), type_value))
        return body

    def _read_contacts(
        self,
        rows: Sequence[Mapping[str, Any]],
        label: str,
        errors: list[MappingError] | None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        ordered = _by_line_number(rows)
        for kind in self.contacts.kinds:
            _, picked = self._pick_contact(kind, ordered, label=f"{label}.{self.contacts.section}")
            if isinstance(picked, MappingError):
                self._fail(picked, errors)
                continue
            result.update(picked if picked is not None else dict.fromkeys(kind.fields.hub_fields))
        return result

    def _contact_candidates(
        self, kind: ContactKind, rows: Sequence[Mapping[str, Any]], label: str
    ) -> tuple[list[tuple[int, dict[str, Any]]], MappingError | None]:
        """The rows of ``kind`` that convert to a value (index, values), and the first failure."""
        candidates: list[tuple[int, dict[str, Any]]] = []
        first_error: MappingError | None = None
        for index, row in enumerate(rows):
            if row.get(self.contacts.type_field) != kind.type_value:
                continue
            try:
                where = f"{label}[{LINE_NUMBER}={row.get(LINE_NUMBER, '?')}]"
                values = self._read(kind.fields, row, where, None)
            except MappingError as exc:
                first_error = first_error or exc
                continue
            if any(value is not None for value in values.values()):
                candidates.append((index, values))
        return candidates, first_error

    def _pick_contact(
        self, kind: ContactKind, rows: Sequence[Mapping[str, Any]], *, label: str = ""
    ) -> tuple[int | None, dict[str, Any] | MappingError | None]:
        """The row of ``kind`` the hub reads: the first that converts to a value, the first mobile
        one when ``prefer_mobile``. Returns its index and values; when no row converts but one
        failed, that failure instead of the values."""
        candidates, first_error = self._contact_candidates(kind, rows, label)
        if kind.prefer_mobile:
            for index, values in candidates:
                if _has_mobile(values):
                    return index, values
        if candidates:
            return candidates[0]
        return None, first_error

    def _contact_row_to_write(
        self, kind: ContactKind, rows: Sequence[Mapping[str, Any]], new_values: Mapping[str, Any]
    ) -> int | None:
        """Which existing row receives the hub's value: one already holding it, else the row the
        hub reads, except that a new mobile does not overwrite a landline (it is added beside it,
        and read first from then on). None means append."""
        candidates, _ = self._contact_candidates(kind, rows, "")
        for index, values in candidates:
            if values == new_values:
                return index
        chosen, picked = self._pick_contact(kind, rows)
        if chosen is None or not isinstance(picked, dict):
            return None
        if kind.prefer_mobile and _has_mobile(new_values) and not _has_mobile(picked):
            return None
        return chosen

    @staticmethod
    def _fail(error: MappingError, errors: list[MappingError] | None, *, field: str | None = None) -> None:
        if field is not None:
            error.field = field
        if errors is None:
            raise error
        log.warning("%s [%s]", error, error.code)
        errors.append(error)


def _check_composite_type(source: Mapping[str, Any], field: str, target: str, ref: str | None) -> None:
    """A composite reference must point into ``target`` (when 1C sent its type at all)."""
    type_value = source.get(f"{field}{TYPE_SUFFIX}")
    if ref is None or type_value is None or type_value == f"{TYPE_PREFIX}{target}":
        return
    raise InvalidReference(f"refers to a {type_value!r}, expected a {target}")


def _comparable(value: Any) -> Any:
    """A 1C value as the sync compares it between versions: text without outer blanks."""
    return " ".join(value.split()) if isinstance(value, str) else value


def _is_reference(hub_field: str) -> bool:
    return hub_field == "onec_ref" or hub_field.endswith("_onec_ref")


def _operation_sign(value: Any, field: str, credit: str, debit: str, where: str) -> int:
    """+1 for the credit operation (``Начисление``), -1 for the debit one (``Списание``)."""
    if value == credit:
        return 1
    if value == debit:
        return -1
    raise InvalidEnumValue(f"{where}.{field}: unknown operation (expected {credit} or {debit})", field=field)


def _has_mobile(values: Mapping[str, Any]) -> bool:
    return any(isinstance(value, str) and phones.is_mobile(value) for value in values.values())


def _label(entity_set: str, source: Mapping[str, Any]) -> str:
    """``Catalog_X(guid'…')``: where an error happened, by reference (never by personal data)."""
    try:
        ref = refs.from_onec_ref(source.get("Ref_Key"))
    except MappingError:
        ref = None
    return f"{entity_set}(guid'{ref}')" if ref else entity_set


def _row_label(label: str, section: str, row: Mapping[str, Any]) -> str:
    """``Document_X(guid'…').Section[LineNumber=2]``: which row of a tabular section."""
    return f"{label}.{section}[{LINE_NUMBER}={row.get(LINE_NUMBER, '?')}]"


def _line_number(row: Mapping[str, Any], where: str) -> int:
    """A row's ``LineNumber`` as an int (1C numbers rows from 1); absent or malformed is an error."""
    value = row.get(LINE_NUMBER)
    if value is None:
        raise MissingField(f"{where}: a row without its {LINE_NUMBER}", field=LINE_NUMBER)
    try:
        number = amounts.from_onec_int(value)
    except MappingError as exc:
        error = exc.in_context(f"{where}.{LINE_NUMBER}")
        error.field = LINE_NUMBER
        raise error from None
    if number < 1:
        raise InvalidAmountText(f"{where}.{LINE_NUMBER}: line numbers start at 1", field=LINE_NUMBER)
    return number


def _by_line_number(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Tabular-section rows in ``LineNumber`` order (rows without a usable one keep their place last)."""

    def key(item: tuple[int, Mapping[str, Any]]) -> tuple[int, int]:
        position, row = item
        try:
            return (0, amounts.from_onec_int(row[LINE_NUMBER]))
        except (KeyError, MappingError):
            return (1, position)

    return [row for _, row in sorted(enumerate(rows), key=key)]


# --- loading -----------------------------------------------------------------------------------


def available_profiles() -> list[str]:
    """The names of the profiles shipped in ``mapping/profiles/``."""
    folder = resources.files("mapping") / "profiles"
    return sorted(
        entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml")
    )


def load_profile(name: str, *, tz: tzinfo | None = None) -> Profile:
    """Load a shipped profile (``"retail"``, ``"ut11"``), validated; ``tz`` overrides the settings."""
    known = available_profiles()
    if name not in known:
        raise ProfileError(f"unknown mapping profile {name!r}; shipped profiles: {', '.join(known)}")
    resource = resources.files("mapping") / "profiles" / f"{name}.yaml"
    profile = parse_profile(resource.read_text(encoding="utf-8"), source=f"{name}.yaml", tz=tz)
    if profile.name != name:
        raise ProfileError(f"{name}.yaml: profile: says {profile.name!r}, expected {name!r}")
    return profile


def load_profile_file(path: str | Path, *, tz: tzinfo | None = None) -> Profile:
    """Load a profile from any file, e.g. an installation's own variant of a shipped one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile: {exc.strerror}") from None
    return parse_profile(text, source=str(path), tz=tz)


def parse_profile(text: str, *, source: str, tz: tzinfo | None = None) -> Profile:
    """Build a ``Profile`` from YAML text; ``source`` names it in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise ProfileError(f"{source}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return _Loader(source).profile(_Node(data, source, ""), tz)


class _Node:
    """A value from the YAML and where it is, so every complaint names file and key."""

    def __init__(self, value: Any, source: str, path: str) -> None:
        self.value = value
        self.source = source
        self.path = path

    def fail(self, problem: str) -> NoReturn:
        raise ProfileError(f"{self.source}: {self.path or '(top level)'}: {problem}")

    def child(self, key: str | int) -> _Node:
        path = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else key)
        value = self.value[key] if isinstance(key, int) else self.value.get(key)
        return _Node(value, self.source, path)

    def mapping(self, required: Iterable[str], optional: Iterable[str] = ()) -> dict[str, _Node]:
        if not isinstance(self.value, dict):
            self.fail(f"expected a mapping, got {_kind(self.value)}")
        required, allowed = set(required), set(required) | set(optional)
        for key in self.value:
            if key not in allowed:
                self.fail(f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
        for key in sorted(required - self.value.keys()):
            self.fail(f"missing key {key!r}")
        return {key: self.child(key) for key in self.value}

    def entries(self) -> dict[str, _Node]:
        """A mapping with keys of the profile's choosing (enum values, create defaults)."""
        if self.value is None:
            return {}
        if not isinstance(self.value, dict) or not all(isinstance(key, str) for key in self.value):
            self.fail(f"expected a mapping with string keys, got {_kind(self.value)}")
        return {key: self.child(key) for key in self.value}

    def items(self) -> list[_Node]:
        if not isinstance(self.value, list) or not self.value:
            self.fail(f"expected a non-empty list, got {_kind(self.value)}")
        return [self.child(index) for index in range(len(self.value))]

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail(f"expected a non-empty string, got {_kind(self.value)}")
        return self.value

    def names(self) -> tuple[str, ...]:
        """A string or a non-empty list of strings."""
        if isinstance(self.value, str):
            return (self.text(),)
        return tuple(node.text() for node in self.items())

    def onec_names(self) -> tuple[str, ...]:
        names = self.names()
        for name in names:
            if not _ONEC_NAME.fullmatch(name):
                self.fail(f"{name!r} is not a 1C field name")
        if len(set(names)) != len(names):
            self.fail("a 1C field is listed twice")
        return names

    def flag(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {_kind(self.value)}")
        return self.value


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:80]


class _Loader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.enums: dict[str, EnumMap] = {}

    def profile(self, root: _Node, tz: tzinfo | None) -> Profile:
        top = root.mapping(
            ["profile", "bonuses_per", "customer", "card", "movement", "receipt", "balance"],
            ["title", "enums"],
        )
        name = top["profile"].text()
        try:
            bonuses_per = BonusesPer(top["bonuses_per"].text())
        except ValueError:
            top["bonuses_per"].fail(f"expected one of {', '.join(BonusesPer)}")
        if "enums" in top:
            for key, node in top["enums"].entries().items():
                self.enums[key] = self.enum_map(key, node)
        customer_node = top["customer"]
        customer_keys = customer_node.mapping(
            ["entity_set", "fields", "contacts"], ["create_defaults", "changed_at"]
        )
        customer = self.entity(customer_node, CUSTOMER_FIELDS, extra=["contacts"])
        contacts = self.contacts(customer_keys["contacts"])
        card = self.entity(top["card"], CARD_FIELDS)
        movement = self.movement(top["movement"], bonuses_per)
        receipt = self.receipt(top["receipt"], bonuses_per)
        balance = self.balance(top["balance"], bonuses_per)
        seen_sets: dict[str, str] = {}
        for key, entity_set in (
            ("customer", customer.entity_set),
            ("card", card.entity_set),
            ("movement", movement.entity_set),
            ("receipt", receipt.entity_set),
        ):
            if entity_set in seen_sets:
                top[key].child("entity_set").fail(f"{entity_set} is already the {seen_sets[entity_set]}'s")
            seen_sets[entity_set] = key
        self.check_hub_readers(
            [*customer.rules, *(rule for kind in contacts.kinds for rule in kind.fields.rules)],
            customer_node,
        )
        return Profile(
            name=name,
            title=top["title"].text() if "title" in top else name,
            source=self.source,
            bonuses_per=bonuses_per,
            enums=dict(self.enums),
            customer=customer,
            contacts=contacts,
            card=card,
            movement=movement,
            receipt=receipt,
            balance=balance,
            tz=tz,
        )

    def enum_map(self, name: str, node: _Node) -> EnumMap:
        keys = node.mapping(["hub", "values"], ["aliases"])
        hub_name = keys["hub"].text()
        if hub_name not in HUB_ENUMS:
            keys["hub"].fail(f"unknown hub enum {hub_name!r} (known: {', '.join(sorted(HUB_ENUMS))})")
        hub_enum = HUB_ENUMS[hub_name]
        to_hub: dict[str, enum.StrEnum] = {}
        to_onec: dict[enum.StrEnum, str] = {}
        for section in ("values", "aliases"):
            if section not in keys:
                continue
            pairs = keys[section].entries()
            for onec_value, value_node in pairs.items():
                hub_value = value_node.text()
                try:
                    member = hub_enum(hub_value)
                except ValueError:
                    value_node.fail(f"{hub_value!r} is not a {hub_name} ({', '.join(hub_enum)})")
                if onec_value in to_hub:
                    value_node.fail(f"1C value {onec_value!r} is mapped twice")
                to_hub[onec_value] = member
                if section == "values":
                    if member in to_onec:
                        value_node.fail(
                            f"{hub_value!r} is mapped twice; put the extra 1C value under aliases"
                        )
                    to_onec[member] = onec_value
        missing = [member.value for member in hub_enum if member not in to_onec]
        if missing:
            keys["values"].fail(f"hub values without a 1C value: {', '.join(missing)}")
        return EnumMap(name=name, hub_enum=hub_enum, to_hub=to_hub, to_onec=to_onec)

    def entity(self, node: _Node, allowed: frozenset[str], *, extra: Iterable[str] = ()) -> EntityMap:
        keys = node.mapping(["entity_set", "fields"], ["create_defaults", "changed_at", *extra])
        entity_set = keys["entity_set"].text()
        if not _ENTITY_SET.fullmatch(entity_set):
            keys["entity_set"].fail(f"{entity_set!r} is not a 1C entity set (Catalog_X, Document_X, ...)")
        mapped = self.fields(entity_set, keys["fields"], allowed, keys.get("create_defaults"))
        if "changed_at" in keys:
            changed_at = keys["changed_at"].text()
            if not _ONEC_NAME.fullmatch(changed_at):
                keys["changed_at"].fail(f"{changed_at!r} is not a 1C field name")
            mapped = replace(mapped, changed_at=changed_at)
        return mapped

    def fields(
        self,
        entity_set: str,
        node: _Node,
        allowed: frozenset[str],
        create_defaults: _Node | None = None,
    ) -> EntityMap:
        rules = tuple(self.rule(item, allowed) for item in node.items())
        written: dict[str, str] = {}
        read: dict[str, str] = {}
        for rule in rules:
            for name in rule.onec if rule.writes else ():
                if name in written:
                    node.fail(f"1C field {name!r} is written by both {written[name]} and {rule.where}")
                written[name] = rule.where
            for name in rule.hub if rule.reads else ():
                if name in read:
                    node.fail(f"hub field {name!r} is read by both {read[name]} and {rule.where}")
                read[name] = rule.where
        defaults: dict[str, Any] = {}
        if create_defaults is not None:
            for key, value_node in create_defaults.entries().items():
                if not _ONEC_NAME.fullmatch(key) or key in written:
                    value_node.fail("not a 1C field name, or a field the rules already write")
                value = value_node.value
                plain = isinstance(value, bool | int) or (
                    isinstance(value, str) and clean_text(value, on_control="strip") == value
                )
                if not plain:
                    value_node.fail("a default must be a plain string, boolean or integer")
                defaults[key] = value_node.value
        return EntityMap(entity_set=entity_set, rules=rules, create_defaults=defaults)

    def rule(self, node: _Node, allowed: frozenset[str]) -> FieldRule:
        keys = node.mapping(["hub", "onec", "converter"], ["direction", "omit_empty", "enum", "target"])
        hub = keys["hub"].names()
        for name in hub:
            if name not in allowed:
                keys["hub"].fail(f"unknown hub field {name!r} (known: {', '.join(sorted(allowed))})")
        onec = keys["onec"].onec_names()
        converter_name = keys["converter"].text()
        if converter_name not in CONVERTER_NAMES:
            keys["converter"].fail(
                f"unknown converter {converter_name!r} (known: {', '.join(sorted(CONVERTER_NAMES))})"
            )
        if converter_name == "enum":
            if "enum" not in keys:
                node.fail("converter enum needs 'enum: <name of a map under enums>'")
            enum_name = keys["enum"].text()
            if enum_name not in self.enums:
                keys["enum"].fail(
                    f"unknown enum map {enum_name!r} (defined: {', '.join(sorted(self.enums))})"
                )
            converter = enum_converter(self.enums[enum_name])
        else:
            if "enum" in keys:
                keys["enum"].fail("only converter enum takes an enum map")
            converter = CONVERTERS[converter_name]
        if len(hub) != converter.arity:
            keys["hub"].fail(
                f"converter {converter_name} fills {converter.arity} hub field(s), {len(hub)} given"
            )
        direction_text = keys["direction"].text() if "direction" in keys else Direction.BOTH.value
        try:
            direction = Direction(direction_text)
        except ValueError:
            keys["direction"].fail(f"expected one of {', '.join(Direction)}")
        if direction not in converter.directions:
            if "direction" not in keys:
                node.fail(f"converter {converter_name} only works one way: set direction")
            keys["direction"].fail(
                f"converter {converter_name} works {', '.join(sorted(converter.directions))} only"
            )
        omit_empty = keys["omit_empty"].flag() if "omit_empty" in keys else False
        target = None
        if converter_name == "composite_ref":
            if "target" not in keys:
                node.fail("converter composite_ref needs 'target: <entity set it points to>'")
            target = keys["target"].text()
            if not _ENTITY_SET.fullmatch(target):
                keys["target"].fail(f"{target!r} is not a 1C entity set")
        elif "target" in keys:
            keys["target"].fail("only converter composite_ref takes a target")
        return FieldRule(
            hub=hub,
            onec=onec,
            converter=converter,
            direction=direction,
            omit_empty=omit_empty,
            where=node.path,
            target=target,
        )

    def contacts(self, node: _Node) -> ContactsMap:
        keys = node.mapping(["entity_set", "section", "type_field", "kinds"])
        entity_set = keys["entity_set"].text()
        kinds = []
        seen: set[str] = set()
        for item in keys["kinds"].items():
            kind_keys = item.mapping(["type", "fields"], ["prefer_mobile"])
            type_value = kind_keys["type"].text()
            if type_value in seen:
                kind_keys["type"].fail(f"contact type {type_value!r} is listed twice")
            seen.add(type_value)
            fields = self.fields(entity_set, kind_keys["fields"], CUSTOMER_FIELDS)
            prefer_mobile = kind_keys["prefer_mobile"].flag() if "prefer_mobile" in kind_keys else False
            if prefer_mobile and fields.hub_fields != {"phone_e164"}:
                kind_keys["prefer_mobile"].fail("prefer_mobile applies to a kind that maps phone_e164 only")
            kinds.append(ContactKind(type_value=type_value, fields=fields, prefer_mobile=prefer_mobile))
        return ContactsMap(
            entity_set=entity_set,
            section=keys["section"].onec_names()[0],
            type_field=keys["type_field"].onec_names()[0],
            kinds=tuple(kinds),
        )

    def movement(self, node: _Node, bonuses_per: BonusesPer) -> MovementMap:
        keys = node.mapping(["entity_set", "operation", "fields", "rows"])
        header = self.entity(node, MOVEMENT_FIELDS, extra=["operation", "rows"])
        operation = keys["operation"].mapping(["field", "credit", "debit"])
        rows = keys["rows"].mapping(["section", "fields"])
        row_map = self.fields(header.entity_set, rows["fields"], MOVEMENT_FIELDS)
        for rule in (*header.rules, *row_map.rules):
            if rule.direction is not Direction.BOTH:
                node.fail(f"{rule.where}: movement rules must work both ways")
        overlap = header.hub_fields & row_map.hub_fields
        if overlap:
            node.fail(f"hub fields mapped in both the header and the rows: {', '.join(sorted(overlap))}")
        needed = {"points", _OWNER_FIELD[bonuses_per]}
        missing = needed - row_map.hub_fields
        if missing:
            rows["fields"].fail(
                f"rows must map {', '.join(sorted(missing))} (bonuses_per: {bonuses_per.value})"
            )
        for rule in row_map.rules:
            if "points" in rule.hub and rule.converter.name != "decimal":
                rows["fields"].fail("points must use converter decimal")
        credit, debit = operation["credit"].text(), operation["debit"].text()
        if credit == debit:
            operation["debit"].fail("credit and debit must differ")
        return MovementMap(
            entity_set=header.entity_set,
            operation_field=operation["field"].onec_names()[0],
            credit=credit,
            debit=debit,
            header=header,
            rows_section=rows["section"].onec_names()[0],
            rows=row_map,
        )

    def receipt(self, node: _Node, bonuses_per: BonusesPer) -> ReceiptMap:
        keys = node.mapping(["entity_set", "fields", "rows"])
        header = self.entity(node, RECEIPT_FIELDS, extra=["rows"])
        rows = keys["rows"].mapping(["section", "operation", "fields"])
        operation = rows["operation"].mapping(["field", "credit", "debit"])
        row_map = self.fields(header.entity_set, rows["fields"], RECEIPT_FIELDS)
        for rule in (*header.rules, *row_map.rules):
            if not rule.reads:
                node.fail(f"{rule.where}: receipt rules are read from 1C")
        overlap = header.hub_fields & row_map.hub_fields
        if overlap:
            node.fail(f"hub fields mapped in both the header and the rows: {', '.join(sorted(overlap))}")
        if "points" in header.hub_fields or "points" not in row_map.hub_fields:
            rows["fields"].fail("rows must map points (each row's amount)")
        for rule in row_map.rules:
            if "points" in rule.hub and rule.converter.name != "decimal":
                rows["fields"].fail("points must use converter decimal")
        required = tuple(dict.fromkeys(("card_onec_ref", _OWNER_FIELD[bonuses_per])))
        missing = [name for name in required if name not in header.hub_fields | row_map.hub_fields]
        if missing:
            keys["fields"].fail(f"must map {', '.join(missing)} (bonuses_per: {bonuses_per.value})")
        credit, debit = operation["credit"].text(), operation["debit"].text()
        if credit == debit:
            operation["debit"].fail("credit and debit must differ")
        return ReceiptMap(
            entity_set=header.entity_set,
            header=header,
            rows_section=rows["section"].onec_names()[0],
            rows=row_map,
            operation_field=operation["field"].onec_names()[0],
            credit=credit,
            debit=debit,
            required=required,
        )

    def balance(self, node: _Node, bonuses_per: BonusesPer) -> BalanceMap:
        keys = node.mapping(["entity_set", "virtual_table", "fields"])
        fields = self.entity(node, BALANCE_FIELDS, extra=["virtual_table"])
        for rule in fields.rules:
            if not rule.reads:
                node.fail(f"{rule.where}: balance rules are read from 1C")
        needed = {"total", _OWNER_FIELD[bonuses_per]}
        missing = needed - fields.hub_fields
        if missing:
            keys["fields"].fail(f"must map {', '.join(sorted(missing))} (bonuses_per: {bonuses_per.value})")
        return BalanceMap(
            entity_set=fields.entity_set,
            virtual_table=keys["virtual_table"].onec_names()[0],
            fields=fields,
        )

    def check_hub_readers(self, rules: Iterable[FieldRule], node: _Node) -> None:
        """A hub field read by two rules (say, the partner and a contact row) would be ambiguous."""
        seen: dict[str, str] = {}
        for rule in rules:
            for name in rule.hub if rule.reads else ():
                if name in seen:
                    node.fail(f"hub field {name!r} is read by both {seen[name]} and {rule.where}")
                seen[name] = rule.where
