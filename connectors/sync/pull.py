"""Initial load: every partner, card and bonus balance from 1C into the hub, paged and resumable.

Progress is saved in ``sync_cursors`` (``pull:full``) in the same transaction as each page, so a
crashed load resumes at the page it was on. Partners and cards go through the same apply functions
as the change feed (same mapping, same three-way merge). Balances are the sum of the bonus
register's records as the load reads them (paged): the difference to the hub's balance becomes one
movement with origin ``onec`` per owner, and every document among those records is kept with its
part (``connectors.sync.opening``), so the change feed counts a document by whether the load read
it — not by its date, which a backdated document or a 1C server in another zone would get wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Card, CardBalance, Customer, InboxMessage, Origin, SyncState
from connectors.onec.errors import OneCProtocolError
from connectors.onec.odata import EMPTY_REF, Page
from connectors.sync import cursors, links, opening
from connectors.sync.context import SyncContext
from connectors.sync.inbound import (
    _current_rows,
    _owner_card,
    apply_card,
    apply_customer,
    movements_of_query,
    slot_of,
)

CURSOR = "pull:full"
PHASES = ("customers", "cards", "balances", "done")

Progress = Callable[[str, int, int | None], None]


@dataclass
class PullReport:
    customers: int = 0
    cards: int = 0
    balances: int = 0
    adjusted: Decimal = Decimal("0")
    resumed: bool = False
    parked: int = 0  # objects 1C could not send (a control character in the data), parked with the reason


def _load(ctx: SyncContext) -> dict[str, Any] | None:
    with ctx.engine.connect() as conn:
        return cursors.read(conn, CURSOR)


def pull_full(
    ctx: SyncContext, *, page_size: int = 200, restart: bool = False, progress: Progress | None = None
) -> PullReport:
    report = PullReport()
    state = None if restart else _load(ctx)
    if state is None or state.get("phase") == "done":
        state = {"phase": "customers", "skip": 0, "cutoff": ctx.clock().replace(microsecond=0).isoformat()}
    else:
        report.resumed = True
    cutoff = datetime.fromisoformat(state["cutoff"])
    profile = ctx.profile
    sets = {"customers": profile.customer.entity_set, "cards": profile.card.entity_set}
    while state["phase"] in sets:
        phase = state["phase"]
        entity_set = sets[phase]
        page, unreadable = _read_page(ctx, entity_set, page_size, state["skip"])
        apply = apply_customer if phase == "customers" else apply_card
        with ctx.session_factory() as session:
            refused = _apply_page(ctx, session, apply, entity_set, page.values)
            for change, reason in refused:
                _park(ctx, session, entity_set, phase, change, reason, readable=True)
            for item, reason in unreadable:
                _park(ctx, session, entity_set, phase, item, reason)
            report.parked += len(unreadable) + len(refused)
            setattr(report, phase, getattr(report, phase) + len(page.values))
            read = len(page.values) + len(unreadable)
            state = {**state, "skip": state["skip"] + read}
            if read < page_size:
                state = {**state, "phase": PHASES[PHASES.index(phase) + 1], "skip": 0}
            cursors.write(session.connection(), CURSOR, state)
            session.commit()
        if progress:
            progress(phase, state["skip"] if state["phase"] == phase else getattr(report, phase), page.count)
    if state["phase"] == "balances":
        _pull_balances(ctx, cutoff, report, progress)
    return report


def _apply_page(
    ctx: SyncContext, session: Any, apply: Any, entity_set: str, items: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], str]]:
    """Apply a page's objects in the session's transaction; the objects the hub cannot apply
    (``inbound.UNAPPLICABLE``) come back with their reasons, to be parked, and the rest apply.
    All together first; if one is refused, the page is rolled back and applied again with a
    savepoint per object (a savepoint each costs two statements, so only when needed)."""
    from connectors.sync.inbound import UNAPPLICABLE, unapplicable_reason

    changes = [{"odata.type": f"StandardODATA.{entity_set}", **item} for item in items]
    try:
        for change in changes:
            apply(ctx, session, change, received_at=ctx.clock())
            session.flush()
        return []
    except UNAPPLICABLE:
        session.rollback()
    refused: list[tuple[dict[str, Any], str]] = []
    for change in changes:
        savepoint = session.begin_nested()
        try:
            apply(ctx, session, change, received_at=ctx.clock())
            session.flush()
        except UNAPPLICABLE as exc:
            savepoint.rollback()
            refused.append((change, unapplicable_reason(exc)))
            continue
        savepoint.commit()
    return refused


def _unreadable(exc: OneCProtocolError) -> bool:
    return "control character" in str(exc)


def _read_page(
    ctx: SyncContext, entity_set: str, page_size: int, skip: int
) -> tuple[Page, list[tuple[dict[str, Any], str]]]:
    """One page, and the objects of it that cannot be read: 1C data with a control character
    makes the whole page unreadable, so such a page is read again one object at a time — the
    readable ones load, the others come back with their keys and the reason, to be parked."""
    try:
        page = ctx.client.list_page(entity_set, orderby="Ref_Key", top=page_size, skip=skip, count=True)
        return page, []
    except OneCProtocolError as exc:
        if not _unreadable(exc):
            raise
    values: list[dict[str, Any]] = []
    unreadable: list[tuple[dict[str, Any], str]] = []
    count: int | None = None
    for offset in range(skip, skip + page_size):
        try:
            one = ctx.client.list_page(entity_set, orderby="Ref_Key", top=1, skip=offset, count=True)
        except OneCProtocolError as exc:
            if not _unreadable(exc):
                raise
            keys = ctx.client.list_page(
                entity_set, orderby="Ref_Key", top=1, skip=offset, select=["Ref_Key", "DataVersion"]
            )
            unreadable.extend((item, str(exc)) for item in keys.values)
            continue
        count = one.count
        if not one.values:
            break
        values.extend(one.values)
    return Page(values, count), unreadable


def _park(
    ctx: SyncContext,
    session: Any,
    entity_set: str,
    phase: str,
    item: dict[str, Any],
    reason: str,
    *,
    readable: bool = False,
) -> None:
    """Park an object the load could not read, with its reason, as the change feed parks a change
    it cannot map (``sync status`` counts it). Its payload names the object only: the fixed object
    comes again through the change feed with a new DataVersion. An object the load read but could
    not apply (``readable``) is parked whole, so ``sync dlq --parked`` applies it after the fix."""
    ref = str(item.get("Ref_Key") or "")
    version = str(item.get("DataVersion") or "pull")
    exists = (
        session.query(InboxMessage.id)
        .filter_by(entity_set=entity_set, onec_ref=ref, data_version=version)
        .first()
    )
    if exists is not None:
        return
    stub = {"odata.type": f"StandardODATA.{entity_set}", "Ref_Key": ref, "DataVersion": version}
    payload = item if readable else {**stub, "bonusbridge.unreadable": reason}
    why = "not applied" if readable else "unreadable"
    now = ctx.clock()
    session.add(
        InboxMessage(
            source="pull",
            entity_set=entity_set,
            onec_ref=ref,
            data_version=version,
            kind=phase.removesuffix("s"),
            key=ref,
            slot=slot_of(ref),
            payload=json.dumps(payload, ensure_ascii=False, default=str),
            state=SyncState.PARKED,
            received_at=now,
            finished_at=now,
            attempts=0,
            last_error=f"{why} in the initial load: {reason}"[:2000],
        )
    )


def _pull_balances(ctx: SyncContext, cutoff: datetime, report: PullReport, progress: Progress | None) -> None:
    """Each owner's opening balance is the sum of the register's records as the load reads them,
    and each document among them is kept with its part (``connectors.sync.opening``): the change
    feed then counts a document by whether this read had it, never by its date."""
    profile = ctx.profile
    owner_field = profile.bonus_owner_field
    totals, documents = _read_register(ctx)
    with ctx.session_factory() as session:
        book = LedgerBook(session.connection(), now=ctx.clock())
        for owner, total in sorted(totals.items()):
            card = _owner_card(ctx, session, {owner_field: owner})
            session.flush()
            balance = session.get(CardBalance, card.id)
            held = balance.total if balance else Decimal("0")
            difference = total - held
            key = f"pull:{cutoff.isoformat()}:{owner}"
            if difference > 0:
                book.accrue(
                    card.id, difference, key=key, origin=Origin.ONEC, reason="opening balance from 1C"
                )
            elif difference < 0:
                book.redeem(
                    card.id, -difference, key=key, origin=Origin.ONEC, reason="opening balance from 1C"
                )
            link = links.link_of(session, "card", card.id)
            if link is not None:
                # No cut-off date: what the load read decides (the documents kept below), so a
                # document dated before the load but posted after it still counts.
                link.opening_as_of = None
            report.balances += 1
            report.adjusted += abs(difference)
            if progress:
                progress("balances", report.balances, len(totals))
        _keep_documents(ctx, session, documents)
        cursors.write(
            session.connection(),
            CURSOR,
            {"phase": "done", "skip": 0, "cutoff": cutoff.isoformat(), "opening": "documents"},
        )
        session.commit()


def _read_register(
    ctx: SyncContext, page_size: int = 1000
) -> tuple[dict[str, Decimal], dict[tuple[str, str], dict[str, Decimal]]]:
    """The register's active records, paged: each owner's total and each document's part per owner
    (a record read twice because a write moved the pages is counted once)."""
    profile = ctx.profile
    owner_onec = profile.balance.fields.onec_field(profile.bonus_owner_field)
    total_onec = profile.balance.fields.onec_field("total")
    if owner_onec is None or total_onec is None:
        raise OneCProtocolError(f"the mapping profile {profile.name} reads no owner or total of the balance")
    resource = total_onec.removesuffix("Balance")
    rows_set = f"{profile.balance.entity_set}_RecordType"
    seen: set[tuple[str, str]] = set()
    totals: dict[str, Decimal] = {}
    documents: dict[tuple[str, str], dict[str, Decimal]] = {}
    skip = 0
    while True:
        page = ctx.client.list_page(rows_set, orderby="Recorder, LineNumber", top=page_size, skip=skip)
        for record in page.values:
            recorder = str(record.get("Recorder") or "").lower()
            identity = (recorder, str(record.get("LineNumber")))
            if identity in seen or not record.get("Active", True):
                continue
            seen.add(identity)
            owner = str(record.get(owner_onec) or "").lower()
            if not owner or owner == EMPTY_REF:
                continue
            amount = opening.owner_sign(record.get("RecordType")) * Decimal(str(record.get(resource) or "0"))
            totals[owner] = totals.get(owner, Decimal("0")) + amount
            entity_set = str(record.get("Recorder_Type") or "").removeprefix("StandardODATA.")
            parts = documents.setdefault((entity_set, recorder), {})
            parts[owner] = parts.get(owner, Decimal("0")) + amount
        if len(page.values) < page_size:
            return totals, documents
        skip += page_size


def _keep_documents(
    ctx: SyncContext, session: Any, documents: dict[tuple[str, str], dict[str, Decimal]]
) -> None:
    """Keep each document's part of the opening balance, less what the hub has applied of it
    already (the feed may have applied it during the load: the opening balance above already
    equalised that)."""
    profile = ctx.profile
    kinds = {profile.movement.entity_set: "movement", profile.receipt.entity_set: "receipt"}
    owner_of_card = _owner_of_cards(ctx, session)
    refs = sorted({ref for _, ref in documents})
    applied: dict[str, dict[str, Decimal]] = {}
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        for document in {str(row.document) for row in session.execute(movements_of_query(chunk))}:
            current, _seen = _current_rows(session, document)
            for _line, card_id, amount in current.values():
                owner = owner_of_card.get(card_id)
                if owner:
                    per = applied.setdefault(document, {})
                    per[owner] = per.get(owner, Decimal("0")) + amount
    now = ctx.clock()
    for (entity_set, ref), parts in sorted(documents.items()):
        counted = applied.get(ref, {})
        kept = {owner: amount - counted.get(owner, Decimal("0")) for owner, amount in parts.items()}
        for owner, amount in counted.items():
            kept.setdefault(owner, -amount)
        key = sorted(parts)[0] if parts else ref
        opening.record(
            session,
            entity_set=entity_set,
            ref=ref,
            kind=kinds.get(entity_set, "movement"),
            key=key,
            slot=slot_of(key),
            parts=kept,
            now=now,
        )


def _owner_of_cards(ctx: SyncContext, session: Any) -> dict[int, str]:
    """Card id → the 1C reference that owns its points (the card in Розница, the partner in УТ 11)."""
    if ctx.profile.bonus_owner_field == "card_onec_ref":
        rows = session.execute(select(Card.id, Card.onec_ref).where(Card.onec_ref.is_not(None)))
    else:
        rows = session.execute(
            select(Card.id, Customer.onec_ref)
            .join(Customer, Customer.id == Card.customer_id)
            .where(Customer.onec_ref.is_not(None))
        )
    return {int(card_id): str(ref).lower() for card_id, ref in rows}
