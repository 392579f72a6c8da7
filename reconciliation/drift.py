"""Balance, status and profile drift between the hub and 1C: found, kept as a report, repaired.

``check_drift`` runs ``compare_hub_with_onec`` over everything linked (1C read paged) and stores
a ``DriftReport`` with one ``DriftItem`` per finding (what differed, the hub's value, 1C's value),
plus what could not be compared. ``repair_drift`` posts correcting movements for the balance items.

**Which side is the truth for balances: 1C's register.** The tills spend against it, receipts are
posted there first, and a customer standing at the till sees 1C's number; the hub's copy is built
from 1C's feed (and the website's own movements, which 1C receives through the outbox). A hub
balance that differs therefore almost always means a 1C document the hub missed or applied twice,
and the fix is to bring the hub to 1C's value. So a repair is a hub-side ``adjust`` with origin
``reconciliation`` of (1C − hub), and its ``sync_outbox`` message is marked ``skipped`` in the same
transaction: 1C already holds that value and must not receive the correction a second time.

Safety rails of a repair:

- it needs a name (``confirmed_by``, recorded on the report and as the movements' actor);
- each card is re-compared right before it is corrected; a card whose values changed since the
  report (a receipt, a sync catching up) is skipped as ``changed since the report``;
- a card with outbound messages not yet delivered to 1C (pending, parked or dead outbox rows) is
  skipped: 1C is about to change, it is not yet the truth;
- so is a card (in УТ 11 a partner) that 1C changed where the hub has not read or applied it yet:
  a bonus document or receipt 1C still holds for the hub's node beyond the feed's acknowledged
  position (SelectChanges read without acknowledging), or stored in the hub's inbox but not applied
  (pending or parked). 1C's register already counts it and the hub will when the feed catches up,
  so correcting the hub now would count it twice. On the AMQP feed the queue cannot be read per
  card: while any change message waits in it, no balance is repaired. A change whose owner cannot
  be told (a deleted document) also holds back every balance;
- one transaction per card; the correcting movement's key is ``drift:<report>:card:<card>``, so
  running the repair of a report again changes nothing more;
- a positive correction is a lot that never expires (1C's register has no lots to copy dates
  from); a negative one takes spendable points earliest-expiry first, and is skipped with its
  reason when too few are spendable (held by a checkout, say).

Status and profile drift is reported, not repaired here: those fields are merged by the sync's
per-field conflict policy (``bonusbridge sync``), which knows which side changed a field last. In
УТ 11 bonuses belong to the partner: a partner's drift is corrected on the customer's primary linked
card (else the lowest-numbered linked one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from bonusbridge import errors
from bonusbridge.actors import Actor, Permission
from bonusbridge.models import (
    Card,
    DriftItem,
    DriftReport,
    InboxMessage,
    Movement,
    Origin,
    OutboxMessage,
    SyncState,
    utcnow,
)
from bonusbridge.settings import Settings
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.changefeed import AmqpChangeConsumer, SelectChangesPoller
from connectors.onec.odata import Entity, ODataClient
from connectors.sync import cursors
from mapping.errors import MappingError
from mapping.profile import Profile
from reconciliation.compare import Comparison, DifferenceKind, compare_hub_with_onec

ZERO = Decimal("0.00")
BALANCE_KINDS = (DifferenceKind.CARD_BALANCE.value, DifferenceKind.PARTNER_BALANCE.value)


class RepairRefused(errors.BonusBridgeError):
    code = "repair_refused"


class FeedBehind(Exception):
    """The change feed holds changes the hub has not read, and cannot say whose (AMQP)."""


#: What 1C holds for the hub beyond the feed's acknowledged position: the unread changes (or
#: ``FeedBehind``). ``feed_of(settings, engine, client)`` builds it for the configured feed.
Feed = Callable[[], list[Entity]]

NOT_READ = (
    "1C changes not yet read by the hub (the change feed is behind): start `sync listen`, then repair again"
)


@dataclass(frozen=True)
class Unread:
    """The 1C references (cards, УТ 11 partners; lower case) whose bonus changes the hub has not
    applied yet, or ``everything``: why no balance can be repaired now."""

    owners: frozenset[str]
    count: int
    everything: str | None = None

    def why(self, onec_ref: str | None) -> str | None:
        if self.everything:
            return self.everything
        if onec_ref and onec_ref.lower() in self.owners:
            return NOT_READ
        return None


class _Position:
    """The SelectChanges poller's acknowledged position, as the listener keeps it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def last_acknowledged(self) -> int:
        with self.engine.connect() as conn:
            value = cursors.read(conn, "feed:select_changes")
        return int(value["last_acknowledged"]) if value else 0

    def acknowledged(self, message_no: int) -> None:  # pragma: no cover - a repair never acknowledges
        raise AssertionError("a reconciliation never acknowledges 1C's changes")


def feed_of(settings: Settings, engine: Engine, client: ODataClient) -> Feed:
    """The configured change feed's unread changes, read without taking them from the hub."""
    if settings.onec_change_feed == "amqp":

        def waiting() -> list[Entity]:
            queue = settings.onec_amqp_queue
            consumer = AmqpChangeConsumer(
                settings.onec_amqp_url, settings.onec_amqp_exchange, queue, lambda changes: None
            )
            try:
                count = consumer.waiting()
            except Exception as exc:
                raise FeedBehind(
                    f"cannot tell whether 1C's change queue {queue} is read ({type(exc).__name__}): "
                    "start `sync listen`, then repair again"
                ) from None
            finally:
                consumer.close()
            if count:
                raise FeedBehind(
                    f"{count} change message(s) of 1C wait in queue {queue}, not read by the hub yet: "
                    "start `sync listen`, then repair again"
                )
            return []

        return waiting
    poller = SelectChangesPoller(
        client,
        settings.onec_exchange_plan,
        settings.onec_exchange_node,
        lambda changes: None,
        _Position(engine),
    )
    return poller.unread


def _owners_of(profile: Profile, change: dict[str, Any]) -> set[str] | None:
    """The cards and partners a 1C change moves points of (empty: it moves none); None when it
    cannot be told (a deleted document names only itself)."""
    try:
        kind = profile.classify(change)
    except MappingError:
        return set()
    if kind is None or str(kind) not in ("movement", "receipt"):
        return set()
    if change.get("odata.deleted"):
        return None
    owners: set[str] = set()
    try:
        owners.add(profile.partition_key(str(kind), change).lower())
        rows = (
            profile.movement_from_onec(change)
            if str(kind) == "movement"
            else profile.receipt_from_onec(change)
        )
    except (MappingError, ValueError, KeyError, TypeError):
        return owners or None
    for row in rows:
        for name in ("card_onec_ref", "customer_onec_ref"):
            if row.get(name):
                owners.add(str(row[name]).lower())
    return owners


def unread_changes(engine: Engine, profile: Profile, feed: Feed | None) -> Unread:
    """What 1C changed that the hub has not applied: the feed's unread changes (``feed``; None
    when the caller holds the feed still, as the tests do) and the inbox's pending or parked ones."""
    owners: set[str] = set()
    unknown = 0
    changes: list[dict[str, Any]] = []
    if feed is not None:
        try:
            changes.extend(feed())
        except FeedBehind as exc:
            return Unread(frozenset(), 0, str(exc))
    with engine.connect() as conn:
        stored = conn.execute(
            select(InboxMessage.key, InboxMessage.payload).where(
                InboxMessage.kind.in_(["movement", "receipt"]),
                InboxMessage.state.in_([SyncState.PENDING, SyncState.PARKED]),
            )
        ).all()
    for key, payload in stored:
        owners.add(str(key).lower())
        try:
            change = json.loads(payload)
        except ValueError:
            continue
        found = _owners_of(profile, change)
        owners.update(found or ())
    for change in changes:
        found = _owners_of(profile, change)
        if found is None:
            unknown += 1
        else:
            owners.update(found)
    count = len(changes) + len(stored)
    if unknown:
        return Unread(
            frozenset(owners),
            count,
            f"{unknown} 1C change(s) not yet read by the hub whose card cannot be told (a deleted "
            "document): start `sync listen`, then repair again",
        )
    return Unread(frozenset(owners), count)


@dataclass(frozen=True)
class DriftItemView:
    id: int
    kind: str
    entity: str
    hub_id: int
    onec_ref: str | None
    field: str
    hub_value: str | None
    onec_value: str | None
    repair_movement_id: int | None


@dataclass(frozen=True)
class DriftReportView:
    id: int
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    profile: str
    checked_cards: int
    checked_customers: int
    differences: int
    missing_in_onec: int
    errors: tuple[str, ...]
    summary: str
    repaired_at: datetime | None
    repaired_by: str | None
    repaired_items: int
    items: tuple[DriftItemView, ...] = ()

    @property
    def ok(self) -> bool:
        return self.differences == 0 and self.missing_in_onec == 0 and not self.errors


@dataclass(frozen=True)
class RepairOutcome:
    item_id: int
    card_id: int | None
    delta: Decimal
    movement_id: int | None
    skipped: str | None  # why not repaired


@dataclass(frozen=True)
class RepairResult:
    report_id: int
    confirmed_by: str
    outcomes: tuple[RepairOutcome, ...]

    @property
    def repaired(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.movement_id is not None)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def check_drift(
    engine: Engine,
    client: ODataClient,
    profile: Profile,
    *,
    trigger: str = "cli",
    clock: Callable[[], datetime] = utcnow,
    page_size: int | None = None,
) -> tuple[int, Comparison]:
    """Compare everything linked with 1C and keep the report; returns its id and the comparison.
    A failed 1C read raises (``OneCError``) and stores nothing: never a half report."""
    started = clock()
    options = {} if page_size is None else {"page_size": page_size}
    comparison = compare_hub_with_onec(engine, client, profile, **options)  # type: ignore[arg-type]
    with UnitOfWork(engine, clock=clock) as uow:
        report = DriftReport(
            started_at=started,
            finished_at=clock(),
            trigger=trigger,
            profile=profile.name,
            checked_cards=comparison.checked_cards,
            checked_customers=comparison.checked_customers,
            differences=len(comparison.differences),
            missing_in_onec=len(comparison.missing_in_onec),
            errors=json.dumps(comparison.errors, ensure_ascii=False) if comparison.errors else None,
            summary=comparison.summary(),
            repaired_items=0,
        )
        uow.session.add(report)
        uow.session.flush()
        for difference in comparison.differences:
            uow.session.add(
                DriftItem(
                    report_id=report.id,
                    kind=difference.kind.value,
                    entity=difference.hub_entity,
                    hub_id=difference.hub_id,
                    onec_ref=difference.onec_ref,
                    field=difference.field,
                    hub_value=_text(difference.hub_value),
                    onec_value=_text(difference.onec_value),
                )
            )
        for missing in comparison.missing_in_onec:
            uow.session.add(
                DriftItem(
                    report_id=report.id,
                    kind="missing_in_onec",
                    entity=missing.entity,
                    hub_id=missing.hub_id,
                    onec_ref=missing.onec_ref,
                    field="-",
                )
            )
        report_id = report.id
        uow.commit()
    return report_id, comparison


def repair_drift(
    engine: Engine,
    client: ODataClient,
    profile: Profile,
    report_id: int,
    *,
    confirmed_by: str,
    feed: Feed | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> RepairResult:
    """Bring the hub's balances to 1C's for the balance items of report ``report_id`` (see the
    module docstring). Refused (``RepairRefused``) without a name or for an unknown report.
    ``feed``: the change feed's unread changes (``feed_of``); the CLI always passes it."""
    name = confirmed_by.strip() if isinstance(confirmed_by, str) else ""
    if not name:
        raise RepairRefused("a repair needs the name of whoever confirmed it")
    actor = Actor(name, frozenset({Permission.ADJUST, Permission.RECONCILE}))
    with UnitOfWork(engine, clock=clock) as uow:
        if uow.session.get(DriftReport, report_id) is None:
            raise RepairRefused(f"drift report {report_id} does not exist")
        items = list(
            uow.session.scalars(
                select(DriftItem)
                .where(DriftItem.report_id == report_id, DriftItem.kind.in_(BALANCE_KINDS))
                .order_by(DriftItem.id)
            )
        )
        targets = {item.id: _target_card(uow.session, item) for item in items}
        for item in items:  # kept loaded after the transaction ends
            uow.session.expunge(item)
    unread = unread_changes(engine, profile, feed) if items else Unread(frozenset(), 0)
    outcomes = []
    for item in items:
        card_id = targets[item.id]
        behind = None if item.repair_movement_id is not None else unread.why(item.onec_ref)
        if behind:
            onec_delta = Decimal(item.onec_value or "0") - Decimal(item.hub_value or "0")
            outcomes.append(RepairOutcome(item.id, card_id, onec_delta, None, behind))
            continue
        outcomes.append(_repair_one(engine, client, profile, report_id, item, card_id, actor, clock))
    with UnitOfWork(engine, clock=clock) as uow:
        report = uow.session.get(DriftReport, report_id)
        assert report is not None
        report.repaired_at = clock()
        report.repaired_by = name
        report.repaired_items = (
            uow.session.scalar(
                select(func.count())
                .select_from(DriftItem)
                .where(DriftItem.report_id == report_id, DriftItem.repair_movement_id.is_not(None))
            )
            or 0
        )
        uow.commit()
    return RepairResult(report_id, name, tuple(outcomes))


def _target_card(session: Session, item: DriftItem) -> int | None:
    if item.kind == DifferenceKind.CARD_BALANCE.value:
        return item.hub_id
    linked = list(
        session.execute(
            select(Card.id, Card.is_primary)
            .where(Card.customer_id == item.hub_id, Card.onec_ref.is_not(None))
            .order_by(Card.id)
        )
    )
    primary = [card_id for card_id, is_primary in linked if is_primary]
    return primary[0] if primary else (linked[0][0] if linked else None)


def _repair_one(
    engine: Engine,
    client: ODataClient,
    profile: Profile,
    report_id: int,
    item: DriftItem,
    card_id: int | None,
    actor: Actor,
    clock: Callable[[], datetime],
) -> RepairOutcome:
    hub_then = Decimal(item.hub_value or "0")
    onec_then = Decimal(item.onec_value or "0")
    delta = onec_then - hub_then
    if card_id is None:
        return RepairOutcome(item.id, None, delta, None, "no linked card to correct")
    if item.repair_movement_id is not None:
        return RepairOutcome(item.id, card_id, delta, item.repair_movement_id, None)
    # Now, not as of the report: a card that moved since is left for the next report.
    if item.kind == DifferenceKind.CARD_BALANCE.value:
        fresh = compare_hub_with_onec(engine, client, profile, card_ids=[item.hub_id])
    else:
        fresh = compare_hub_with_onec(engine, client, profile, customer_ids=[item.hub_id])
    now = [d for d in fresh.card_differences if d.kind.value == item.kind and d.hub_id == item.hub_id]
    if not now or (now[0].hub_value, now[0].onec_value) != (hub_then, onec_then):
        return RepairOutcome(item.id, card_id, delta, None, "changed since the report")
    with UnitOfWork(engine, clock=clock) as uow:
        in_flight = uow.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.key == f"card:{card_id}",
                OutboxMessage.state.in_([SyncState.PENDING, SyncState.PARKED, SyncState.DEAD]),
            )
        )
        if in_flight:
            return RepairOutcome(item.id, card_id, delta, None, "changes not yet delivered to 1C")
        try:
            record = uow.ledger.adjust(
                card_id,
                delta,
                key=f"drift:{report_id}:card:{card_id}",
                origin=Origin.RECONCILIATION,
                actor=actor,
                reason=(
                    f"drift report {report_id}: 1C's register has {format(onec_then, 'f')}, "
                    f"the hub had {format(hub_then, 'f')}"
                ),
            )
        except errors.LedgerError as error:
            uow.rollback()
            return RepairOutcome(item.id, card_id, delta, None, f"refused by the ledger: {error}")
        # 1C holds this value already: the correction must not travel there.
        uow.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.topic == "movement", OutboxMessage.entity_id == record.id)
            .values(
                state=SyncState.SKIPPED, finished_at=clock(), last_error="reconciliation: 1C is the source"
            )
        )
        stored = uow.session.get(DriftItem, item.id)
        assert stored is not None
        stored.repair_movement_id = record.id
        uow.commit()
        return RepairOutcome(item.id, card_id, delta, record.id, None)


# --------------------------------------------------------------------------- for the staff pages


def list_drift_reports(session: Session, limit: int = 50) -> list[DriftReportView]:
    """The latest reports, newest first, without their items."""
    reports = session.scalars(
        select(DriftReport)
        .order_by(DriftReport.started_at.desc(), DriftReport.id.desc())
        .limit(max(1, limit))
    )
    return [_view(report, ()) for report in reports]


def drift_report(session: Session, report_id: int) -> DriftReportView | None:
    """One report with its items (None: no such report). Values are as stored: profile fields
    carry personal data, so a page showing them must be behind the staff login."""
    report = session.get(DriftReport, report_id)
    if report is None:
        return None
    items = tuple(
        DriftItemView(
            item.id,
            item.kind,
            item.entity,
            item.hub_id,
            item.onec_ref,
            item.field,
            item.hub_value,
            item.onec_value,
            item.repair_movement_id,
        )
        for item in session.scalars(
            select(DriftItem).where(DriftItem.report_id == report_id).order_by(DriftItem.id)
        )
    )
    return _view(report, items)


def _view(report: DriftReport, items: tuple[DriftItemView, ...]) -> DriftReportView:
    return DriftReportView(
        id=report.id,
        started_at=report.started_at,
        finished_at=report.finished_at,
        trigger=report.trigger,
        profile=report.profile,
        checked_cards=report.checked_cards,
        checked_customers=report.checked_customers,
        differences=report.differences,
        missing_in_onec=report.missing_in_onec,
        errors=tuple(json.loads(report.errors)) if report.errors else (),
        summary=report.summary,
        repaired_at=report.repaired_at,
        repaired_by=report.repaired_by,
        repaired_items=report.repaired_items,
        items=items,
    )


def correcting_movements(session: Session, report_id: int) -> list[Movement]:
    """The movements a repair of report ``report_id`` posted."""
    return list(
        session.scalars(
            select(Movement)
            .where(
                Movement.origin == Origin.RECONCILIATION,
                Movement.external_id.startswith(f"drift:{report_id}:card:"),
            )
            .order_by(Movement.id)
        )
    )
