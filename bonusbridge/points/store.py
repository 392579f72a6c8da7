"""Program versions and campaigns in the database: loading them once (cached per process), and
adding new ones with the checks that keep closed periods closed.

While no version is stored, the program is one default version built from the settings
(``api_points_per_currency_unit``, ``api_point_value``, ``api_max_spend_share``,
``points_currency``), in force since the beginning of time.
"""

from __future__ import annotations

import json
import threading
import time as clock
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, exists, func, insert, select

from bonusbridge.models import (
    Card,
    CardStatus,
    CardTier,
    Customer,
    Movement,
    MovementKind,
    PointsCampaign,
    PointsProgramVersion,
    ProgramMember,
)
from bonusbridge.models import Program as ProgramRow
from bonusbridge.points import tiers
from bonusbridge.points.multipliers import CustomerFacts
from bonusbridge.points.program import (
    BEGINNING,
    Campaign,
    Program,
    ProgramRules,
    Version,
    campaign_from_json,
    parse_instant,
    rules_from_json,
)
from bonusbridge.services import membership
from bonusbridge.settings import Settings

versions_table = cast(Table, PointsProgramVersion.__table__)
campaigns_table = cast(Table, PointsCampaign.__table__)


def default_rules(settings: Settings) -> ProgramRules:
    return ProgramRules(
        currency=settings.points_currency,
        earn_rate=settings.api_points_per_currency_unit,
        point_value=settings.api_point_value,
        max_spend_share=settings.api_max_spend_share,
    )


def load(conn: Connection, settings: Settings) -> Program:
    rows = conn.execute(
        select(versions_table.c.id, versions_table.c.effective_from, versions_table.c.rules).order_by(
            versions_table.c.effective_from
        )
    ).all()
    versions = tuple(Version(row.id, row.effective_from, rules_from_json(row.rules)) for row in rows)
    if not versions:
        versions = (Version(None, BEGINNING, default_rules(settings)),)
    campaigns = tuple(
        campaign_from_json(text)
        for text in conn.execute(select(campaigns_table.c.rules).order_by(campaigns_table.c.id)).scalars()
    )
    return Program(versions, campaigns)


_FINGERPRINT = select(
    func.count(versions_table.c.id),
    func.max(versions_table.c.id),
    select(func.count(campaigns_table.c.id)).scalar_subquery(),
    select(func.max(campaigns_table.c.id)).scalar_subquery(),
)


@dataclass
class _Entry:
    program: Program
    fingerprint: tuple[Any, ...]
    checked: float


class ProgramCache:
    """The loaded program, re-checked (one cheap query) at most every ``settings.points_cache_seconds``
    and reloaded only when a version or campaign was added. A quote then costs no query for rules."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], _Entry] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, settings: Settings) -> Program:
        key = (
            str(conn.engine.url),
            settings.points_currency,
            settings.api_points_per_currency_unit,
            settings.api_point_value,
            settings.api_max_spend_share,
        )
        entry = self._entries.get(key)
        now = clock.monotonic()
        if entry is not None and now - entry.checked < settings.points_cache_seconds:
            return entry.program
        fingerprint = tuple(conn.execute(_FINGERPRINT).one())
        if entry is not None and entry.fingerprint == fingerprint:
            entry.checked = now
            return entry.program
        program = load(conn, settings)
        with self._lock:
            self._entries[key] = _Entry(program, fingerprint, now)
        return program

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def add_version(
    conn: Connection,
    settings: Settings,
    raw: Mapping[str, Any],
    *,
    now: datetime,
    actor: str,
    note: str | None = None,
) -> int:
    """Store a new version (``effective_from`` plus any settings; the rest as in the version it
    follows). Refused if it would take effect in the past (a closed period)."""
    raw = dict(raw)
    effective_from = parse_instant("effective_from", raw.pop("effective_from", None))
    program = load(conn, settings)
    program.check_new_version(effective_from, now)
    previous = program.versions[-1].rules.to_json() if program.versions[-1].id is not None else {}
    rules = ProgramRules.parse({**previous, **raw})
    return int(
        conn.execute(
            insert(versions_table)
            .values(
                effective_from=effective_from,
                rules=json.dumps(rules.to_json(), sort_keys=True),
                created_at=now,
                created_by=actor,
                note=note,
            )
            .returning(versions_table.c.id)
        ).scalar_one()
    )


def add_campaign(
    conn: Connection, settings: Settings, raw: Mapping[str, Any], *, now: datetime, actor: str
) -> int:
    """Store a campaign; refused if it starts in the past or contradicts an existing one."""
    campaign = Campaign.parse(raw)
    load(conn, settings).check_new_campaign(campaign, now)
    return int(
        conn.execute(
            insert(campaigns_table)
            .values(
                code=campaign.code,
                starts_at=campaign.starts_at,
                ends_at=campaign.ends_at,
                rules=json.dumps(campaign.to_json(), sort_keys=True),
                created_at=now,
                created_by=actor,
            )
            .returning(campaigns_table.c.id)
        ).scalar_one()
    )


_FACTS = (
    select(
        Card.status,
        Customer.birth_date,
        Customer.city,
        ProgramRow.code,
        # A first purchase of the account (``ledger.accounts``: in ut11 the partner's, on any card).
        ~exists().where(
            Movement.card_id == func.coalesce(Card.account_card_id, Card.id),
            Movement.kind == MovementKind.ACCRUAL,
        ),
        CardTier.card_id.is_not(None),
        CardTier.tier,
        Card.customer_id,
        ProgramMember.customer_id.is_not(None),
        ProgramMember.left_at,
    )
    .select_from(Card)
    .join(ProgramRow, ProgramRow.id == Card.program_id)
    .outerjoin(Customer, Customer.id == Card.customer_id)
    .outerjoin(CardTier, CardTier.card_id == Card.id)
    .outerjoin(ProgramMember, ProgramMember.customer_id == Card.customer_id)
)


# Built once with bound parameters: building the statement per call cost more than running it.
_FACTS_OF_CARD = _FACTS.where(Card.id == bindparam("card"))
_FACTS_AND_SPEND = _FACTS.add_columns(tiers.SPEND_OF_CARD).where(Card.id == bindparam("card"))


class CardFacts(NamedTuple):
    """What a quote needs to know of a card besides its balance, read in one query."""

    status: CardStatus
    customer: CustomerFacts
    owner_id: int | None
    #: The owner's membership of the program (``bonusbridge.services.membership``'s rule: their
    #: ``program_members`` row decides, else owning a card makes them one); False with no owner.
    member: bool


def card_facts(conn: Connection, card_id: int, now: datetime | None = None) -> CardFacts | None:
    """The card's status, its owner as customer criteria see it, with the tier its last review
    stored (``bonusbridge.points.tiers``: the downgrade policy may keep a tier the window no longer
    reaches), the owner's membership and, when ``now`` is given, the rolling 12-month spend — one
    query (a quote's round trips are most of its time); None: no such card."""
    row: Any
    if now is None:
        row = conn.execute(_FACTS_OF_CARD, {"card": card_id}).first()
    else:
        row = conn.execute(_FACTS_AND_SPEND, {"card": card_id, "since": tiers.window_start(now)}).first()
    if row is None:
        return None
    status, birth_date, city, program, first, reviewed, tier, owner, has_row, left_at = row[:10]
    spend: list[Any] = list(row[10:])
    facts = CustomerFacts(
        birth_date=birth_date,
        first_purchase=bool(first),
        city=city,
        program=program,
        tier=tier,
        tier_reviewed=bool(reviewed),
        spend_12m=Decimal(spend[0]) if spend else None,
    )
    member = membership.owner_is_member(owner, bool(has_row), left_at)
    return CardFacts(CardStatus(status), facts, owner, member)


def customer_facts(conn: Connection, card_id: int, now: datetime | None = None) -> CustomerFacts:
    found = card_facts(conn, card_id, now)
    return found.customer if found is not None else CustomerFacts()


def campaign_for_update(conn: Connection, code: str) -> Campaign | None:
    """The stored campaign ``code`` (None: no such campaign), its row locked until the transaction
    ends (PostgreSQL; SQLite's write transactions already run one at a time)."""
    rules = conn.execute(
        select(campaigns_table.c.rules).where(campaigns_table.c.code == code).with_for_update()
    ).scalar_one_or_none()
    return None if rules is None else campaign_from_json(rules)


def store_campaign_end(conn: Connection, code: str, ended: Campaign | None) -> None:
    """Write a campaign's new end (``ended``), or remove it (``None``: cancelled before it started,
    so nothing was ever computed with it). No checks here: ``points.editing.end_campaign`` makes
    them (never in the past, only sooner) and audits the change.

    The row is replaced by one with a fresh id rather than updated: ``ProgramCache`` notices a
    change by the tables' counts and highest ids, and an update in place would leave every process
    quoting with the campaign's old end. (SQLite would give the deleted id to the new row when it
    was the highest, so the id is given explicitly there; PostgreSQL's sequence never reuses one.)
    """
    row = conn.execute(
        select(campaigns_table.c.id, campaigns_table.c.created_at, campaigns_table.c.created_by).where(
            campaigns_table.c.code == code
        )
    ).one()
    highest = int(conn.execute(select(func.max(campaigns_table.c.id))).scalar_one())
    conn.execute(campaigns_table.delete().where(campaigns_table.c.id == row.id))
    if ended is None:
        return
    values: dict[str, Any] = {
        "code": ended.code,
        "starts_at": ended.starts_at,
        "ends_at": ended.ends_at,
        "rules": json.dumps(ended.to_json(), sort_keys=True),
        "created_at": row.created_at,
        "created_by": row.created_by,
    }
    if conn.dialect.name != "postgresql":
        values["id"] = highest + 1
    conn.execute(insert(campaigns_table).values(**values))
