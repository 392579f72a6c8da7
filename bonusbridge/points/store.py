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
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, exists, func, insert, select, type_coerce

from bonusbridge.models import (
    ApiOrder,
    Card,
    CardStatus,
    Customer,
    Movement,
    MovementKind,
    PointsCampaign,
    PointsProgramVersion,
)
from bonusbridge.models import Program as ProgramRow
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
from bonusbridge.points.receipts import add_months
from bonusbridge.settings import Settings
from bonusbridge.types import Points, UTCDateTime

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
        ~exists().where(Movement.card_id == Card.id, Movement.kind == MovementKind.ACCRUAL),
    )
    .select_from(Card)
    .join(ProgramRow, ProgramRow.id == Card.program_id)
    .outerjoin(Customer, Customer.id == Card.customer_id)
)


_SPEND = (
    select(type_coerce(func.coalesce(func.sum(ApiOrder.total - ApiOrder.refunded), 0), Points()))
    .where(
        ApiOrder.card_id == bindparam("card"),
        ApiOrder.total.is_not(None),
        ApiOrder.created_at > bindparam("since", type_=UTCDateTime()),
    )
    .scalar_subquery()
)


# Built once with bound parameters: building the statement per call cost more than running it.
_FACTS_OF_CARD = _FACTS.where(Card.id == bindparam("card"))
_FACTS_AND_SPEND = _FACTS.add_columns(_SPEND).where(Card.id == bindparam("card"))


def card_facts(
    conn: Connection, card_id: int, now: datetime | None = None
) -> tuple[CardStatus, CustomerFacts] | None:
    """The card's status and its owner as customer criteria see it, with the rolling 12-month
    spend of the card's receipts when ``now`` is given (one query); None: no such card."""
    row: Any
    if now is None:
        row = conn.execute(_FACTS_OF_CARD, {"card": card_id}).first()
    else:
        row = conn.execute(_FACTS_AND_SPEND, {"card": card_id, "since": add_months(now, -12)}).first()
    if row is None:
        return None
    status, birth_date, city, program, first = row[:5]
    spend: list[Any] = list(row[5:])
    facts = CustomerFacts(
        birth_date=birth_date,
        first_purchase=bool(first),
        city=city,
        program=program,
        spend_12m=Decimal(spend[0]) if spend else None,
    )
    return CardStatus(status), facts


def customer_facts(conn: Connection, card_id: int, now: datetime | None = None) -> CustomerFacts:
    found = card_facts(conn, card_id, now)
    return found[1] if found is not None else CustomerFacts()
