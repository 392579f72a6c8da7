"""1C's changes into the hub: stored in the inbox first, then applied in order per key.

``store_changes`` is the change feed's store callback. It writes each change as an inbox row
(unique per entity set, Ref_Key and DataVersion, so a change 1C sends again, or that arrives by both
SelectChanges and AMQP, is stored once) and commits; only then does the feed acknowledge it to 1C.
Storing is cheap and never blocks on a bad change; applying happens per slot (``slots.drain``), each
row in one transaction with its effect and its own ``done`` mark — exactly once in effect:

- customers and cards: three-way merge against the last common version (``merge.three_way``); a
  version older than the one already applied (DataVersion is 1C's per-object counter) is stale and
  skipped; the DataVersion the hub itself wrote is its echo and is skipped;
- bonus documents and till receipts: ledger movements with origin ``onec``, keyed by document,
  line and version; a re-posted document with other amounts reverses what it did and applies the
  new rows; an unposted or deletion-marked one is reversed; a document carrying the hub's own
  movement marker is the hub's echo and is skipped;
- a reference the hub does not know (a card whose partner is new) is read from 1C and applied first;
- a change that cannot be mapped or applied is parked with its reason and does not hold back other
  keys (``UNAPPLICABLE``: the mapping refused it, a hub rule refused it — a phone another customer
  verified stays theirs —, or the database refused it); the rest of its batch applies, and a
  later version of the same object applies as usual; ``sync dlq --parked`` applies it again after
  the fix.
"""

from __future__ import annotations

import base64
import json
import logging
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Row, Select, Table, and_, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from bonusbridge.db import sql_constant
from bonusbridge.errors import BonusBridgeError, InsufficientBalance
from bonusbridge.ledger import accounts, fastpath
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.fastpath import TakePythonPath
from bonusbridge.ledger.intents import Accrual
from bonusbridge.models import (
    SYNC_SLOTS,
    Card,
    CardStatus,
    Customer,
    InboxMessage,
    Movement,
    MovementKind,
    Origin,
    OutboxMessage,
    Program,
    SyncLink,
    SyncState,
)
from bonusbridge.services.cards import refresh_cards_of, settle_card
from bonusbridge.services.profiles import change_phone
from bonusbridge.unit_of_work import CardRepository
from connectors.onec.errors import OneCError, OneCNotFound
from connectors.sync import cursors, links
from connectors.sync import opening as load_opening
from connectors.sync.accounts import join_partner_account
from connectors.sync.context import SyncContext
from connectors.sync.merge import Merge, three_way
from connectors.sync.outbound import MARKER_LABEL, coerce, onec_changed_at
from connectors.sync.retry import backoff_delay, record_failure
from connectors.sync.slots import INBOX, PENDING, Outcome, slot_locks
from mapping.errors import MappingError

log = logging.getLogger(__name__)

INBOX_TABLE = cast(Table, InboxMessage.__table__)
MAIN_PROGRAM = "main"
#: The hub's own movements in 1C carry this in their Комментарий (see ``outbound.movement_marker``).
ECHO_MARKER = MARKER_LABEL + "bb"


#: ``Session.info`` keys of the lookups a batch shares (see ``apply_batch``).
_CARD_BY_REF = "bonusbridge.sync.card_by_ref"
_OPENING_OF = "bonusbridge.sync.opening_of"
_MOVEMENTS_OF = "bonusbridge.sync.movements_of"
#: A batch's documents mapped once, by (Ref_Key, version), for its look-ups and its rows.
_ROWS_OF = "bonusbridge.sync.rows_of"
#: Set by a batch: the ledger's operations run as their PostgreSQL functions (one call each).
_IN_SQL = "bonusbridge.sync.in_sql"
#: ``origin = 'onec'`` as ``ix_movements_onec_document`` is written (``sql_constant``).
ONEC_ORIGIN = sql_constant(Origin.ONEC.value)
#: A batch's accruals waiting to go to PostgreSQL together (``fastpath.AccrualPipeline``).
_PIPELINE = "bonusbridge.sync.accrual_pipeline"


class ParkedChange(Exception):
    """A change the hub cannot apply as it stands: the reason is kept on the inbox row."""


#: What makes one 1C change unapplicable as it stands — parked with its reason, never retried in
#: a loop and never failing its batch, the listener or a worker: the mapping refused it, a hub rule
#: refused it (every typed error of the hub, the ledger's included), or the database refused it (a
#: unique or check constraint, a value its column cannot hold). Not here: a lost connection, a
#: deadlock or a serialization failure (``OperationalError``), which a retry cures.
UNAPPLICABLE: tuple[type[Exception], ...] = (
    ParkedChange,
    MappingError,
    BonusBridgeError,
    IntegrityError,
    DataError,
)


#: What makes a batch decline, for its rows to go one by one through ``apply`` (park or retry).
_NEEDS_CAREFUL_PATH: tuple[type[Exception], ...] = (*UNAPPLICABLE, OneCError, TakePythonPath)


def unapplicable_reason(exc: Exception) -> str:
    """Why a change was parked or failed, for staff (``sync status``, the drift page): the error's
    type and message — for the database's only its first line (the constraint it broke), never the
    statement or its parameters, which carry personal data."""
    if isinstance(exc, StatementError):
        orig = str(exc.orig).strip()
        first = orig.splitlines()[0] if orig else type(exc.orig).__name__
        if isinstance(exc, IntegrityError | DataError):
            return f"{type(exc).__name__}: the database refused the change ({first})"
        return f"{type(exc).__name__}: {first}"
    return f"{type(exc).__name__}: {exc}"


def slot_of(key: str) -> int:
    return zlib.crc32(key.encode("utf-8")) % SYNC_SLOTS


def version_number(data_version: str | None) -> int | None:
    """1C's DataVersion as its counter ("AAAAAQAAAAA=" is 8 bytes, big-endian); None if opaque."""
    if not data_version:
        return None
    try:
        raw = base64.b64decode(data_version, validate=True)
    except (ValueError, TypeError):
        return None
    return int.from_bytes(raw, "big") if len(raw) == 8 else None


# --- storing --------------------------------------------------------------------------------------


def store_changes(
    ctx: SyncContext, changes: Iterable[dict[str, Any]], *, source: str, message_no: int | None = None
) -> list[int]:
    """Store a batch of feed objects in one transaction; the slots that got new rows."""
    rows = _inbox_rows(ctx, changes, source, message_no)
    return _insert_rows(ctx, rows) if rows else []


def store_and_apply(
    ctx: SyncContext,
    changes: Iterable[dict[str, Any]],
    *,
    source: str,
    message_no: int | None = None,
    apply_at_most: int = 100,
) -> list[int]:
    """Store a batch of feed objects and apply those that may go now, in ONE transaction (then the
    feed acknowledges them); the slots left with rows for the workers.

    A stored row applies here when its slot is free (no worker is draining it: the listener takes
    the slot locks the workers take) and no older row of its key is still pending (waiting for a
    retry, or stored and not yet applied): then nothing can come before it, and a change costs no
    kick, no task and no second transaction. Everything else — a slot a worker holds, a key with a
    row waiting, a batch that needs the careful one-by-one path (rolled back to a savepoint: the
    rows stay stored), or more than ``apply_at_most`` rows (a burst: the workers share it) — is
    left pending for the workers, whose slots are returned to be kicked.
    """
    rows = _inbox_rows(ctx, changes, source, message_no)
    if not rows:
        return []
    if len(rows) > apply_at_most:
        return _insert_rows(ctx, rows)
    wanted = sorted({int(row["slot"]) for row in rows})
    with slot_locks(ctx.engine, INBOX, wanted) as got, ctx.session_factory() as session:
        stored = list(session.connection().execute(_insert_statement(ctx).returning(*INBOX.c), rows))
        if not stored:
            session.commit()
            return []
        held = set(got)
        candidates = [m for m in stored if m.slot in held]
        applied: set[int] = set()
        if candidates:
            eligible = _first_of_their_keys(session, candidates, {m.id for m in stored})
            if eligible:
                savepoint = session.begin_nested()
                if _apply_in(ctx, session, eligible):
                    savepoint.commit()
                    applied = {m.id for m in eligible}
                else:
                    savepoint.rollback()
        session.commit()
    if applied:
        cursors.note_success(ctx.engine, "inbound", ctx.clock())
    return sorted({int(m.slot) for m in stored if m.id not in applied})


def _first_of_their_keys(session: Session, candidates: list[Any], new_ids: set[int]) -> list[Any]:
    """The candidates no older pending row of the same key stands before (one query)."""
    keys = sorted({str(m.key) for m in candidates})
    blocked = set(
        session.scalars(
            select(INBOX.c.key)
            .where(
                INBOX.c.state == PENDING,
                INBOX.c.slot.in_(sorted({int(m.slot) for m in candidates})),
                INBOX.c.key.in_(keys),
                INBOX.c.id.not_in(sorted(new_ids)),
            )
            .distinct()
        )
    )
    return [m for m in candidates if m.key not in blocked]


def _inbox_rows(
    ctx: SyncContext, changes: Iterable[dict[str, Any]], source: str, message_no: int | None
) -> list[dict[str, Any]]:
    rows = []
    keys: dict[tuple[str, str], str] = {}  # this batch's keys, for a deletion that follows a change
    for change in changes:
        row = _inbox_row(ctx, change, source, message_no, keys)
        if row is not None:
            rows.append(row)
            keys[(row["entity_set"], row["onec_ref"])] = row["key"]
    return rows


def _insert_statement(ctx: SyncContext) -> Any:
    """An INSERT that skips an object version already stored (a redelivery)."""
    insert = pg_insert if ctx.engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(INBOX_TABLE)
    return statement.on_conflict_do_nothing(index_elements=["entity_set", "onec_ref", "data_version"])


def _insert_rows(ctx: SyncContext, rows: list[dict[str, Any]]) -> list[int]:
    with ctx.engine.begin() as conn:
        result = conn.execute(_insert_statement(ctx).returning(INBOX_TABLE.c.slot), rows)
        return sorted({int(s) for s in result.scalars()})


def _inbox_row(
    ctx: SyncContext,
    change: dict[str, Any],
    source: str,
    message_no: int | None,
    batch_keys: dict[tuple[str, str], str],
) -> dict[str, Any] | None:
    odata_type = str(change.get("odata.type", ""))
    entity_set = odata_type.removeprefix("StandardODATA.")
    ref = str(change.get("Ref_Key") or change.get("Recorder") or "")
    sender = change.get("bonusbridge.origin_node")
    if sender and sender == ctx.known("node_ref"):
        return None  # published by 1C for a write the hub itself made (AMQP carries the sender)
    try:
        kind = ctx.profile.classify(change)
    except MappingError:
        kind = None
    if kind is None or not ref:
        return None  # not something the hub syncs (programs, kinds, register record sets, nodes)
    deleted = bool(change.get("odata.deleted"))
    try:
        key = (
            ctx.profile.partition_key(kind, change)
            if not deleted
            else batch_keys.get((entity_set, ref)) or _stored_key(ctx, entity_set, ref)
        )
    except MappingError:
        key = ref  # parked on apply, with its reason; its own ref keeps it in order with itself
    version = "deleted" if deleted else str(change.get("DataVersion") or f"msg-{message_no}")
    now = ctx.clock()
    return {
        "source": source,
        "entity_set": entity_set,
        "onec_ref": ref,
        "data_version": version,
        "message_no": message_no,
        "kind": str(kind),
        "key": key,
        "slot": slot_of(key),
        "payload": json.dumps(change, ensure_ascii=False, default=str),
        "state": SyncState.PENDING.value,
        "received_at": now,
        "attempts": 0,
    }


def _stored_key(ctx: SyncContext, entity_set: str, ref: str) -> str:
    """A deletion carries only the Ref_Key, so it takes the key its object's earlier changes had
    (a receipt's card): it must apply after them, in the same slot. Never seen: its own ref."""
    query = (
        select(INBOX_TABLE.c.key)
        .where(INBOX_TABLE.c.entity_set == entity_set, INBOX_TABLE.c.onec_ref == ref)
        .order_by(INBOX_TABLE.c.id.desc())
        .limit(1)
    )
    with ctx.engine.connect() as conn:
        return str(conn.scalar(query) or ref)


# --- applying ------------------------------------------------------------------------------------


def apply(ctx: SyncContext, row: Row[Any]) -> str:
    """The drain handler for one inbox row: its effect and its mark in one transaction."""
    with ctx.session_factory() as session:
        message = session.get(InboxMessage, row.id)
        if message is None or message.state != SyncState.PENDING:
            return Outcome.DONE
        change = json.loads(message.payload)
        try:
            state, note = _apply(ctx, session, message, change)
        except InsufficientBalance as exc:
            session.rollback()  # 1C's till allowed it: the points it needs are in a later change
            return _behind(ctx, row, f"{type(exc).__name__}: {exc}")
        except UNAPPLICABLE as exc:
            session.rollback()
            _finish(ctx, row.id, SyncState.PARKED, unapplicable_reason(exc))
            log.warning("1C change %s parked: %s", row.id, type(exc).__name__)
            return Outcome.DONE
        except OneCError as exc:  # reading a missing reference from 1C failed: retry later
            session.rollback()
            return _retry(ctx, row, f"{exc.code}: {exc}")
        except Exception as exc:  # data nobody foresaw broke the code: its key waits, then dead
            session.rollback()
            log.warning("1C change %s failed: %s", row.id, type(exc).__name__)
            return _retry(ctx, row, unapplicable_reason(exc))
        message.state = state
        message.finished_at = ctx.clock()
        message.last_error = note
        session.commit()
    cursors.note_success(ctx.engine, "inbound", ctx.clock())
    return Outcome.DONE


#: What ``apply_batch`` needs of each inbox row besides its id: read by the drain with the row.
BATCH_COLUMNS = (
    INBOX.c.kind,
    INBOX.c.entity_set,
    INBOX.c.onec_ref,
    INBOX.c.data_version,
    INBOX.c.received_at,
    INBOX.c.payload,
)


def apply_batch(ctx: SyncContext, rows: list[Row[Any]]) -> bool:
    """The drain's batch handler: several inbox rows, their effects and their marks in ONE
    transaction, so a busy till network costs one commit per batch instead of one per receipt.

    All or nothing: if any row would be parked or must wait for 1C, the whole transaction is rolled
    back and ``False`` sends the rows through ``apply`` one by one, which knows how to park and
    retry. Rows apply in id order, as they would one by one. Lookups repeated within the batch (a
    card by its Ref_Key, its opening date, a document's earlier movements) are made once. The rows
    carry ``BATCH_COLUMNS``: the drain reads them with each row (``row_columns``).
    """
    with ctx.session_factory() as session:
        if not _apply_in(ctx, session, list(rows)):
            session.rollback()
            return False
        session.commit()
    cursors.note_success(ctx.engine, "inbound", ctx.clock())
    return True


def _apply_in(ctx: SyncContext, session: Session, messages: list[Any]) -> bool:
    """Apply ``messages`` (inbox rows with ``BATCH_COLUMNS`` and ids), in id order, and mark them,
    in the session's transaction; False, with the transaction to be rolled back, when a row needs
    the careful one-by-one path (parked, retried, the fast path declined)."""
    messages = sorted(messages, key=lambda m: m.id)
    changes = [json.loads(m.payload) for m in messages]
    _prefetch(ctx, session, messages, changes)
    session.info[_IN_SQL] = fastpath.available(ctx.engine)
    if session.info[_IN_SQL]:
        session.info[_PIPELINE] = fastpath.AccrualPipeline(ctx.clock())
    marks: list[dict[str, Any]] = []
    try:
        for message, change in zip(messages, changes, strict=True):
            if message.kind not in ("movement", "receipt"):
                _flush_accruals(session)
            state, note = _apply(ctx, session, message, change)
            marks.append({"b_id": message.id, "b_state": state.value, "b_note": note})
        _flush_accruals(session)
    except _NEEDS_CAREFUL_PATH:
        return False  # the caller rolls back; ``apply`` parks or retries the rows one by one
    except Exception as exc:  # unforeseen: never fail the listener or a worker's batch for it
        log.warning("a batch of %d 1C change(s) goes one by one: %s", len(messages), type(exc).__name__)
        return False
    finally:
        for name in (_PIPELINE, _MOVEMENTS_OF, _ROWS_OF):
            session.info.pop(name, None)
    if marks:
        session.execute(
            update(INBOX)
            .where(INBOX.c.id == bindparam("b_id"))
            .values(state=bindparam("b_state"), last_error=bindparam("b_note"), finished_at=ctx.clock()),
            marks,
        )
    return True


def _flush_accruals(session: Session) -> None:
    """Send the batch's pipelined accruals now: what comes next may read or change their cards."""
    pipeline: fastpath.AccrualPipeline | None = session.info.get(_PIPELINE)
    if pipeline is not None:
        pipeline.flush(session.connection())


def _prefetch(ctx: SyncContext, session: Session, messages: list[Any], changes: list[dict[str, Any]]) -> None:
    """Read once for the whole batch what its documents will look up row by row: their earlier
    movements, their cards (by Ref_Key) and those cards' opening dates."""
    documents = [(m, c) for m, c in zip(messages, changes, strict=True) if m.kind in ("movement", "receipt")]
    session.info[_MOVEMENTS_OF] = _movements_of(session, [m.onec_ref for m, _ in documents])
    load_opening.prefetch(session, [(m.entity_set, str(m.onec_ref).lower()) for m, _ in documents])
    card_refs: set[str] = set()
    mapped: dict[tuple[str, str], list[dict[str, Any]]] = session.info.setdefault(_ROWS_OF, {})
    for message, change in documents:
        try:
            rows = _document_rows(ctx, message.kind, change)
        except MappingError:
            continue  # the row itself will say why, when it applies
        mapped[(str(change.get("Ref_Key")), str(message.data_version))] = rows
        card_refs.update(str(item["card_onec_ref"]) for item in rows if item.get("card_onec_ref"))
    if not card_refs:
        return
    found = session.execute(  # each card with its opening date (its link to 1C), one round trip
        select(Card, SyncLink.opening_as_of)
        .outerjoin(SyncLink, and_(SyncLink.kind == "card", SyncLink.entity_id == Card.id))
        .where(Card.onec_ref.in_(sorted(card_refs)))
    ).all()
    session.info.setdefault(_CARD_BY_REF, {}).update({str(card.onec_ref): card for card, _ in found})
    openings: dict[int, datetime | None] = session.info.setdefault(_OPENING_OF, {})
    openings.update({card.id: opening for card, opening in found})


def _behind(ctx: SyncContext, row: Row[Any], error: str) -> str:
    """A 1C document that does not fit the card's balance yet goes behind the card's later changes
    and is tried again after a backoff: 1C allowed it at the till, so the points it needs are in a
    change that reached the hub after it (feeds reorder). Parked after ``sync_max_attempts``.

    The row gets a new id — the end of its key's queue — in one transaction with the old one's
    removal; waiting in place would hold back the very change it waits for."""
    attempts = int(row.attempts) + 1
    if attempts >= ctx.settings.sync_max_attempts:
        _finish(ctx, row.id, SyncState.PARKED, error)
        return Outcome.DONE
    delay = backoff_delay(
        attempts, base=ctx.settings.sync_backoff_base_seconds, cap=ctx.settings.sync_backoff_max_seconds
    )
    with ctx.engine.begin() as conn:
        values = dict(conn.execute(select(INBOX).where(INBOX.c.id == row.id)).one()._mapping)
        conn.execute(INBOX.delete().where(INBOX.c.id == row.id))
        del values["id"]
        values.update(attempts=attempts, last_error=error[:2000])
        values["next_attempt_at"] = ctx.clock() + timedelta(seconds=delay)
        conn.execute(INBOX.insert().values(**values))
    return Outcome.DONE


def _finish(ctx: SyncContext, message_id: int, state: SyncState, note: str) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            update(INBOX)
            .where(INBOX.c.id == message_id)
            .values(state=state.value, last_error=note[:2000], finished_at=ctx.clock())
        )


def _retry(ctx: SyncContext, row: Row[Any], error: str) -> str:
    delay = record_failure(ctx.engine, INBOX, row, error, settings=ctx.settings, now=ctx.clock())
    return Outcome.DONE if delay is None else Outcome.WAIT


def _apply(
    ctx: SyncContext, session: Session, message: Any, change: dict[str, Any]
) -> tuple[SyncState, str | None]:
    """``message``: the inbox row (an ``InboxMessage`` or a selected row with its columns)."""
    kind = message.kind
    if kind in ("customer", "card"):
        # "Newer" is decided on 1C's own time of the change where 1C gives one (not on when the hub
        # happened to receive it): an edit made in 1C before the customer's must not win.
        changed_at = onec_changed_at(ctx, change, message.received_at)
        applier = apply_customer if kind == "customer" else apply_card
        return applier(ctx, session, change, received_at=changed_at)
    if kind in ("movement", "receipt"):
        return apply_document(ctx, session, kind, change, version=message.data_version)
    return SyncState.SKIPPED, f"not synced: {message.entity_set}"


def _stale_or_echo(link_version: str | None, version: str | None) -> str | None:
    if link_version is None or version is None:
        return None
    if link_version == version:
        return "echo or repeat: this version is already the common one"
    mine, theirs = version_number(link_version), version_number(version)
    if mine is not None and theirs is not None and theirs < mine:
        return "stale: a newer version was already applied"
    return None


def apply_customer(
    ctx: SyncContext, session: Session, change: dict[str, Any], *, received_at: datetime
) -> tuple[SyncState, str | None]:
    ref = str(change["Ref_Key"])
    if change.get("odata.deleted"):
        return SyncState.SKIPPED, "partner deleted in 1C; the hub keeps the customer"
    version = change.get("DataVersion")
    customer = session.scalars(select(Customer).where(Customer.onec_ref == ref)).first()
    # 1C's name fields compared one by one against their values at the common version: an edit
    # of any one of them is seen, and where they disagree the one 1C changed last wins.
    previous = links.onec_values_of(links.link_of(session, "customer", customer.id)) if customer else None
    theirs = ctx.profile.customer_from_onec(change, previous=previous)
    onec_values = ctx.profile.onec_alternatives("customer", change)
    fields = ctx.profile.synced_fields("customer")
    now = ctx.clock()
    if customer is None:
        customer = Customer(onec_ref=ref, changed_by=Origin.ONEC)
        for name in fields:
            if name in theirs:
                setattr(customer, name, coerce(name, theirs[name]))
        session.add(customer)
        session.flush()
        links.save_link(
            session,
            "customer",
            customer.id,
            onec_ref=ref,
            onec_version=version,
            base={k: theirs[k] for k in fields if k in theirs},
            now=now,
            onec_values=onec_values,
        )
        return SyncState.DONE, "created"
    ours = links.customer_values(customer, fields)
    merge, skip = _merge_with_onec(
        ctx, session, "customer", customer.id, ours, theirs, version, customer.updated_at, received_at
    )
    if merge is None:
        return SyncState.SKIPPED, skip
    if merge.to_hub:
        if "phone_e164" in merge.to_hub:  # the hub's rule of a phone change, as the cabinet's
            change_phone(session, customer, coerce("phone_e164", theirs["phone_e164"]))
        for name in merge.to_hub:
            if name != "phone_e164":
                setattr(customer, name, coerce(name, theirs[name]))
        customer.changed_by = Origin.ONEC
        session.flush()  # 1C's edit written as 1C's (no echo), before the cards' status
        # The profile is an input of the spending lock: the cards follow, and 1C learns their
        # new status (credited to the system by the rule, never to 1C).
        refresh_cards_of(session, customer, required_fields=_required(ctx), origin=Origin.ONEC)
    _settle(session, "customer", customer.id, ref, version, merge, now, onec_values)
    return SyncState.DONE, None


def _required(ctx: SyncContext) -> list[str]:
    return list(ctx.settings.profile_required_fields)


def apply_card(
    ctx: SyncContext, session: Session, change: dict[str, Any], *, received_at: datetime
) -> tuple[SyncState, str | None]:
    ref = str(change["Ref_Key"])
    if change.get("odata.deleted"):
        card = session.scalars(select(Card).where(Card.onec_ref == ref)).first()
        if card is not None and card.status != CardStatus.BLOCKED:
            card.status, card.status_reason, card.changed_by = (
                CardStatus.BLOCKED,
                "deleted in 1C",
                Origin.ONEC,
            )
        return SyncState.DONE, "card deleted in 1C: blocked"
    version = change.get("DataVersion")
    known = session.scalars(select(Card.id).where(Card.onec_ref == ref)).first()
    previous = links.onec_values_of(links.link_of(session, "card", known)) if known else None
    theirs = ctx.profile.card_from_onec(change, previous=previous)
    onec_values = ctx.profile.onec_alternatives("card", change)
    owner_ref = theirs.get(links.OWNER)
    owner = _customer_for(ctx, session, owner_ref) if owner_ref else None
    fields = (*ctx.profile.synced_fields("card"), links.OWNER)
    now = ctx.clock()
    card = session.scalars(select(Card).where(Card.onec_ref == ref)).first()
    if card is None:
        program = main_program(session)
        number = theirs.get("number")
        if not number:
            raise ParkedChange(f"card {ref} has no number")
        card = CardRepository(session).by_number(program.id, str(number))
        if card is None:
            card = Card(
                program_id=program.id,
                number=str(number),
                onec_ref=ref,
                changed_by=Origin.ONEC,
                status=coerce("status", theirs.get("status")) or CardStatus.ACTIVE,
                customer_id=owner.id if owner else None,
            )
            CardRepository(session).add(card)
            links.save_link(
                session,
                "card",
                card.id,
                onec_ref=ref,
                onec_version=version,
                base={k: theirs.get(k) for k in fields if k in theirs},
                now=now,
                onec_values=onec_values,
            )
            # 1C's status is where a card starts; an owned card's spending lock is the hub's rule.
            settle_card(session, card, required_fields=_required(ctx), origin=Origin.ONEC)
            join_partner_account(ctx, session, card)  # ut11: the partner's cards share one account
            return SyncState.DONE, "created"
        card.onec_ref = ref
    ours = links.card_values(session, card, fields)
    merge, skip = _merge_with_onec(
        ctx, session, "card", card.id, ours, theirs, version, card.updated_at, received_at
    )
    if merge is None:
        return SyncState.SKIPPED, skip
    if merge.to_hub:
        for name in merge.to_hub:
            if name == links.OWNER:
                card.customer_id = owner.id if owner else None
            else:
                setattr(card, name, coerce(name, theirs[name]))
        card.changed_by = Origin.ONEC
        # A new owner or a status from 1C: the lock follows the owner's profile (1C learns it).
        settle_card(session, card, required_fields=_required(ctx), origin=Origin.ONEC)
        if links.OWNER in merge.to_hub:
            join_partner_account(ctx, session, card)
    _settle(session, "card", card.id, ref, version, merge, now, onec_values)
    return SyncState.DONE, None


def _merge_with_onec(
    ctx: SyncContext,
    session: Session,
    kind: str,
    entity_id: int,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    version: str | None,
    hub_changed_at: datetime,
    received_at: datetime,
) -> tuple[Merge | None, str | None]:
    """The three-way merge of a customer or card with 1C's version of it, or (None, why) when
    that version is the hub's own echo or older than the one already applied."""
    link = links.link_of(session, kind, entity_id)
    skip = _stale_or_echo(link.onec_version if link else None, version)
    if skip:
        return None, skip
    fields = tuple(ours)
    merge = three_way(
        fields,
        links.base_of(link),
        ours,
        theirs,
        ctx.policy,
        hub_changed_at=hub_changed_at,
        onec_changed_at=received_at,
    )
    return merge, None


def _settle(
    session: Session,
    kind: str,
    entity_id: int,
    ref: str,
    version: str | None,
    merge: Merge,
    now: datetime,
    onec_values: dict[str, Any] | None = None,
) -> None:
    """Record the merge's conflicts and the new common version; if the hub won a conflict, 1C must
    be told though nothing changed in the hub, so a message is queued explicitly."""
    links.record_conflicts(session, kind, entity_id, ref, merge.conflicts, now)
    links.save_link(
        session,
        kind,
        entity_id,
        onec_ref=ref,
        onec_version=version,
        base=merge.base,
        now=now,
        onec_values=onec_values,
    )
    if merge.to_onec and any(c.winner == "website" for c in merge.conflicts):
        _enqueue(session, kind, entity_id, f"{kind}:{entity_id}", entity_id, now)


def main_program(session: Session) -> Program:
    program = session.scalars(select(Program).where(Program.code == MAIN_PROGRAM)).first()
    if program is None:
        program = Program(code=MAIN_PROGRAM, name="Бонусная программа", is_legacy=False)
        session.add(program)
        session.flush()
    return program


def _enqueue(session: Session, topic: str, entity_id: int, key: str, slot_source: int, now: datetime) -> None:
    """Queue a message explicitly: the hub won a conflict, so 1C must be told though nothing changed here."""
    session.add(
        OutboxMessage(
            topic=topic,
            entity_id=entity_id,
            key=key,
            slot=slot_source % SYNC_SLOTS,
            origin=Origin.RECONCILIATION,
            state=SyncState.PENDING,
            created_at=now,
            attempts=0,
        )
    )


def _customer_for(ctx: SyncContext, session: Session, ref: str) -> Customer:
    customer = session.scalars(select(Customer).where(Customer.onec_ref == ref)).first()
    if customer is not None:
        return customer
    partner = _read_reference(ctx, ctx.profile.customer.entity_set, ref)
    apply_customer(ctx, session, partner, received_at=ctx.clock())
    session.flush()
    found = session.scalars(select(Customer).where(Customer.onec_ref == ref)).first()
    assert found is not None
    return found


def _card_for(ctx: SyncContext, session: Session, ref: str) -> Card:
    known: dict[str, Card] = session.info.setdefault(_CARD_BY_REF, {})
    if ref in known:
        return known[ref]
    card = session.scalars(select(Card).where(Card.onec_ref == ref)).first()
    if card is not None:
        known[ref] = card
        return card
    apply_card(ctx, session, _read_reference(ctx, ctx.profile.card.entity_set, ref), received_at=ctx.clock())
    session.flush()
    found = session.scalars(select(Card).where(Card.onec_ref == ref)).first()
    assert found is not None
    return found


def _read_reference(ctx: SyncContext, entity_set: str, ref: str) -> dict[str, Any]:
    try:
        return ctx.client.get(entity_set, ref)
    except OneCNotFound:
        raise ParkedChange(f"missing reference: {entity_set}({ref}) is not in 1C") from None


# --- bonus documents and receipts ---------------------------------------------------------------


def apply_document(
    ctx: SyncContext, session: Session, kind: str, change: dict[str, Any], *, version: str
) -> tuple[SyncState, str | None]:
    ref = str(change["Ref_Key"])
    comment = str(change.get("Комментарий") or "")
    if ECHO_MARKER in comment:
        return SyncState.SKIPPED, "echo: the hub's own movement"
    effective = (
        not change.get("odata.deleted") and bool(change.get("Posted")) and not change.get("DeletionMark")
    )
    wanted: list[tuple[int, int, Decimal, datetime | None]] = []
    lines: list[tuple[int, int, Decimal, datetime | None, str]] = []  # with each line's owner
    owner_field = ctx.profile.bonus_owner_field

    def points_card(card: Card) -> int:
        if ctx.settings.balances_per_customer:  # ut11: the partner's account, whichever card it was
            return accounts.account_card(session.connection(), card.id)
        return card.id

    if effective:
        premapped = session.info.get(_ROWS_OF, {}).pop((ref, version), None)
        for item in premapped if premapped is not None else _document_rows(ctx, kind, change):
            card_id = points_card(_owner_card(ctx, session, item))
            owner = str(item.get(owner_field) or "").lower()
            lines.append(
                (int(item["line_number"]), card_id, Decimal(item["amount"]), item.get("occurred_at"), owner)
            )
    # Counted by what the initial load read (connectors.sync.opening), never by the document's date.
    entity_set = str(change.get("odata.type", "")).removeprefix("StandardODATA.")
    in_opening = load_opening.parts(session, entity_set, ref.lower())
    if in_opening is not None:
        wanted = load_opening.beyond(
            lines, in_opening, lambda owner: points_card(_owner_card(ctx, session, {owner_field: owner}))
        )
    else:  # a load before the documents were kept: its cards' cut-off dates still decide
        wanted = [line[:4] for line in lines if not _before_opening(session, line[1], line[3])]
    current, seen = _current_rows(session, ref)
    stale = _stale_document(seen, version)
    if stale:
        return SyncState.SKIPPED, stale
    if sorted((line, card, amount) for line, card, amount, _ in wanted) == sorted(current.values()):
        if in_opening is not None and not current:
            return SyncState.DONE, "no change in points: in the opening balance of the initial load"
        return SyncState.DONE, "no change in points"
    pipeline: fastpath.AccrualPipeline | None = session.info.get(_PIPELINE)
    if pipeline is not None and not current and all(amount > 0 for _, _, amount, _ in wanted):
        accruals = [
            _line_accrual(kind, ref, version, line, card_id, amount, occurred, now=pipeline.now)
            for line, card_id, amount, occurred in sorted(wanted)
        ]
        if all(accrual.date_problem is None for accrual in accruals):
            for accrual in accruals:  # a new receipt that only earns: sent with the batch's others
                pipeline.add(accrual)
            return SyncState.DONE, None
    _flush_accruals(session)
    book = LedgerBook(session.connection(), now=ctx.clock(), in_sql=bool(session.info.get(_IN_SQL)))
    for movement_id in sorted(current):
        book.reverse(
            movement_id,
            key=f"{ref}@{version}/undo/{movement_id}",
            origin=Origin.ONEC,
            reason=f"1C document {ref} changed ({version})",
        )
    for line, card_id, amount, occurred in sorted(wanted):
        if amount > 0:
            accrual = _line_accrual(kind, ref, version, line, card_id, amount, occurred, now=book.now)
            book.apply_accrual(accrual)
        else:
            book.redeem(
                card_id,
                -amount,
                key=f"{ref}@{version}/{line}",
                origin=Origin.ONEC,
                document=ref,
                reason=f"1C {kind} line {line}",
            )
    return SyncState.DONE, None


def _line_accrual(
    kind: str,
    ref: str,
    version: str,
    line: int,
    card_id: int,
    amount: Decimal,
    occurred: datetime | None,
    *,
    now: datetime,
) -> Accrual:
    """The accrual a 1C document's bonus line makes, keyed ``<ref>@<version>/<line>`` (whether it
    goes through the ledger's book or the batch's pipeline)."""
    return Accrual.build(
        card_id,
        amount,
        key=f"{ref}@{version}/{line}",
        origin=Origin.ONEC,
        now=now,
        document=ref,
        occurred_at=occurred,
        reason=f"1C {kind} line {line}",
    )


def _document_rows(ctx: SyncContext, kind: str, change: dict[str, Any]) -> list[dict[str, Any]]:
    if kind == "movement":
        return list(ctx.profile.movement_from_onec(change))
    return list(ctx.profile.receipt_from_onec(change))


def _owner_card(ctx: SyncContext, session: Session, item: dict[str, Any]) -> Card:
    card_ref = item.get("card_onec_ref")
    if card_ref:
        return _card_for(ctx, session, str(card_ref))
    customer_ref = item.get("customer_onec_ref")
    if not customer_ref:
        raise ParkedChange("a bonus row names neither a card nor a partner")
    customer = _customer_for(ctx, session, str(customer_ref))
    if ctx.settings.balances_per_customer:  # ut11: the partner's account card, whatever its status
        session.flush()
        account = accounts.customer_account(session.connection(), customer.id)
        if account is None:
            raise ParkedChange(f"partner {customer_ref} has no card in the hub")
        return session.get_one(Card, account)
    cards = CardRepository(session).of_customer(customer.id)
    usable = [c for c in cards if c.status != CardStatus.BLOCKED]
    chosen = next((c for c in usable if c.is_primary), usable[0] if usable else None)
    if chosen is None:
        raise ParkedChange(f"partner {customer_ref} has no usable card in the hub")
    return chosen


def _before_opening(session: Session, card_id: int, occurred: datetime | None) -> bool:
    if occurred is None:
        return False
    openings: dict[int, datetime | None] = session.info.setdefault(_OPENING_OF, {})
    if card_id not in openings:
        link = links.link_of(session, "card", card_id)
        openings[card_id] = link.opening_as_of if link else None
    opening = openings[card_id]
    return bool(opening and occurred < opening)


def _movements_of(session: Session, refs: list[str]) -> dict[str, list[Any]]:
    """The movements 1C's documents ``refs`` made in the hub, per document (one query)."""
    found: dict[str, list[Any]] = {ref: [] for ref in refs}
    if not refs:
        return found
    for row in session.execute(movements_of_query(refs)).all():
        found[str(row.document)].append(row)
    return found


def movements_of_query(refs: list[str]) -> Select[*tuple[Any, ...]]:
    """What 1C's documents ``refs`` made in the hub (``ix_movements_onec_document``)."""
    return select(
        Movement.id,
        Movement.card_id,
        Movement.amount,
        Movement.external_id,
        Movement.kind,
        Movement.document,
    ).where(Movement.origin == ONEC_ORIGIN, Movement.document.in_(sorted(set(refs))))


def _stale_document(seen: set[str], version: str) -> str | None:
    """Why this version of a document must not apply: it was deleted already (a Ref_Key is never
    reused), or a newer version has applied (a redelivery overtaken by a re-post)."""
    if "deleted" in seen:
        return "stale: the document was deleted in 1C"
    theirs = version_number(version)
    newer = [v for v in map(version_number, seen) if v is not None and theirs is not None and v > theirs]
    return "stale: a newer version of the document was already applied" if newer else None


def _current_rows(session: Session, ref: str) -> tuple[dict[int, tuple[int, int, Decimal]], set[str]]:
    """The document's movements still in effect (movement id → (line, card, amount)) and the
    versions of it that made movements (from their keys ``<ref>@<version>/…``)."""
    prefetched: dict[str, list[Any]] | None = session.info.get(_MOVEMENTS_OF)
    if prefetched is not None and ref in prefetched:
        made = prefetched.pop(ref)  # once: a second version in the same batch reads what the first did
    else:
        _flush_accruals(session)  # an earlier version of it may be among the batch's pipelined ones
        made = _movements_of(session, [ref]).get(ref, [])
    reversed_ids = {m.id for m in made if m.kind == MovementKind.REVERSAL}
    undone = (
        set(session.scalars(select(Movement.reverses_id).where(Movement.id.in_(reversed_ids))))
        if reversed_ids
        else set()
    )
    current = {}
    for m in made:
        if m.kind in (MovementKind.ACCRUAL, MovementKind.REDEMPTION) and m.id not in undone:
            line = int(str(m.external_id).rsplit("/", 1)[-1])
            current[m.id] = (line, m.card_id, Decimal(m.amount))
    seen = {str(m.external_id).split("@", 1)[1].split("/", 1)[0] for m in made if "@" in str(m.external_id)}
    return current, seen
