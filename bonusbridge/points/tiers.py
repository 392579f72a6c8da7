"""Card tiers (card statuses, seed 004): reviewed on each purchase and return, and nightly.

A review computes the card's rolling 12-month spend, decides its tier under the program version in
force at the review (``ProgramRules.tiers``, ``tier_downgrade``, ``tier_grace_months``), stores it
in ``card_tiers`` and appends a ``card_tier_changes`` row when the tier changed. Quotes then use
the stored tier (``store.card_facts``), so a tier kept by the downgrade policy keeps its earn rate
and its campaigns until a review drops it.

**What counts as spend**: the totals of the shop API's orders and receipts (``api_orders.total``,
set by ``/accruals`` and ``/receipts``) less what was refunded or returned on them (``refunded``),
for orders the hub first saw (``created_at``) in the 12 months before the review. Till receipts
that 1C posts and the sync brings in do not count: the hub receives only their bonus rows (points,
never money: ``receipt_from_onec``), and a receipt without a card has no rows at all, so there is
no purchase amount to count. Counting them would need their ``СуммаДокумента`` mapped in both
profiles and stored per card and document version (re-posts and unposting included) — a table of
its own, not part of this change. Tills that quote through the hub (``/onec/quote``) do see the
stored tier.

**The downgrade policy** (upgrades are always immediate):

* ``immediate``: the tier follows the window at every review;
* ``grace``: a card whose window fell below its tier keeps it until ``tier_grace_months`` after it
  last qualified (``qualified_at``: the last review at which the window still reached it), then
  drops to what the window supports;
* ``one_step``: after that grace, one tier down (never below what the window supports), and the
  lower tier is kept for another grace period from the drop (``changed_at``).

The grace is counted from the later of ``qualified_at`` and ``changed_at``. A stored tier the
program version no longer has (renamed, removed) is replaced by what the window supports at once.

A card without a row and below the first tier gets no row (the quote's live computation says the
same); a row, once there, is reviewed every night. Reviews are idempotent: at the same instant a
second review writes nothing, and a review older than the row's last one leaves it alone (a
retried nightly task never undoes a later purchase's review).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select, type_coerce, union, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bonusbridge.models import ApiOrder, CardTier, CardTierChange
from bonusbridge.points.errors import BeforeProgramStart
from bonusbridge.points.program import Program, ProgramRules
from bonusbridge.points.receipts import add_months
from bonusbridge.types import Points, UTCDateTime

WINDOW_MONTHS = 12
#: Cards per transaction in the nightly review: small enough to keep row locks short.
BATCH_SIZE = 1000
ZERO = Decimal("0.00")

tiers_table = cast(Table, CardTier.__table__)
changes_table = cast(Table, CardTierChange.__table__)


def window_start(now: datetime) -> datetime:
    """Orders the hub saw after this instant count in the spend at ``now``."""
    return add_months(now, -WINDOW_MONTHS)


_IN_WINDOW = (ApiOrder.total.is_not(None), ApiOrder.created_at > bindparam("since", type_=UTCDateTime()))
_SPENT = type_coerce(func.coalesce(func.sum(ApiOrder.total - ApiOrder.refunded), 0), Points())

#: One card's spend (parameters ``card`` and ``since``): the quote's facts embed it.
SPEND_OF_CARD = select(_SPENT).where(ApiOrder.card_id == bindparam("card"), *_IN_WINDOW).scalar_subquery()

_SPEND_OF_CARDS = (
    select(ApiOrder.card_id, _SPENT)
    .where(ApiOrder.card_id.in_(bindparam("cards", expanding=True)), *_IN_WINDOW)
    .group_by(ApiOrder.card_id)
)

_STORED = select(
    tiers_table.c.card_id,
    tiers_table.c.tier,
    tiers_table.c.spend_12m,
    tiers_table.c.qualified_at,
    tiers_table.c.reviewed_at,
    tiers_table.c.changed_at,
).where(tiers_table.c.card_id.in_(bindparam("cards", expanding=True)))
_STORED_LOCKED = _STORED.with_for_update()
_WRITTEN = ("tier", "spend_12m", "qualified_at", "reviewed_at", "changed_at")

# Bound names differ from the columns': SQLAlchemy reserves a column's own name for its SET value.
_UPDATE = (
    update(tiers_table)
    .where(tiers_table.c.card_id == bindparam("b_card_id"))
    .values({name: bindparam(f"b_{name}") for name in _WRITTEN})
)


def _update_params(row: dict[str, Any]) -> dict[str, Any]:
    return {f"b_{name}": value for name, value in row.items()}


def _candidates(after: int, since: datetime, limit: int, *, spending_too: bool) -> Any:
    """The next ``limit`` cards after ``after`` that have a row or (``spending_too``) spend in the
    window: each branch limited on its own, so a batch reads one index range, not every card."""
    stored = (
        select(tiers_table.c.card_id.label("card_id"))
        .where(tiers_table.c.card_id > after)
        .order_by(tiers_table.c.card_id)
        .limit(limit)
    )
    if not spending_too:
        return stored
    spending = (
        select(ApiOrder.card_id.label("card_id"))
        .where(ApiOrder.card_id > after, ApiOrder.total.is_not(None), ApiOrder.created_at > since)
        .group_by(ApiOrder.card_id)
        .order_by(ApiOrder.card_id)
        .limit(limit)
        .subquery()
    )
    listed = stored.subquery()
    both = union(select(listed.c.card_id), select(spending.c.card_id)).subquery()
    return select(both.c.card_id).order_by(both.c.card_id).limit(limit)


@dataclass(frozen=True)
class Stored:
    """A card's row in ``card_tiers``."""

    tier: str | None
    spend_12m: Decimal
    qualified_at: datetime
    reviewed_at: datetime
    changed_at: datetime


def decide(rules: ProgramRules, stored: Stored | None, spend: Decimal, now: datetime) -> Stored | None:
    """The card's row after a review at ``now`` with ``spend`` in the window (pure: the policy
    itself). None: the card needs no row (none yet, and below the first tier)."""
    supported = rules.tier_for(spend)
    target = supported.name if supported is not None else None
    if stored is None:
        return None if target is None else Stored(target, spend, now, now, now)
    held = rules.tier_named(stored.tier)
    names = [tier.name for tier in rules.tiers]
    if stored.tier is not None and held is None:
        # The version no longer has that tier: nothing to keep, the window decides.
        return Stored(target, spend, now, now, now if target != stored.tier else stored.changed_at)
    level = names.index(held.name) if held is not None else -1
    reached = names.index(target) if target is not None else -1
    if reached >= level:  # the window reaches the stored tier or more: upgrades are immediate
        changed = now if reached > level else stored.changed_at
        return Stored(target, spend, now, now, changed)
    grace_over = now >= add_months(max(stored.qualified_at, stored.changed_at), rules.tier_grace_months)
    if rules.tier_downgrade == "immediate" or (rules.tier_downgrade == "grace" and grace_over):
        return Stored(target, spend, now, now, now)
    if rules.tier_downgrade == "one_step" and grace_over:
        lower = names[level - 1] if level > 0 else None
        qualified = now if lower == target else stored.qualified_at
        return Stored(lower, spend, qualified, now, now)
    return Stored(stored.tier, spend, stored.qualified_at, now, stored.changed_at)  # kept in grace


@dataclass(frozen=True)
class Change:
    card_id: int
    from_tier: str | None
    to_tier: str | None
    spend_12m: Decimal


@dataclass(frozen=True)
class Summary:
    """What a nightly review did (counts only: the changes themselves are in the history table)."""

    reviewed: int
    changed: int


def _insert_ignoring_conflicts(conn: Connection) -> Any:
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(tiers_table).on_conflict_do_nothing(index_elements=[tiers_table.c.card_id])


def _review_batch(
    conn: Connection, rules: ProgramRules, cards: Sequence[int], now: datetime, reason: str
) -> tuple[list[Change], list[int]]:
    """Review ``cards`` in the caller's transaction: their rows locked first, then their spend read
    (so a purchase committed meanwhile is seen). Returns the changes and the cards a concurrent
    review created a row for first (to review again)."""
    stored = {
        row.card_id: Stored(row.tier, row.spend_12m, row.qualified_at, row.reviewed_at, row.changed_at)
        for row in conn.execute(_STORED_LOCKED, {"cards": list(cards)})
    }
    if not rules.tiers:
        cards = [card_id for card_id in cards if card_id in stored]  # no tiers: only rows to drop
        if not cards:
            return [], []
    spends: dict[int, Decimal] = {
        row[0]: row[1]
        for row in conn.execute(_SPEND_OF_CARDS, {"cards": list(cards), "since": window_start(now)})
    }
    changes: list[Change] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for card_id in cards:
        before = stored.get(card_id)
        if before is not None and before.reviewed_at > now:
            continue  # a later review already decided
        spend = Decimal(spends.get(card_id, ZERO))
        after = decide(rules, before, spend, now)
        if after is None or after == before:
            continue
        values = {
            "card_id": card_id,
            "tier": after.tier,
            "spend_12m": spend,
            "qualified_at": after.qualified_at,
            "reviewed_at": after.reviewed_at,
            "changed_at": after.changed_at,
        }
        (inserts if before is None else updates).append(values)
        if after.tier != (before.tier if before is not None else None):
            changes.append(Change(card_id, before.tier if before is not None else None, after.tier, spend))
    raced: set[int] = set()
    if inserts:
        statement = _insert_ignoring_conflicts(conn).returning(tiers_table.c.card_id)
        created = set(conn.execute(statement, inserts).scalars())
        raced = {row["card_id"] for row in inserts} - created
        changes = [change for change in changes if change.card_id not in raced]
    if updates:
        conn.execute(_UPDATE, [_update_params(row) for row in updates])
    if changes:
        conn.execute(
            insert(changes_table),
            [
                {
                    "card_id": change.card_id,
                    "from_tier": change.from_tier,
                    "to_tier": change.to_tier,
                    "spend_12m": change.spend_12m,
                    "reason": reason[:200],
                    "at": now,
                }
                for change in changes
            ],
        )
    return changes, sorted(raced)


def review_cards(
    conn: Connection, rules: ProgramRules, cards: Iterable[int], now: datetime, reason: str
) -> list[Change]:
    """Review these cards in the caller's transaction (a purchase's, a return's, a nightly batch's)."""
    pending = sorted(set(cards))
    changes: list[Change] = []
    for _ in range(2):  # once more for the cards a concurrent review inserted first
        if not pending:
            break
        done, pending = _review_batch(conn, rules, pending, now, reason)
        changes.extend(done)
    return changes


def rules_at(program: Program, now: datetime) -> ProgramRules | None:
    """The version in force at ``now``; None before the program started (nothing to review)."""
    try:
        return program.version_at(now).rules
    except BeforeProgramStart:
        return None


def review_card(
    conn: Connection, program: Program | ProgramRules, card_id: int, now: datetime, reason: str
) -> Change | None:
    """Review one card after a purchase or a return, in its transaction; the change, if any.
    ``program``: the program (its version in force at ``now`` applies; none yet: no review) or
    that version's rules."""
    rules = rules_at(program, now) if isinstance(program, Program) else program
    if rules is None:
        return None
    found = review_cards(conn, rules, (card_id,), now, reason)
    return found[0] if found else None


def review_all(
    engine: Engine, program: Program, now: datetime, *, batch_size: int = BATCH_SIZE, reason: str = "nightly"
) -> Summary:
    """The nightly review: every card with a row or with spend in the window, ``batch_size`` cards
    per transaction in card order (a failure keeps the batches already committed; running again
    redoes only what is left, since reviewed rows are unchanged at the same ``now``)."""
    rules = rules_at(program, now)
    if rules is None:
        return Summary(0, 0)
    since = window_start(now)
    after, reviewed, changed = 0, 0, 0
    while True:
        with engine.begin() as conn:
            listed = _candidates(after, since, batch_size, spending_too=bool(rules.tiers))
            batch = list(conn.execute(listed).scalars())
            if not batch:
                break
            changed += len(review_cards(conn, rules, batch, now, reason))
        reviewed += len(batch)
        after = batch[-1]
    return Summary(reviewed, changed)
