"""Who is in the loyalty program (seed 001: a customer joins at checkout or in the cabinet; staff
enrol many at once with the members file), and what joining and leaving write.

Membership rule (decision): a customer's ``program_members`` row, when there is one, is the truth
(``left_at`` empty: a member; set: they left). Without a row, a customer is a member exactly when
they own a card. Every card in the hub was taken at a till or came from a legacy program (the
website issues none), and taking a card is the opt-in; a card bound in the cabinet is one the
customer proved they hold. Keeping that rule lazy, rather than writing a "card" row for every
owner, needs no backfill of existing owners and no hook in each place a card gets an owner (the
cabinet, 1C's sync, the legacy import, merges); a row is written for such a member only when they
leave (``joined_via`` ``card``, joined when their first card reached the hub). The check stays one
indexed query: the row by primary key, and whether any card names the customer.

What it decides: with ``points_opt_in_required``, the shop API accrues website orders only for
cards whose owner is a member; a card without an owner always earns, and tills (1C's receipts)
are never asked. The setting off, membership is recorded and shown but changes no points.

Joining is idempotent: a member who joins again changes nothing (their first joining is kept); a
former member who joins again gets the new joining (``joined_at``, ``via``, ``by``) and
``left_at`` cleared. Writes are conditional (insert unless there is a row, update only a row in
the other state), so a checkout's join racing a members file's leave settles on one of them,
never on an error. Functions take a connection (or a session, whose connection is used) and never
commit: the caller's transaction holds the change with whatever caused it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any, cast

from sqlalchemy import Connection, Table, bindparam, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bonusbridge import audit, errors
from bonusbridge.ledger import accounts
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import Card, Customer, ProgramMember
from bonusbridge.services.members_file import (
    MemberRow,
    MembersFileInvalid,
    PlanWarning,
    RowError,
    changed_columns,
    read_members,
    write_members,
)

members = cast(Table, ProgramMember.__table__)
customers = cast(Table, Customer.__table__)
cards = cast(Table, Card.__table__)

#: How a customer joined: the checkbox at checkout, the cabinet's button, staff (the members
#: file), or owning a card (written only when such a member leaves).
VIAS = frozenset({"checkout", "cabinet", "staff", "card"})
#: Customers read or written per statement (PostgreSQL and SQLite both bound the parameters).
CHUNK = 500
IMPORT_ACTION = "members.import"

Target = Connection | Session


def _conn(target: Target) -> Connection:
    return target.connection() if isinstance(target, Session) else target


def _insert(conn: Connection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(members)


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


# --- one customer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    """A customer's membership. ``since`` is None for a member through a card without a row."""

    member: bool
    via: str | None
    since: datetime | None
    left_at: datetime | None


@dataclass(frozen=True)
class _State:
    has_row: bool
    left_at: datetime | None
    joined_at: datetime | None
    joined_via: str | None
    owns_card: bool

    @property
    def member(self) -> bool:
        return self.left_at is None if self.has_row else self.owns_card

    def membership(self) -> Membership:
        if self.has_row:
            if self.left_at is None:
                return Membership(True, self.joined_via, self.joined_at, None)
            return Membership(False, None, None, self.left_at)
        return Membership(self.owns_card, "card" if self.owns_card else None, None, None)


_OWNS_CARD = exists().where(cards.c.customer_id == customers.c.id)
_STATES = select(
    customers.c.id,
    members.c.customer_id.is_not(None),
    members.c.left_at,
    members.c.joined_at,
    members.c.joined_via,
    _OWNS_CARD,
).select_from(customers.outerjoin(members, members.c.customer_id == customers.c.id))
_STATE_OF = _STATES.where(customers.c.id == bindparam("customer"))


def _state_of(row: Any) -> _State:
    return _State(bool(row[1]), row[2], row[3], row[4], bool(row[5]))


def _state(conn: Connection, customer_id: int) -> _State:
    row = conn.execute(_STATE_OF, {"customer": customer_id}).first()
    if row is None:
        raise errors.UnknownCustomer(customer_id)
    return _state_of(row)


def _states(conn: Connection, customer_ids: Sequence[int]) -> dict[int, _State]:
    """The state of each customer that exists among ``customer_ids`` (absent: no such customer)."""
    found: dict[int, _State] = {}
    for chunk in _chunks(customer_ids):
        for row in conn.execute(_STATES.where(customers.c.id.in_(chunk))):
            found[int(row[0])] = _state_of(row)
    return found


def membership(target: Target, customer_id: int) -> Membership:
    """The customer's membership (``UnknownCustomer`` if there is no such customer)."""
    return _state(_conn(target), customer_id).membership()


def is_member(target: Target, customer_id: int) -> bool:
    return _state(_conn(target), customer_id).member


@dataclass(frozen=True)
class CardMembership:
    """A card's owner (None: nobody) and whether they are a member (False when there is nobody)."""

    owner_id: int | None
    member: bool

    def earns(self, opt_in_required: bool) -> bool:
        """Whether a website order on the card earns points: a card with no owner always does."""
        return not opt_in_required or self.owner_id is None or self.member


# The owner owns this very card, so without a row they are a member (see the module's rule).
_OF_CARD = (
    select(cards.c.customer_id, members.c.customer_id.is_not(None), members.c.left_at)
    .select_from(cards.outerjoin(members, members.c.customer_id == cards.c.customer_id))
    .where(cards.c.id == bindparam("card"))
)


def card_membership(target: Target, card_id: int) -> CardMembership | None:
    """The card's owner and their membership, in one query; None: no such card."""
    row = _conn(target).execute(_OF_CARD, {"card": card_id}).first()
    if row is None:
        return None
    owner, has_row, left_at = row
    return CardMembership(None if owner is None else int(owner), owner_is_member(owner, has_row, left_at))


def owner_is_member(owner_id: int | None, has_row: bool, left_at: datetime | None) -> bool:
    """The rule, from a card's owner and their ``program_members`` row (outer-joined): the row
    decides when there is one; else the owner, who owns this very card, is a member."""
    if owner_id is None:
        return False
    return left_at is None if has_row else True


def join(target: Target, customer_id: int, *, via: str, by: str | None, now: datetime) -> bool:
    """Make the customer a member; True when this changed anything (a member already: nothing).
    ``by`` is who enrolled them (an API client, ``staff:<login>``); None: the customer."""
    if via not in VIAS:
        raise ValueError(f"joined via one of {sorted(VIAS)}, not {via!r}")
    conn = _conn(target)
    state = _state(conn, customer_id)
    if state.member:
        return False
    values = {"joined_at": now, "joined_via": via, "joined_by": by, "left_at": None}
    if not state.has_row:
        inserted = conn.execute(
            _insert(conn)
            .values(customer_id=customer_id, **values)
            .on_conflict_do_nothing(index_elements=["customer_id"])
            .returning(members.c.customer_id)
        ).first()
        if inserted is not None:
            return True
    # A former member (or a row written meanwhile by a leave): rejoin.
    rejoined = conn.execute(
        update(members)
        .where(members.c.customer_id == customer_id, members.c.left_at.is_not(None))
        .values(**values)
        .returning(members.c.customer_id)
    ).first()
    return rejoined is not None


def leave(target: Target, customer_id: int, *, now: datetime) -> bool:
    """End the customer's membership; True when this changed anything (not a member: nothing)."""
    conn = _conn(target)
    state = _state(conn, customer_id)
    if not state.member:
        return False
    if state.has_row:
        return _end_rows(conn, [customer_id], now) == [customer_id]
    return _record_card_leaves(conn, [customer_id], now) == [customer_id]


def _end_rows(conn: Connection, customer_ids: list[int], now: datetime) -> list[int]:
    ended = conn.execute(
        update(members)
        .where(members.c.customer_id.in_(customer_ids), members.c.left_at.is_(None))
        .values(left_at=now)
        .returning(members.c.customer_id)
    ).scalars()
    return sorted(int(found) for found in ended)


def _record_card_leaves(conn: Connection, customer_ids: list[int], now: datetime) -> list[int]:
    """Rows for members through a card who leave: joined when their first card reached the hub."""
    first_cards = dict(
        conn.execute(
            select(cards.c.customer_id, func.min(cards.c.created_at))
            .where(cards.c.customer_id.in_(customer_ids))
            .group_by(cards.c.customer_id)
        ).all()
    )
    rows = [
        {
            "customer_id": customer_id,
            "joined_at": first_cards.get(customer_id) or now,
            "joined_via": "card",
            "joined_by": None,
            "left_at": now,
        }
        for customer_id in customer_ids
    ]
    recorded = conn.execute(
        _insert(conn)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["customer_id"])
        .returning(members.c.customer_id)
    ).scalars()
    return sorted(int(found) for found in recorded)


def _join_many(
    conn: Connection, states: Mapping[int, _State], ids: list[int], by: str, now: datetime
) -> list[int]:
    values = {"joined_at": now, "joined_via": "staff", "joined_by": by, "left_at": None}
    joined: list[int] = []
    fresh = [cid for cid in ids if not states[cid].has_row]
    former = [cid for cid in ids if states[cid].has_row]
    if fresh:
        joined += conn.execute(
            _insert(conn)
            .values([{"customer_id": cid, **values} for cid in fresh])
            .on_conflict_do_nothing(index_elements=["customer_id"])
            .returning(members.c.customer_id)
        ).scalars()
    if former:
        joined += conn.execute(
            update(members)
            .where(members.c.customer_id.in_(former), members.c.left_at.is_not(None))
            .values(**values)
            .returning(members.c.customer_id)
        ).scalars()
    return [int(cid) for cid in joined]


# --- the members file ------------------------------------------------------------------------------


def member_rows(
    conn: Connection, *, now: datetime, after: int = 0, limit: int | None = None
) -> Iterator[MemberRow]:
    """Every customer from id ``after`` on, in id order, with their cards' numbers, their points
    available now (all cards together: what the members screen's "Point(s)" shows) and whether
    they are a member; read ``CHUNK`` customers at a time, so a large base streams."""
    book = LedgerBook(conn, now=now)
    left = limit
    while left is None or left > 0:
        size = CHUNK if left is None else min(CHUNK, left)
        batch = conn.execute(
            select(
                customers.c.id,
                customers.c.phone_e164,
                customers.c.last_name,
                customers.c.first_name,
                customers.c.email,
            )
            .where(customers.c.id > after)
            .order_by(customers.c.id)
            .limit(size)
        ).all()
        if not batch:
            return
        ids = [int(row.id) for row in batch]
        owned: dict[int, list[tuple[int, str]]] = {}
        for owner, card_id, number in conn.execute(
            select(cards.c.customer_id, cards.c.id, cards.c.number)
            .where(cards.c.customer_id.in_(ids))
            .order_by(cards.c.customer_id, cards.c.id)
        ):
            owned.setdefault(int(owner), []).append((int(card_id), number))
        balances = book.balances([card_id for own in owned.values() for card_id, _ in own])
        accounts_of = accounts.accounts_of(conn, balances)
        states = _states(conn, ids)
        for row in batch:
            own = owned.get(row.id, [])
            # Each account once: in ut11 a partner's cards all show the partner's one balance.
            per_account = {accounts_of.get(c, c): c for c, _ in own if c in balances}
            points = sum((balances[c].available for c in per_account.values()), Decimal("0.00"))
            yield MemberRow(
                customer_id=row.id,
                phone=row.phone_e164,
                last_name=row.last_name,
                first_name=row.first_name,
                email=row.email,
                cards=[number for _, number in own],
                points=points,
                member=states[row.id].member,
            )
        after = ids[-1]
        if left is not None:
            left -= len(batch)


def export_members(
    target: Target, out: IO[bytes], *, now: datetime | None = None, separator: str = ";"
) -> int:
    """Write the members file of every customer to ``out``; how many customers it lists."""
    return write_members(member_rows(_conn(target), now=now or datetime.now(UTC)), out, separator=separator)


def count_members(target: Target) -> tuple[int, int]:
    """(members, customers) by the module's rule, in one query."""
    row_member = members.c.customer_id.is_not(None) & members.c.left_at.is_(None)
    card_member = members.c.customer_id.is_(None) & _OWNS_CARD
    found = (
        _conn(target)
        .execute(
            select(func.count().filter(row_member | card_member), func.count()).select_from(
                customers.outerjoin(members, members.c.customer_id == customers.c.id)
            )
        )
        .one()
    )
    return int(found[0]), int(found[1])


@dataclass(frozen=True)
class Applied:
    """What applying a plan changed (it may be less than planned: someone joined meanwhile)."""

    joined: tuple[int, ...]
    left: tuple[int, ...]
    audit_id: int | None  # None: nothing changed, so nothing was audited


@dataclass(frozen=True)
class MembersPlan:
    """What importing a members file does: who joins, who leaves, how many rows change nothing."""

    sha256: str
    file_name: str | None
    rows: int
    join: tuple[int, ...]
    leave: tuple[int, ...]
    unchanged: int
    warnings: tuple[PlanWarning, ...] = ()
    applied: Applied | None = None


def _read(conn: Connection, data: bytes, file_name: str | None) -> MembersPlan:
    found = read_members(data)
    problems = list(found.errors)
    ids = [row.customer_id for row in found.rows]
    hub: dict[int, dict[str, str | None]] = {}
    for chunk in _chunks(ids):
        for cid, last_name, first_name, email in conn.execute(
            select(customers.c.id, customers.c.last_name, customers.c.first_name, customers.c.email).where(
                customers.c.id.in_(chunk)
            )
        ):
            hub[int(cid)] = {"last_name": last_name, "first_name": first_name, "email": email}
    warnings = list(found.warnings)
    for row in found.rows:
        if row.customer_id not in hub:
            problems.append(RowError(row.row, "unknown_customer", f"there is no customer {row.customer_id}"))
            continue
        changed = changed_columns(row.texts, hub[row.customer_id])
        if changed:
            warnings.append(
                PlanWarning(
                    row.row,
                    "ignored_change",
                    f"{', '.join(changed)} differ from the hub's: only the member column is imported",
                )
            )
    if problems:
        raise MembersFileInvalid(problems)
    states = _states(conn, ids)
    join_ids = tuple(
        row.customer_id for row in found.rows if row.member and not states[row.customer_id].member
    )
    leave_ids = tuple(
        row.customer_id for row in found.rows if not row.member and states[row.customer_id].member
    )
    return MembersPlan(
        sha256=found.sha256,
        file_name=file_name,
        rows=len(found.rows),
        join=join_ids,
        leave=leave_ids,
        unchanged=len(found.rows) - len(join_ids) - len(leave_ids),
        warnings=tuple(warnings),
    )


def import_members(
    target: Target,
    file: IO[bytes] | bytes,
    *,
    actor: str,
    now: datetime,
    apply: bool = False,
    file_name: str | None = None,
) -> MembersPlan:
    """Read a members file and plan it: every row checked first (``MembersFileInvalid`` lists
    every problem with its row number, and nothing is written); with ``apply``, the joins (via
    ``staff``, by ``actor``) and leaves are written in the caller's transaction with one audit
    row. Importing the same file again plans and changes nothing."""
    if not actor.strip():
        raise ValueError("an import needs the actor who makes it")
    conn = _conn(target)
    data = file if isinstance(file, bytes) else file.read()
    plan = _read(conn, data, file_name)
    if not apply:
        return plan
    return replace(plan, applied=apply_plan(conn, plan, actor=actor, now=now))


def apply_plan(
    target: Target, plan: MembersPlan, *, actor: str, now: datetime, form_id: str | None = None
) -> Applied:
    """Write a plan's joins and leaves, each only if it still changes something, and audit what
    changed (``members.import``, subject ``members-file:<sha256>``: counts, the customers' ids,
    the actor; ``form_id`` when a staff page's form applied it). Nothing changed: no audit row."""
    conn = _conn(target)
    states = _states(conn, sorted({*plan.join, *plan.leave}))
    join_ids = sorted(cid for cid in set(plan.join) if cid in states and not states[cid].member)
    leave_ids = sorted(cid for cid in set(plan.leave) if cid in states and states[cid].member)
    joined: list[int] = []
    for chunk in _chunks(join_ids):
        joined += _join_many(conn, states, chunk, actor, now)
    left: list[int] = []
    for chunk in _chunks(leave_ids):
        with_rows = [cid for cid in chunk if states[cid].has_row]
        through_cards = [cid for cid in chunk if not states[cid].has_row]
        if with_rows:
            left += _end_rows(conn, with_rows, now)
        if through_cards:
            left += _record_card_leaves(conn, through_cards, now)
    if not joined and not left:
        return Applied((), (), None)
    details: dict[str, Any] = {
        "file": plan.file_name,
        "sha256": plan.sha256,
        "rows": plan.rows,
        "planned_join": len(plan.join),
        "planned_leave": len(plan.leave),
        "unchanged": plan.unchanged,
        "joined": len(joined),
        "left": len(left),
        "joined_ids": sorted(joined),
        "left_ids": sorted(left),
    }
    if form_id is not None:
        details["form_id"] = form_id
    audit_id = audit.record(
        conn,
        actor=actor,
        action=IMPORT_ACTION,
        subject=f"members-file:{plan.sha256}",
        details=details,
        at=now,
    )
    return Applied(tuple(sorted(joined)), tuple(sorted(left)), audit_id)


def applied_by_form(target: Target, sha256: str, form_id: str) -> audit.AuditEntry | None:
    """The audit entry of a staff form that already applied this file (a double submission)."""
    for entry in audit.entries(_conn(target), action_prefix=IMPORT_ACTION, subject=f"members-file:{sha256}"):
        if entry.details.get("form_id") == form_id:
            return entry
    return None
