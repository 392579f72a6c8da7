"""The hub and 1C compared, linked pair by linked pair: points, card fields and customer profiles.

What is compared, for every hub object linked to 1C (``onec_ref`` set):

- **Points.** A card's ``card_balances.total`` against the ``НачисленоBalance`` of 1C's bonus
  register (``AccumulationRegister_БонусныеБаллы/Balance``), summed over bonus programs. Retail
  keeps points per card; УТ 11 per partner, so there the partner's 1C balance is compared with the
  SUM of the hub balances of that customer's cards that are linked to 1C. 1C's ``Balance`` has no
  row for a zero balance: no row is 0.
- **Card and customer fields.** Every field the profile maps both ways (``Profile.synced_fields``:
  for a card its number and status, for a customer the names, birth date, gender, phone, e-mail),
  the 1C object read through the profile (``card_from_onec``, ``customer_from_onec`` with the
  partner's contact section). The hub's value is first passed through the profile to 1C and back,
  so a difference is one a sync would actually change: a phone written differently in 1C but the
  same number in E.164 is not one.
- **Existence.** A hub object linked to a reference 1C does not have is ``missing_in_onec``. With
  ``include_unlinked=True``, 1C cards no hub card is linked to, and the partners holding them that
  no hub customer is linked to, are listed too (``unlinked_in_onec``); a 1C base's other partners
  (suppliers, companies) are not the loyalty program's and are left out, as are objects marked for
  deletion.

How 1C is read: the whole comparison (no ids given) pages through the card and partner catalogs
and the ``Balance`` table with ``$top``/``$skip`` (1C sends no next link). A subset (``card_ids``,
``customer_ids``) is read by reference: ``$filter`` chains of ``or`` (1C has no ``in``), about 20
references a request and never over 1,500 encoded bytes, which keeps the query string under IIS's
2,048-byte limit even with Cyrillic field names. The ``Balance`` subset goes through ``$filter``,
not the ``Condition`` parameter: that one sits in the URL path, where IIS limits a segment to 260
characters. A failed 1C read raises its ``OneCError``: never a half comparison.

Amounts are ``Decimal`` throughout. Values are kept as they are for code (``Difference.hub_value``,
``onec_value``); what is printed (``repr``, ``describe``, ``Comparison.summary``) masks personal
data. The hub is read in one transaction and 1C afterwards, so a sync running meanwhile can show
as a passing difference; compare again before acting on one.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bonusbridge.models import Card, CardBalance, Customer
from bonusbridge.privacy import mask_name, mask_phone
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.errors import OneCProtocolError
from connectors.onec.filters import Filter, Guid, any_of_batches
from connectors.onec.odata import ODataClient, query_string
from mapping.errors import MappingError
from mapping.profile import TYPE_SUFFIX, BonusesPer, EntityMap, FieldRule, Profile
from mapping.refs import from_onec_ref

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")
#: References per ``$filter`` request (also capped at ``MAX_FILTER_BYTES`` once encoded).
CHUNK_SIZE = 20
MAX_FILTER_BYTES = 1500
#: Objects (or balance rows) per ``$top``/``$skip`` page.
PAGE_SIZE = 500
#: Hub ids per SQL ``IN`` list (SQLite caps bound parameters).
_IN_CHUNK = 500
#: A standard field of every 1C object, not part of any profile.
DELETION_MARK = "DeletionMark"
REF_KEY = "Ref_Key"

Entity = dict[str, Any]
Kind = Literal["customer", "card"]


class DifferenceKind(enum.StrEnum):
    """What disagrees. ``hub_id`` is a card id for the card kinds and a customer id otherwise."""

    CARD_BALANCE = "card_balance"  # Retail: the card's points
    PARTNER_BALANCE = "partner_balance"  # УТ 11: the partner's points vs the customer's linked cards
    CARD_FIELD = "card_field"  # number, status
    CUSTOMER_FIELD = "customer_field"  # names, birth date, gender, phone, e-mail


_CUSTOMER_KINDS = frozenset({DifferenceKind.PARTNER_BALANCE, DifferenceKind.CUSTOMER_FIELD})


@dataclasses.dataclass(frozen=True)
class Difference:
    """One value the hub and 1C disagree on. The values are the hub's as stored and 1C's as the
    profile maps it (``None`` for empty); ``repr`` leaves them out, ``describe`` masks them."""

    kind: DifferenceKind
    hub_id: int
    onec_ref: str
    field: str
    hub_value: Any = dataclasses.field(repr=False)
    onec_value: Any = dataclasses.field(repr=False)

    @property
    def hub_entity(self) -> Kind:
        return "customer" if self.kind in _CUSTOMER_KINDS else "card"

    def describe(self) -> str:
        """One line for a person, personal data masked."""
        return (
            f"{self.hub_entity} {self.hub_id} (1C {self.onec_ref}) {self.field}: "
            f"hub {self._shown(self.hub_value)}, 1C {self._shown(self.onec_value)}"
        )

    def _shown(self, value: Any) -> str:
        if self.kind is DifferenceKind.CUSTOMER_FIELD:
            text = None if value is None else str(value)
            return mask_phone(text) if "phone" in self.field else mask_name(text)
        if value is None:
            return "-"
        if isinstance(value, Decimal):
            return format(value, "f")
        return str(value)


@dataclasses.dataclass(frozen=True)
class Missing:
    """A hub object linked to a 1C reference that 1C does not have."""

    entity: Kind
    hub_id: int
    onec_ref: str


@dataclasses.dataclass(frozen=True)
class Unlinked:
    """A 1C card, or a partner holding one, that no hub object is linked to."""

    entity: Literal["card", "partner"]
    onec_ref: str


@dataclasses.dataclass
class Comparison:
    """The outcome of ``compare_hub_with_onec``.

    ``ok`` means every linked pair compared agrees: no difference, nothing missing in 1C and nothing
    that could not be compared (``errors``: a 1C value the profile cannot map, a hub reference that
    is not a GUID, an УТ 11 card whose points have no partner to compare with). ``unlinked_in_onec``
    does not count: 1C objects the hub has not linked yet are not a disagreement.
    """

    profile: str
    card_differences: list[Difference] = dataclasses.field(default_factory=list)
    customer_differences: list[Difference] = dataclasses.field(default_factory=list)
    missing_in_onec: list[Missing] = dataclasses.field(default_factory=list)
    unlinked_in_onec: list[Unlinked] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    checked_cards: int = 0
    checked_customers: int = 0

    @property
    def differences(self) -> list[Difference]:
        return [*self.card_differences, *self.customer_differences]

    @property
    def ok(self) -> bool:
        return not (self.card_differences or self.customer_differences or self.missing_in_onec or self.errors)

    def summary(self) -> str:
        """A report for logs and screens: counts, then one line per finding, personal data masked."""
        head = (
            f"hub vs 1C ({self.profile}): {self.checked_cards} card(s) and "
            f"{self.checked_customers} customer(s) compared"
        )
        if self.ok:
            head += ", all agree"
        else:
            head += (
                f": {len(self.differences)} difference(s), {len(self.missing_in_onec)} missing in 1C, "
                f"{len(self.errors)} not comparable"
            )
        if self.unlinked_in_onec:
            head += f"; {len(self.unlinked_in_onec)} 1C object(s) not linked in the hub"
        lines = [head]
        lines += [f"  {difference.describe()}" for difference in self.differences]
        lines += [
            f"  {missing.entity} {missing.hub_id}: linked to 1C {missing.onec_ref}, which 1C does not have"
            for missing in self.missing_in_onec
        ]
        lines += [f"  not comparable: {error}" for error in self.errors]
        lines += [
            f"  1C {unlinked.entity} {unlinked.onec_ref}: not linked in the hub"
            for unlinked in self.unlinked_in_onec
        ]
        return "\n".join(lines)


def compare_hub_with_onec(
    engine_or_session_factory: Engine | sessionmaker[Session],
    client: ODataClient,
    profile: Profile,
    *,
    card_ids: Iterable[int] | None = None,
    customer_ids: Iterable[int] | None = None,
    include_unlinked: bool = False,
    chunk_size: int = CHUNK_SIZE,
    page_size: int = PAGE_SIZE,
) -> Comparison:
    """Compare the hub with the 1C behind ``client``, read through ``profile``.

    With neither ``card_ids`` nor ``customer_ids`` everything linked is compared. Otherwise only
    what is given: ``card_ids`` the cards, ``customer_ids`` the customers and their cards (ids not
    linked to 1C are skipped: there is nothing to compare them with). In УТ 11 a card's points are
    compared through its customer, over all of that customer's linked cards.
    """
    if chunk_size < 1 or page_size < 1:
        raise ValueError("chunk_size and page_size must be positive")
    whole = card_ids is None and customer_ids is None
    per_partner = profile.bonuses_per is BonusesPer.PARTNER
    card_fields = profile.synced_fields("card")
    customer_fields = profile.synced_fields("customer")
    result = Comparison(profile.name)

    with UnitOfWork(engine_or_session_factory) as uow:
        hub = _HubReader(uow.session, result, card_fields, customer_fields).read(
            None if card_ids is None else set(card_ids),
            None if customer_ids is None else set(customer_ids),
            per_partner=per_partner,
            include_unlinked=include_unlinked,
        )

    def scope(refs: list[str]) -> list[str] | None:
        """What to read: the given references, or in the whole comparison every object (None),
        unless the hub has nothing of the kind linked."""
        return refs if not whole else (None if refs else [])

    onec = _OneCReader(client, profile, chunk_size, page_size)
    owner_select = _select(profile.card, ["customer_onec_ref"]) if include_unlinked else []
    card_select = [*_select(profile.card, card_fields), *owner_select, DELETION_MARK]
    card_refs = [card.onec_ref for card in hub.cards]
    onec_cards = onec.objects(
        profile.card.entity_set, None if whole and include_unlinked else scope(card_refs), card_select
    )
    customer_select = _select(profile.customer, customer_fields)
    if set(customer_fields) & _contact_fields(profile):
        customer_select.append(profile.contacts.section)
    customer_refs = [customer.onec_ref for customer in hub.customers if customer.onec_ref]
    onec_partners = onec.objects(profile.customer.entity_set, scope(customer_refs), customer_select)
    if per_partner:
        owners = [owner.onec_ref for owner in hub.owners.values() if owner.onec_ref]
    else:
        owners = [ref for ref in card_refs if ref in onec_cards]
    balances = onec.balances(scope(owners), result)

    _compare_cards(profile, hub, onec_cards, balances, card_fields, per_partner, result)
    missing_partners = _compare_customers(profile, hub, onec_partners, customer_fields, result)
    if per_partner:
        _compare_partner_balances(hub, balances, missing_partners, result)
    if include_unlinked:
        every_card = (
            onec_cards
            if whole
            else onec.objects(profile.card.entity_set, None, [REF_KEY, *owner_select, DELETION_MARK])
        )
        _list_unlinked(profile, hub, every_card, result)

    order = list(DifferenceKind)
    for differences in (result.card_differences, result.customer_differences):
        differences.sort(key=lambda d: (order.index(d.kind), d.hub_id, d.field))
    log.info(
        "hub vs 1C (%s): %d cards, %d customers compared; %d differences, %d missing in 1C, %d errors",
        profile.name,
        result.checked_cards,
        result.checked_customers,
        len(result.differences),
        len(result.missing_in_onec),
        len(result.errors),
    )
    return result


# --- which fields ----------------------------------------------------------------------------------


def _rules(profile: Profile, kind: Kind) -> tuple[FieldRule, ...]:
    if kind == "card":
        return profile.card.rules
    contact_rules = (rule for contact in profile.contacts.kinds for rule in contact.fields.rules)
    return (*profile.customer.rules, *contact_rules)


def _contact_fields(profile: Profile) -> set[str]:
    return {name for contact in profile.contacts.kinds for name in contact.fields.hub_fields}


def _select(entity: EntityMap, hub_fields: Iterable[str]) -> list[str]:
    """``$select``: the reference and the 1C fields the rules reading ``hub_fields`` need."""
    wanted = set(hub_fields)
    names: dict[str, None] = {REF_KEY: None}
    for rule in entity.rules:
        if rule.reads and wanted.intersection(rule.hub):
            names.update(dict.fromkeys(rule.onec))
            if rule.target:
                names.update(dict.fromkeys(f"{name}{TYPE_SUFFIX}" for name in rule.onec))
    return list(names)


def _groups(profile: Profile, kind: Kind, fields: Sequence[str]) -> list[tuple[str, ...]]:
    """Fields that cross to 1C together (a full name is three hub fields in one 1C field)."""
    rules = _rules(profile, kind)
    groups: list[tuple[str, ...]] = []
    done: set[str] = set()
    for name in fields:
        if name in done:
            continue
        group = dict.fromkeys([name])
        for rule in rules:
            if name in rule.hub:
                group.update(dict.fromkeys(other for other in rule.hub if other in fields))
        done.update(group)
        groups.append(tuple(group))
    return groups


def _as_onec_reads_it(
    profile: Profile, kind: Kind, values: Mapping[str, Any], groups: Sequence[tuple[str, ...]]
) -> dict[str, Any]:
    """The hub's values written to 1C and read back through the profile: the form 1C's values take
    after mapping. A group the profile cannot write (a hub value 1C would refuse) keeps its value."""
    result = dict(values)
    for group in groups:
        fields = {name: values[name] for name in group}
        try:
            if kind == "card":
                back = profile.card_from_onec(profile.card_to_onec(fields))
            else:
                body, rows = profile.customer_to_onec(fields)
                back = profile.customer_from_onec({**body, profile.contacts.section: rows})
        except MappingError:
            continue
        result.update({name: back[name] for name in group if name in back})
    return result


def _same(hub_value: Any, onec_value: Any) -> bool:
    """Equal after mapping; an empty string and None are both "nothing"."""
    return (None if hub_value == "" else hub_value) == (None if onec_value == "" else onec_value)


# --- the hub side ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _HubCard:
    id: int
    customer_id: int | None
    onec_ref: str
    total: Decimal
    values: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _HubCustomer:
    id: int
    onec_ref: str | None
    values: dict[str, Any]


@dataclasses.dataclass
class _HubSnapshot:
    cards: list[_HubCard]
    customers: list[_HubCustomer]
    #: УТ 11: the customers owning the compared cards, and the sum over all their linked cards.
    owners: dict[int, _HubCustomer] = dataclasses.field(default_factory=dict)
    owner_totals: dict[int, Decimal] = dataclasses.field(default_factory=dict)
    #: include_unlinked: every reference the hub links to.
    card_refs: set[str] = dataclasses.field(default_factory=set)
    customer_refs: set[str] = dataclasses.field(default_factory=set)


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _HubReader:
    def __init__(
        self, session: Session, result: Comparison, card_fields: Sequence[str], customer_fields: Sequence[str]
    ) -> None:
        self.session = session
        self.result = result
        self.card_fields = card_fields
        self.customer_fields = customer_fields

    def read(
        self,
        card_ids: set[int] | None,
        customer_ids: set[int] | None,
        *,
        per_partner: bool,
        include_unlinked: bool,
    ) -> _HubSnapshot:
        whole = card_ids is None and customer_ids is None
        if whole:
            cards = self.cards(None)
            customers = self.customers(None, linked_only=True)
        else:
            cards = self.cards(Card.id, sorted(card_ids or ()))
            seen = {card.id for card in cards}
            cards += [c for c in self.cards(Card.customer_id, sorted(customer_ids or ())) if c.id not in seen]
            cards.sort(key=lambda card: card.id)
            customers = self.customers(sorted(customer_ids or ()), linked_only=True)
        snapshot = _HubSnapshot(cards, customers)
        if per_partner:
            owner_ids = sorted({card.customer_id for card in cards if card.customer_id is not None})
            known = {customer.id: customer for customer in customers}
            missing = [customer_id for customer_id in owner_ids if customer_id not in known]
            known.update((customer.id, customer) for customer in self.customers(missing, linked_only=False))
            snapshot.owners = {customer_id: known[customer_id] for customer_id in owner_ids}
            owned = cards if whole else self.cards(Card.customer_id, owner_ids)
            for card in owned:
                if card.customer_id is not None:
                    total = snapshot.owner_totals.get(card.customer_id, ZERO)
                    snapshot.owner_totals[card.customer_id] = total + card.total
        if include_unlinked:
            snapshot.card_refs = self.refs(Card.onec_ref)
            snapshot.customer_refs = self.refs(Customer.onec_ref)
        return snapshot

    def cards(self, column: Any, ids: Sequence[int] | None = None) -> list[_HubCard]:
        """Linked cards, all (``column`` None) or those whose ``column`` is among ``ids``."""
        fields = [getattr(Card, name) for name in self.card_fields]
        query = (
            select(Card.id, Card.customer_id, Card.onec_ref, CardBalance.total, *fields)
            .outerjoin(CardBalance, CardBalance.card_id == Card.id)
            .where(Card.onec_ref.is_not(None))
            .order_by(Card.id)
        )
        cards = []
        for row in self._rows(query, column, ids):
            card_id, customer_id, onec_ref, total, *values = row
            ref = self._ref("card", card_id, onec_ref)
            if ref is not None:
                values_by_name = dict(zip(self.card_fields, values, strict=True))
                cards.append(_HubCard(card_id, customer_id, ref, total or ZERO, values_by_name))
        return cards

    def customers(self, ids: Sequence[int] | None, *, linked_only: bool) -> list[_HubCustomer]:
        fields = [getattr(Customer, name) for name in self.customer_fields]
        query = select(Customer.id, Customer.onec_ref, *fields).order_by(Customer.id)
        if linked_only:
            query = query.where(Customer.onec_ref.is_not(None))
        customers = []
        for row in self._rows(query, None if ids is None else Customer.id, ids):
            customer_id, onec_ref, *values = row
            ref = None if onec_ref is None else self._ref("customer", customer_id, onec_ref)
            if ref is None and linked_only:
                continue
            customers.append(
                _HubCustomer(customer_id, ref, dict(zip(self.customer_fields, values, strict=True)))
            )
        return customers

    def refs(self, column: Any) -> set[str]:
        found = set()
        for value in self.session.scalars(select(column).where(column.is_not(None))):
            try:
                ref = from_onec_ref(value)
            except MappingError:
                continue
            if ref is not None:
                found.add(ref)
        return found

    def _rows(self, query: Any, column: Any, ids: Sequence[int] | None) -> Iterator[Sequence[Any]]:
        if column is None or ids is None:
            yield from self.session.execute(query)
            return
        for chunk in _chunks(ids, _IN_CHUNK):
            condition: ColumnElement[bool] = column.in_(chunk)
            yield from self.session.execute(query.where(condition))

    def _ref(self, entity: Kind, hub_id: int, value: str) -> str | None:
        """The hub's reference as 1C writes it (lower case), or None and an error if it is none."""
        try:
            ref = from_onec_ref(value)
        except MappingError:
            ref = None
        if ref is None:
            self.result.errors.append(f"{entity} {hub_id}: its onec_ref is not a 1C reference")
        return ref


# --- the 1C side -----------------------------------------------------------------------------------


class _OneCReader:
    def __init__(self, client: ODataClient, profile: Profile, chunk_size: int, page_size: int) -> None:
        self.client = client
        self.profile = profile
        self.chunk_size = chunk_size
        self.page_size = page_size

    def filters(self, field: str, refs: Collection[str]) -> Iterator[Filter]:
        """``field eq guid'…' or …``: ``chunk_size`` references at most, ``MAX_FILTER_BYTES`` encoded."""
        ordered = sorted(set(refs))
        for chunk in _chunks(ordered, self.chunk_size):
            yield from any_of_batches(field, [Guid(ref) for ref in chunk], max_encoded=MAX_FILTER_BYTES)

    def objects(self, entity_set: str, refs: Collection[str] | None, select: list[str]) -> dict[str, Entity]:
        """Objects by reference: every one (``refs`` None), paged, or the given ones, filtered."""
        select = list(dict.fromkeys(select))
        if refs is None:
            found = self._keyed(self.client.iter_all(entity_set, self.page_size, select=select))
        else:
            found = {}
            for condition in self.filters(REF_KEY, refs):
                found.update(
                    self._keyed(
                        self.client.iter_all(entity_set, self.page_size, filter=condition, select=select)
                    )
                )
        return found

    def balances(self, owners: Collection[str] | None, result: Comparison) -> dict[str, Decimal]:
        """Points per owner (card or partner, per profile) from ``Balance``, summed over programs."""
        owner_hub_field = self.profile.bonus_owner_field
        owner_field = self.profile.balance.fields.onec_field(owner_hub_field)
        if owner_field is None:  # the profile loader refuses such a profile
            raise ValueError(f"the profile's balance map does not read {owner_hub_field}")
        if owners is None:
            conditions: Iterable[Filter | None] = [None]
        elif owners:
            conditions = self.filters(owner_field, owners)
        else:
            conditions = []
        totals: dict[str, Decimal] = {}
        for condition in conditions:
            for row in self._balance_rows(condition):
                try:
                    values = self.profile.balance_from_onec(row)
                except MappingError as error:
                    result.errors.append(str(error))
                    continue
                owner = values.get(owner_hub_field)
                if owner is not None:
                    totals[owner] = totals.get(owner, ZERO) + (values.get("total") or ZERO)
        return totals

    def _balance_rows(self, condition: Filter | None) -> Iterator[Entity]:
        """``<Register>/Balance()`` paged with ``$top``/``$skip``, in the order of its dimensions."""
        balance = self.profile.balance
        path = f"{balance.entity_set}/{balance.virtual_table}()"
        dimensions = [
            rule.onec[0]
            for rule in balance.fields.rules
            if any(name.endswith("_onec_ref") for name in rule.hub)
        ]
        skip = 0
        while True:
            options = query_string(
                filter=None if condition is None else condition.text,
                orderby=",".join(dimensions) or None,
                top=self.page_size,
                skip=skip or None,
            )
            body = self.client.request("GET", path + options)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise OneCProtocolError(f"1C's {balance.entity_set} balance answer has no 'value' array")
            rows: list[Entity] = body["value"]
            yield from rows
            if len(rows) < self.page_size:
                return
            skip += self.page_size

    @staticmethod
    def _keyed(objects: Iterable[Entity]) -> dict[str, Entity]:
        found: dict[str, Entity] = {}
        for entity in objects:
            try:
                ref = from_onec_ref(entity.get(REF_KEY))
            except MappingError:
                continue
            if ref is not None:
                found[ref] = entity
        return found


# --- comparing -------------------------------------------------------------------------------------


def _mapping_errors(errors: list[MappingError], result: Comparison) -> None:
    result.errors.extend(str(error) for error in errors)


def _compare_cards(
    profile: Profile,
    hub: _HubSnapshot,
    onec_cards: Mapping[str, Entity],
    balances: Mapping[str, Decimal],
    fields: Sequence[str],
    per_partner: bool,
    result: Comparison,
) -> None:
    groups = _groups(profile, "card", fields)
    for card in hub.cards:
        entity = onec_cards.get(card.onec_ref)
        if entity is None:
            result.missing_in_onec.append(Missing("card", card.id, card.onec_ref))
            continue
        result.checked_cards += 1
        errors: list[MappingError] = []
        onec_values = profile.card_from_onec(entity, errors=errors)
        _mapping_errors(errors, result)
        expected = _as_onec_reads_it(profile, "card", card.values, groups)
        for name in fields:
            if name in onec_values and not _same(expected[name], onec_values[name]):
                result.card_differences.append(
                    Difference(
                        DifferenceKind.CARD_FIELD,
                        card.id,
                        card.onec_ref,
                        name,
                        card.values[name],
                        onec_values[name],
                    )
                )
        if per_partner:
            if card.customer_id is None:
                result.errors.append(
                    f"card {card.id}: belongs to no customer, so its points have no partner to compare with"
                )
            continue
        onec_total = balances.get(card.onec_ref, ZERO)
        if card.total != onec_total:
            result.card_differences.append(
                Difference(
                    DifferenceKind.CARD_BALANCE, card.id, card.onec_ref, "total", card.total, onec_total
                )
            )


def _compare_customers(
    profile: Profile,
    hub: _HubSnapshot,
    onec_partners: Mapping[str, Entity],
    fields: Sequence[str],
    result: Comparison,
) -> set[str]:
    """Compare the customers' fields; the references found missing in 1C."""
    groups = _groups(profile, "customer", fields)
    missing: set[str] = set()
    for customer in hub.customers:
        if customer.onec_ref is None:  # not read: only linked customers are compared
            continue
        entity = onec_partners.get(customer.onec_ref)
        if entity is None:
            result.missing_in_onec.append(Missing("customer", customer.id, customer.onec_ref))
            missing.add(customer.onec_ref)
            continue
        result.checked_customers += 1
        errors: list[MappingError] = []
        onec_values = profile.customer_from_onec(entity, errors=errors)
        _mapping_errors(errors, result)
        expected = _as_onec_reads_it(profile, "customer", customer.values, groups)
        # A hub value read from several 1C fields (the full name from НаименованиеПолное or
        # Description) is compared with each of them: an edit of one only, or 1C's two fields
        # disagreeing, shows as a difference naming the 1C field.
        alternatives = profile.readings("customer", entity)
        for onec_field, read in alternatives:
            for name in fields:
                if name in read and not _same(expected[name], read[name]):
                    result.customer_differences.append(
                        Difference(
                            DifferenceKind.CUSTOMER_FIELD,
                            customer.id,
                            customer.onec_ref,
                            f"{name} ({onec_field})",
                            customer.values[name],
                            read[name],
                        )
                    )
        covered = {name for _, read in alternatives for name in read}
        for name in fields:
            if name in covered:
                continue
            if name in onec_values and not _same(expected[name], onec_values[name]):
                result.customer_differences.append(
                    Difference(
                        DifferenceKind.CUSTOMER_FIELD,
                        customer.id,
                        customer.onec_ref,
                        name,
                        customer.values[name],
                        onec_values[name],
                    )
                )
    return missing


def _compare_partner_balances(
    hub: _HubSnapshot, balances: Mapping[str, Decimal], missing_partners: set[str], result: Comparison
) -> None:
    for customer_id, owner in hub.owners.items():
        if owner.onec_ref is None:
            result.errors.append(
                f"customer {customer_id}: has cards linked to 1C but is not linked to a 1C partner, "
                "so their points cannot be compared"
            )
            continue
        if owner.onec_ref in missing_partners:  # already listed as missing in 1C
            continue
        hub_total = hub.owner_totals.get(customer_id, ZERO)
        onec_total = balances.get(owner.onec_ref, ZERO)
        if hub_total != onec_total:
            result.card_differences.append(
                Difference(
                    DifferenceKind.PARTNER_BALANCE,
                    customer_id,
                    owner.onec_ref,
                    "total",
                    hub_total,
                    onec_total,
                )
            )


def _list_unlinked(
    profile: Profile, hub: _HubSnapshot, onec_cards: Mapping[str, Entity], result: Comparison
) -> None:
    partners: set[str] = set()
    for ref, entity in sorted(onec_cards.items()):
        if entity.get(DELETION_MARK) is True:
            continue
        if ref not in hub.card_refs:
            result.unlinked_in_onec.append(Unlinked("card", ref))
        owner = profile.card_from_onec(entity, errors=[]).get("customer_onec_ref")
        if isinstance(owner, str) and owner not in hub.customer_refs:
            partners.add(owner)
    result.unlinked_in_onec += [Unlinked("partner", ref) for ref in sorted(partners)]
