"""Delivering the hub's changes to 1C: one outbox message at a time, in order per key.

Each delivery reads the hub's state in a short transaction, talks to 1C with no transaction open
(a slow 1C must not hold the hub's locks), then records the result and marks the message done in a
second short transaction. If the process dies in between, the message is delivered again — so
every write into 1C looks before it writes:

- a movement carries the hub's movement id in the document's ``Комментарий``
  (``ВнешнийИдентификатор: bb000000000042``, fixed width so one id is never a substring of another);
  a retry finds that document and only posts it if it is not posted yet;
- a new card is looked up by its barcode, a new partner by the marker in its ``Комментарий``;
- a customer or card is sent as its *current* state, merged field by field with what 1C holds
  (``merge.three_way``), so a repeated or late delivery writes nothing new.

The hub writes into 1C as the website's user, whose writes 1C does not register back to the
website's exchange-plan node (1C's ``DataExchange.Sender``): the echo is suppressed at the source,
and ``inbound`` also recognises the DataVersion it wrote and the movement marker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, and_, select, update

from bonusbridge.ledger import accounts
from bonusbridge.models import (
    Card,
    CardStatus,
    Customer,
    Gender,
    Movement,
    MovementKind,
    Origin,
    OutboxMessage,
    Program,
    SyncState,
)
from connectors.onec.changefeed import ONEC_CHANGED_AT
from connectors.onec.errors import OneCError, OneCUnavailable, OneCValueRejected
from connectors.onec.filters import F
from connectors.sync import cursors, links
from connectors.sync.context import SyncContext
from connectors.sync.merge import Merge, plain, three_way
from connectors.sync.retry import record_failure
from connectors.sync.slots import INBOX, OUTBOX, PENDING, Outcome
from mapping.errors import MappingError
from mapping.profile import EntityMap

log = logging.getLogger(__name__)

MARKER_LABEL = "ВнешнийИдентификатор: "
#: The card kinds catalog per profile: a card created from the website needs one.
CARD_KIND_SETS = {"retail": "Catalog_ВидыИнформационныхКарт", "ut11": "Catalog_ВидыКартЛояльности"}
PROGRAMS = "Catalog_БонусныеПрограммыЛояльности"


class NotReady(Exception):
    """Something this message needs is not in 1C yet (a card's owner, a movement's card): its own
    message comes first in order and is on its way. Waits briefly without counting as a failure."""


def movement_marker(movement_id: int) -> str:
    return f"bb{movement_id:012d}"


def customer_marker(customer_id: int) -> str:
    return f"bbc{customer_id:012d}"


# --- the outcome of one delivery ---------------------------------------------------------------


@dataclass
class Pushed:
    onec_ref: str | None = None
    onec_version: str | None = None
    base: dict[str, Any] = field(default_factory=dict)
    to_hub: dict[str, Any] = field(default_factory=dict)
    merge: Merge | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    #: 1C's alternative fields as this delivery left them (``Profile.onec_alternatives``).
    onec_values: dict[str, Any] | None = None


def onec_changed_at(ctx: SyncContext, change: dict[str, Any], received_at: datetime) -> datetime:
    """When 1C made this change, for the "newer" conflict policy: 1C's own time where 1C gives one
    — the object's change-time field if the profile maps one (``changed_at``), else the time the
    exchange message carries (``changefeed.ONEC_CHANGED_AT``: the AMQP message's ``changed_at`` or
    its ``timestamp``) — and otherwise the time the hub stored it (SelectChanges gives no time).
    A time without an offset is 1C's server time (``BONUSBRIDGE_ONEC_TIMEZONE``). Never later than
    the hub's receipt: a 1C clock running ahead must not make a change newer than it can be."""
    stamp: Any = None
    field_name = ctx.profile.change_time_field(change)
    if field_name is not None:
        stamp = change.get(field_name)
    if not stamp:
        stamp = change.get(ONEC_CHANGED_AT)
    if not stamp:
        return received_at
    try:
        when = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
    except ValueError:
        return received_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=ctx.profile.tz or ctx.settings.onec_zone)
    return min(when, received_at)


# --- customers -----------------------------------------------------------------------------------


def _customer_fields(ctx: SyncContext) -> tuple[str, ...]:
    return ctx.profile.synced_fields("customer")


def push_customer(ctx: SyncContext, customer_id: int) -> Pushed | None:
    fields = _customer_fields(ctx)
    with ctx.session_factory() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            return None
        values = links.customer_values(customer, fields)
        link = links.link_of(session, "customer", customer_id)
        base, known_version = links.base_of(link), link.onec_version if link else None
        previous = links.onec_values_of(link)
        onec_ref, changed_at = customer.onec_ref, customer.updated_at
    profile, client = ctx.profile, ctx.client
    entity_set = profile.customer.entity_set
    section = profile.contacts.section
    if onec_ref is None:
        marker = customer_marker(customer_id)
        partner = client.find(entity_set, F.substringof(marker, "Комментарий"))
        if partner is None:
            body, rows = profile.customer_to_onec(values, for_create=True)
            body[section] = rows
            body["Комментарий"] = MARKER_LABEL + marker
            partner = client.create(entity_set, body)
        return Pushed(
            str(partner["Ref_Key"]),
            str(partner.get("DataVersion")),
            values,
            snapshot=values,
            onec_values=profile.onec_alternatives("customer", partner),
        )
    partner = client.get(entity_set, onec_ref)
    theirs = profile.customer_from_onec(partner, previous=previous)
    merge = _merge(ctx, fields, base, values, theirs, known_version, partner, changed_at)
    contact_fields = {f for kind in profile.contacts.kinds for f in kind.fields.hub_fields}

    # A value 1C cannot hold fails its message (a dead letter, with the reason) but must not hold
    # back the customer's other changes, then or later: those are written all the same.
    unmapped: list[MappingError] = []

    def body_of(outgoing: dict[str, Any]) -> dict[str, Any]:
        body, _ = profile.customer_to_onec(outgoing, errors=unmapped)
        if contact_fields & outgoing.keys():  # 1C replaces a tabular section whole
            body[section] = profile.merge_contacts(partner.get(section) or [], outgoing, errors=unmapped)
        if unmapped and not body:
            raise unmapped[0]
        return body

    pushed = _write_merged(ctx, profile.customer, onec_ref, partner, values, theirs, merge, body_of)
    if unmapped:
        raise unmapped[0]
    return pushed


def _write_merged(
    ctx: SyncContext,
    entity: EntityMap,
    onec_ref: str,
    current: dict[str, Any],
    values: dict[str, Any],
    theirs: dict[str, Any],
    merge: Merge,
    body_of: Callable[[dict[str, Any]], dict[str, Any]],
) -> Pushed:
    """PATCH the fields the merge sends to 1C (if any); they then join the common version."""
    version = str(current.get("DataVersion"))
    kind = "customer" if entity is ctx.profile.customer else "card"
    after = dict(current)
    if merge.to_onec:
        outgoing = {name: values[name] for name in merge.to_onec}
        outgoing.update(_companions(entity, outgoing, values, theirs, merge))
        body = body_of(outgoing)
        written = ctx.client.patch(entity.entity_set, onec_ref, body)
        version = str(written.get("DataVersion"))
        merge.base.update({name: plain(values[name]) for name in merge.to_onec})
        after.update(body)
        after.update(written)
    onec_values = ctx.profile.onec_alternatives(kind, after)
    return Pushed(
        onec_ref, version, merge.base, {k: theirs[k] for k in merge.to_hub}, merge, values, "", onec_values
    )


def _companions(
    entity: EntityMap, outgoing: dict[str, Any], values: dict[str, Any], theirs: dict[str, Any], merge: Merge
) -> dict[str, Any]:
    """The unchanged hub fields that a written 1C field is built from too.

    One 1C field may be made of several hub fields (the full name of last, first and middle name).
    When only one of them changed, 1C's field is still rewritten whole, so the others go along with
    their merged values: 1C's where 1C won them, else the hub's (equal to 1C's when unchanged).
    """
    extra: dict[str, Any] = {}
    for rule in entity.rules:
        if len(rule.hub) > 1 and rule.writes and any(name in outgoing for name in rule.hub):
            for name in rule.hub:
                if name not in outgoing:
                    extra[name] = theirs[name] if name in merge.to_hub else values.get(name)
    return extra


def _merge(
    ctx: SyncContext,
    fields: tuple[str, ...],
    base: dict[str, Any],
    ours: dict[str, Any],
    theirs: dict[str, Any],
    known_version: str | None,
    onec_object: dict[str, Any],
    hub_changed_at: datetime | None,
) -> Merge:
    if known_version is not None and onec_object.get("DataVersion") == known_version:
        # 1C has not changed the object since the last common version: whatever differs is ours.
        return _ours_where_different(fields, ours, theirs)
    return three_way(
        fields,
        base,
        ours,
        theirs,
        ctx.policy,
        hub_changed_at=hub_changed_at,
        onec_changed_at=_onec_time_of(ctx, onec_object),
    )


def _onec_time_of(ctx: SyncContext, onec_object: dict[str, Any]) -> datetime:
    """When 1C made the version of ``onec_object`` read here: its own change-time field if the
    profile maps one, else the time its change in the feed carried (the inbox row of this very
    version, if the listener stored it already), else now — the feed has not brought it yet, so
    1C's change is at most this old."""
    now = ctx.clock()
    ref, version = onec_object.get("Ref_Key"), onec_object.get("DataVersion")
    entity_set = str(onec_object.get("odata.type", "")).removeprefix("StandardODATA.")
    if ref and version:
        sets = [entity_set] if entity_set else [ctx.profile.customer.entity_set, ctx.profile.card.entity_set]
        with ctx.engine.connect() as conn:
            row = conn.execute(
                select(INBOX.c.payload, INBOX.c.received_at)
                .where(
                    INBOX.c.entity_set.in_(sets),
                    INBOX.c.onec_ref == str(ref),
                    INBOX.c.data_version == str(version),
                )
                .limit(1)
            ).first()
        if row is not None:
            received = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
            return onec_changed_at(ctx, {**onec_object, **json.loads(row.payload)}, received)
    return onec_changed_at(ctx, onec_object, now)


def _ours_where_different(fields: tuple[str, ...], ours: dict[str, Any], theirs: dict[str, Any]) -> Merge:
    merge = Merge()
    for name in fields:
        if name not in theirs:
            continue
        if plain(ours.get(name)) == plain(theirs[name]):
            merge.base[name] = plain(theirs[name])
        else:
            merge.to_onec[name] = plain(ours.get(name))
    return merge


# --- cards ---------------------------------------------------------------------------------------


def _card_fields(ctx: SyncContext) -> tuple[str, ...]:
    return (*ctx.profile.synced_fields("card"), links.OWNER)


def _default_card_kind(ctx: SyncContext) -> str | None:
    entity_set = CARD_KIND_SETS.get(ctx.profile.name)
    if entity_set is None:
        return None
    kinds = ctx.client.list(entity_set, top=1, orderby="Ref_Key")
    return str(kinds[0]["Ref_Key"]) if kinds else None


def push_card(ctx: SyncContext, card_id: int) -> Pushed | None:
    fields = _card_fields(ctx)
    with ctx.session_factory() as session:
        card = session.get(Card, card_id)
        if card is None:
            return None
        values = links.card_values(session, card, fields)
        has_owner = card.customer_id is not None
        link = links.link_of(session, "card", card_id)
        base, known_version = links.base_of(link), link.onec_version if link else None
        previous = links.onec_values_of(link)
        onec_ref, changed_at = card.onec_ref, card.updated_at
    if has_owner and values.get(links.OWNER) is None:
        raise NotReady("the card's owner is not in 1C yet")
    profile, client = ctx.profile, ctx.client
    entity_set = profile.card.entity_set
    outgoing = {k: v for k, v in values.items() if v is not None or k != links.OWNER}
    if onec_ref is None:
        found = client.find(entity_set, F.eq("Штрихкод", str(values["number"])))
        if found is None:
            kind = ctx.cached("card_kind", lambda: _default_card_kind(ctx))
            body = profile.card_to_onec({**outgoing, "kind_onec_ref": kind}, for_create=True)
            found = client.create(entity_set, body)
            return Pushed(
                str(found["Ref_Key"]),
                str(found.get("DataVersion")),
                values,
                snapshot=values,
                onec_values=profile.onec_alternatives("card", found),
            )
        onec_ref = str(found["Ref_Key"])
        current = found
    else:
        current = client.get(entity_set, onec_ref)
    theirs = profile.card_from_onec(current, previous=previous)
    merge = _merge(ctx, fields, base, values, theirs, known_version, current, changed_at)
    return _write_merged(ctx, profile.card, onec_ref, current, values, theirs, merge, profile.card_to_onec)


# --- movements -----------------------------------------------------------------------------------


def _default_program(ctx: SyncContext) -> str | None:
    programs = ctx.client.list(PROGRAMS, top=1, orderby="Ref_Key")
    return str(programs[0]["Ref_Key"]) if programs else None


def push_movement(ctx: SyncContext, movement_id: int) -> Pushed | None:
    """Deliver one movement as a bonus document (found again by its marker, so never twice).

    The two halves of a transfer (a merge, a move between cards) are two documents — 1C's document
    is either a credit or a debit — and two outbox rows whose keys may differ, so either may be
    delivered first. 1C must never see the points gone from both sides (a transient 0), so the
    outgoing half delivers its incoming half first, in the same call; the incoming half's own row
    then finds its document by the marker. Where 1C keeps bonuses per partner (``ut11``), a transfer
    between cards of one partner nets to zero there and is not delivered at all."""
    with ctx.session_factory() as session:
        movement = session.get(Movement, movement_id)
        if movement is None or movement.origin == Origin.ONEC:
            return None
        per_partner = ctx.profile.bonus_owner_field == "customer_onec_ref"
        if per_partner and accounts.same_account_transfer(session.connection(), movement_id):
            return None
        incoming = None
        if movement.kind is MovementKind.TRANSFER_OUT:
            incoming = session.scalars(
                select(Movement.id).where(
                    Movement.operation_id == movement.operation_id, Movement.kind == MovementKind.TRANSFER_IN
                )
            ).first()
    if incoming is not None:
        _push_one(ctx, incoming)
    return _push_one(ctx, movement_id)


def _push_one(ctx: SyncContext, movement_id: int) -> Pushed | None:
    with ctx.session_factory() as session:
        movement = session.get(Movement, movement_id)
        if movement is None or movement.origin == Origin.ONEC:
            return None
        card = session.get(Card, movement.card_id)
        assert card is not None
        owner = session.get(Customer, card.customer_id) if card.customer_id else None
        program = session.get(Program, card.program_id)
        values: dict[str, Any] = {
            "amount": movement.amount,
            "occurred_at": movement.occurred_at,
            "available_from": movement.available_from or movement.occurred_at,
            "expires_at": movement.expires_at,
            "reason": movement.reason or f"{movement.kind.value} ({movement.origin.value})",
            "card_onec_ref": card.onec_ref,
            "customer_onec_ref": owner.onec_ref if owner else None,
            "program_onec_ref": program.onec_ref if program else None,
        }
    if values[ctx.profile.bonus_owner_field] is None:
        raise NotReady(f"the movement's {ctx.profile.bonus_owner_field} is not in 1C yet")
    if values["program_onec_ref"] is None:
        values["program_onec_ref"] = ctx.cached("program", lambda: _default_program(ctx))
    client = ctx.client
    entity_set = ctx.profile.movement.entity_set
    marker = movement_marker(movement_id)
    document = client.find(entity_set, F.substringof(marker, "Комментарий"))
    if document is None:
        body = ctx.profile.movement_to_onec(values)
        body["Комментарий"] = f"{values['reason']}\n{MARKER_LABEL}{marker}"
        document = client.create(entity_set, body)
    if not document.get("Posted"):
        client.post_document(entity_set, str(document["Ref_Key"]))
    return Pushed(str(document["Ref_Key"]), note=str(Decimal(values["amount"])))


PUSHERS = {"customer": push_customer, "card": push_card, "movement": push_movement}


# --- one outbox message --------------------------------------------------------------------------


#: 1C unreachable (no answer: refused, timed out) or its proxy saying so: an outage, not a bad message.
DOWN_STATUSES = (None, 502, 503, 504)
#: How the reason of a message an outage deferred starts (``last_error``): such a message waits for
#: the breaker, uncounted, and is made due again the moment a trial call succeeds.
OUTAGE = "waiting for 1C"


def deliver(ctx: SyncContext, row: Row[Any]) -> str:
    """The drain handler for one outbox row (see ``slots.drain``)."""
    allowed, until = ctx.breaker.allow()
    if not allowed:
        when = until or ctx.clock() + timedelta(seconds=ctx.settings.sync_breaker_open_seconds)
        _defer(ctx, row.id, when, f"{OUTAGE}: the circuit breaker is open (1C is failing)")
        return Outcome.WAIT
    with ctx.session_factory() as session:
        message = session.get(OutboxMessage, row.id)
        if message is None or message.state != SyncState.PENDING:
            return Outcome.DONE
        topic, entity_id = message.topic, message.entity_id
    try:
        pushed = PUSHERS[topic](ctx, entity_id)
    except NotReady as exc:
        _defer(ctx, row.id, ctx.clock() + timedelta(seconds=ctx.settings.sync_backoff_base_seconds), str(exc))
        return Outcome.WAIT
    except OneCUnavailable as exc:
        if exc.status not in DOWN_STATUSES:  # 1C answered, with an error page: maybe this message
            return _failed_retryable(ctx, row, f"{exc.code}: {exc}")
        # 1C (or the way to it) is down: not this message's fault, so not counted towards the dead
        # letters however long the outage lasts. It waits for the breaker's next trial call — not
        # for a backoff of its own, which would outlast a short outage by minutes — and is made
        # due again as soon as a trial succeeds (``resume_deferred``).
        ctx.breaker.failure()
        _defer(ctx, row.id, _outage_until(ctx), f"{OUTAGE}: {exc.code}: {exc}")
        return Outcome.WAIT
    except OneCValueRejected as exc:
        # 1C's configuration lacks a value the mapping writes (a standard УТ 11 without the
        # ТолькоНакопление extension): permanent, so parked at once with 1C's words, and the key's
        # later changes go on (``sync dlq --parked --all`` once 1C has the value).
        return _failed(ctx, row, f"{exc.code}: {exc}; parked: 1C's configuration lacks this value", park=True)
    except OneCError as exc:
        if exc.retryable:
            return _failed_retryable(ctx, row, f"{exc.code}: {exc}")
        return _failed(ctx, row, f"{exc.code}: {exc}")
    except MappingError as exc:
        return _failed(ctx, row, f"mapping: {exc}", permanent=True)
    if ctx.breaker.success():
        resume_deferred(ctx)
    _record(ctx, row.id, topic, entity_id, pushed)
    return Outcome.DONE


def _outage_until(ctx: SyncContext) -> datetime:
    """When a message that met 1C down tries again: at the open breaker's trial, or — while too few
    failures have opened it — after the first backoff step."""
    breaker = ctx.breaker.state(fresh=True)
    until = breaker.until_at() if breaker.state != "closed" else None
    return until or ctx.clock() + timedelta(seconds=ctx.settings.sync_backoff_base_seconds)


def resume_deferred(ctx: SyncContext) -> int:
    """1C is back (a trial call succeeded): every message the outage deferred is due again now —
    not at its deferred time — paced slot by slot over ``sync_resume_spread_seconds``, so the
    workers start on them together but do not call 1C all in the same instant. The relay publishes
    each as it comes due. The number of messages resumed."""
    now = ctx.clock()
    waiting = and_(
        OUTBOX.c.state == PENDING,
        OUTBOX.c.next_attempt_at > now,
        OUTBOX.c.last_error.like(f"{OUTAGE}%"),
    )
    resumed = 0
    with ctx.engine.begin() as conn:
        slots = sorted(int(s) for s in conn.scalars(select(OUTBOX.c.slot).where(waiting).distinct()))
        spread = ctx.settings.sync_resume_spread_seconds
        for index, slot in enumerate(slots):
            due_at = now + timedelta(seconds=spread * index / max(1, len(slots)))
            result = conn.execute(
                update(OUTBOX)
                .where(waiting, OUTBOX.c.slot == slot)
                .values(next_attempt_at=due_at, published_at=None)
            )
            resumed += int(result.rowcount or 0)
    if resumed:
        log.info("1C is back: %d deferred message(s) in %d slot(s) due again", resumed, len(slots))
    return resumed


def _failed_retryable(ctx: SyncContext, row: Row[Any], error: str) -> str:
    """A retryable failure counts against the message while 1C otherwise works. Once failures have
    opened the breaker — 1C as a whole is failing; this call opened it, or was the trial call — the
    message waits for 1C like every other one, uncounted, and its card's order is kept."""
    ctx.breaker.failure()
    breaker = ctx.breaker.state()
    if breaker.state == "closed":
        return _failed(ctx, row, error)
    until = breaker.until_at() or ctx.clock() + timedelta(seconds=ctx.settings.sync_breaker_open_seconds)
    _defer(ctx, row.id, until, f"{OUTAGE}: {error}")
    return Outcome.WAIT


def _record(ctx: SyncContext, message_id: int, topic: str, entity_id: int, pushed: Pushed | None) -> None:
    now = ctx.clock()
    with ctx.session_factory() as session:
        if pushed is not None and topic in ("customer", "card"):
            entity: Customer | Card | None = (
                session.get(Customer, entity_id) if topic == "customer" else session.get(Card, entity_id)
            )
            if entity is not None:
                if entity.onec_ref is None:
                    entity.onec_ref = pushed.onec_ref
                _apply_to_hub(entity, pushed)
                if pushed.merge is not None:
                    links.record_conflicts(
                        session, topic, entity_id, pushed.onec_ref, pushed.merge.conflicts, now
                    )
                links.save_link(
                    session,
                    topic,
                    entity_id,
                    onec_ref=pushed.onec_ref,
                    onec_version=pushed.onec_version,
                    base=pushed.base,
                    now=now,
                    onec_values=pushed.onec_values,
                )
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == message_id, OUTBOX.c.state == SyncState.PENDING.value)
            .values(state=SyncState.DONE.value, finished_at=now, last_error=None)
        )
        session.commit()
    cursors.note_success(ctx.engine, "outbound", ctx.clock())


def _apply_to_hub(entity: Customer | Card, pushed: Pushed) -> None:
    """Take 1C's values for the fields it changed (or won), unless the hub changed them meanwhile."""
    changed = False
    for name, value in pushed.to_hub.items():
        if name == links.OWNER:
            continue  # an owner change in 1C comes through the inbound path, which resolves it
        if plain(getattr(entity, name)) != plain(pushed.snapshot.get(name)):
            continue
        setattr(entity, name, coerce(name, value))
        changed = True
    if changed:
        entity.changed_by = Origin.ONEC


def coerce(name: str, value: Any) -> Any:
    """A mapped 1C value in the model's own type."""
    if value is None:
        return None
    if name == "gender":
        return Gender(value)
    if name == "status":
        return CardStatus(value)
    return value


def _defer(ctx: SyncContext, message_id: int, when: datetime, reason: str | None = None) -> None:
    """Keep the message pending, not counted as a failure, and have the relay publish it again then."""
    values: dict[str, Any] = {"next_attempt_at": when, "published_at": None}
    if reason:
        values["last_error"] = reason
    with ctx.engine.begin() as conn:
        conn.execute(update(OUTBOX).where(OUTBOX.c.id == message_id).values(**values))


def _failed(
    ctx: SyncContext, row: Row[Any], error: str, *, permanent: bool = False, park: bool = False
) -> str:
    delay = record_failure(
        ctx.engine, OUTBOX, row, error, settings=ctx.settings, now=ctx.clock(), permanent=permanent, park=park
    )
    if park:
        log.error("outbox message %s parked: %s", row.id, error)
        return Outcome.DONE
    if delay is None:
        log.error("outbox message %s dead-lettered after %d attempt(s): %s", row.id, row.attempts + 1, error)
        return Outcome.DONE
    log.warning(
        "outbox message %s failed (attempt %d), retry in %.1f s: %s", row.id, row.attempts + 1, delay, error
    )
    return Outcome.WAIT
