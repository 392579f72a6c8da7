"""Staff edits of the points program (issue 8, item 1: "editable by staff with a role and an audit
trail"): a new version, a new campaign, the end of a campaign. The CLI and the staff pages both go
through here.

Each edit is written together with its audit row (``bonusbridge.audit``) in the caller's
transaction, so an edit without its audit row cannot exist, and a refused edit (a typed
``PointsError``) writes neither. On top of the store's own checks (no closed period, no
contradictory campaigns, no floats) a staff edit needs:

- who and why: the actor and a reason, both required (a version keeps the reason as its note);
- what changed: a version's audit row lists the settings that differ from the version in force
  before it, ``{setting: [before, after]}``, next to the new rules in full;
- one edit per form: with a ``key`` (the staff pages send one per rendered form) a second call
  with the same request answers with the first edit and writes nothing, and a call with another
  request under the same key is refused (a form reused for something else). The key and a digest
  of the request are kept in the audit row's details: the audit is the record of what was done.

Program edits are serialized (a PostgreSQL advisory lock; SQLite's write transactions already run
one at a time): the store checks a new campaign against the stored ones and then inserts it, and
two contradictory campaigns saved at the same moment must not both pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text

from bonusbridge import audit
from bonusbridge.points import store
from bonusbridge.points.errors import (
    BeforeProgramStart,
    InvalidProgramRules,
    PointsError,
    RetroactiveChange,
)
from bonusbridge.points.program import Campaign, ProgramRules, parse_instant, rules_from_json
from bonusbridge.settings import Settings

ADD_VERSION = "program.version.add"
ADD_CAMPAIGN = "program.campaign.add"
END_CAMPAIGN = "program.campaign.end"
#: Every program edit's action starts with it (the pages and ``points audit`` list them by it).
PROGRAM_ACTIONS = "program."
REASON_MAX = 2000
ACTOR_MAX = 100  # the width of ``created_by`` and of the audit's ``actor``
_LOCK = int.from_bytes(hashlib.sha256(b"bonusbridge.points.editing").digest()[:8], "big", signed=True)


class MissingReason(PointsError):
    """A staff edit of the program without a reason: the audit trail must say why."""

    code = "missing_reason"


class UnknownCampaign(InvalidProgramRules):
    code = "unknown_campaign"


class ReusedKey(PointsError):
    """The key (a staff form) was already used for another edit: reload the form."""

    code = "idempotency_conflict"


@dataclass(frozen=True)
class Edit:
    """An edit as audited; ``replayed``: the key's earlier edit, nothing written this time."""

    action: str
    subject: str  # "version:7", "campaign:thu-x3"
    audit_id: int
    details: dict[str, Any]
    replayed: bool = False

    @property
    def version_id(self) -> int | None:
        found = self.details.get("version_id")
        return found if isinstance(found, int) else None


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The settings whose value differs: ``{name: [before, after]}`` (``None``: not set before)."""
    return {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}


def add_version(
    conn: Connection,
    settings: Settings,
    raw: Mapping[str, Any],
    *,
    now: datetime,
    actor: str,
    reason: str,
    key: str | None = None,
) -> Edit:
    """Add a version: ``effective_from`` (from ``now`` when empty or missing; never in the past)
    and the settings that change; the others carry over as ``store.add_version`` does (from the
    latest stored version; the first one starts from ``ProgramRules``' defaults). The changes are
    listed against the version in force just before it — the default program built from the
    settings while none is stored — so the audit shows what really changes at that moment."""
    actor, reason = _who_and_why(actor, reason)
    request = {"raw": dict(raw)}

    def apply() -> tuple[str, dict[str, Any]]:
        wanted = dict(raw)
        if wanted.get("effective_from") in (None, ""):
            wanted["effective_from"] = now
        effective_from = parse_instant("effective_from", wanted["effective_from"])
        program = store.load(conn, settings)
        try:
            in_force = program.version_at(effective_from)
        except BeforeProgramStart:  # before the first stored version: nothing was in force
            in_force = None
        version_id = store.add_version(conn, settings, wanted, now=now, actor=actor, note=reason)
        stored = conn.execute(
            select(store.versions_table.c.rules).where(store.versions_table.c.id == version_id)
        ).scalar_one()
        rules = rules_from_json(stored).to_json()
        before = in_force.rules.to_json() if in_force is not None else {}
        return f"version:{version_id}", {
            "version_id": version_id,
            "effective_from": effective_from.isoformat(),
            "previous_version": in_force.id if in_force is not None else None,
            "changes": changes(before, rules),
            "rules": rules,
        }

    return _audited(conn, ADD_VERSION, request, key=key, actor=actor, reason=reason, now=now, apply=apply)


def add_campaign(
    conn: Connection,
    settings: Settings,
    raw: Mapping[str, Any],
    *,
    now: datetime,
    actor: str,
    reason: str,
    key: str | None = None,
) -> Edit:
    """Add a campaign (``starts_at`` from ``now`` when empty or missing); refused if it starts in
    the past, its code exists or it contradicts a stored campaign."""
    actor, reason = _who_and_why(actor, reason)
    request = {"raw": dict(raw)}

    def apply() -> tuple[str, dict[str, Any]]:
        wanted = dict(raw)
        if wanted.get("starts_at") in (None, ""):
            wanted["starts_at"] = now
        store.add_campaign(conn, settings, wanted, now=now, actor=actor)
        campaign = Campaign.parse(wanted)
        return f"campaign:{campaign.code}", {"campaign": campaign.to_json()}

    return _audited(conn, ADD_CAMPAIGN, request, key=key, actor=actor, reason=reason, now=now, apply=apply)


def end_campaign(
    conn: Connection,
    settings: Settings,
    code: str,
    *,
    now: datetime,
    actor: str,
    reason: str,
    at: datetime | None = None,
    key: str | None = None,
) -> Edit:
    """End a running or scheduled campaign at ``at`` (default ``now``): the only change a stored
    campaign takes, and only to end it sooner — never in the past, so receipts already computed
    keep their campaign. Ended before it starts, a campaign is cancelled (removed: nothing was
    computed with it; the audit row keeps it). ``settings`` is taken for symmetry with the other
    edits (a campaign does not depend on them)."""
    actor, reason = _who_and_why(actor, reason)
    code = code.strip()
    request = {"code": code, "at": at.isoformat() if at is not None else None}

    def apply() -> tuple[str, dict[str, Any]]:
        when = parse_instant("at", at) if at is not None else now
        campaign = store.campaign_for_update(conn, code)
        if campaign is None:
            raise UnknownCampaign(f"there is no campaign {code!r}")
        if campaign.ends_at <= now:
            raise RetroactiveChange(
                f"campaign {code} ended at {campaign.ends_at.isoformat()}: an ended campaign is a "
                "closed period and is not changed"
            )
        if when < now:
            raise RetroactiveChange(
                f"ending campaign {code} at {when.isoformat()} would change receipts already computed; "
                f"end it from now ({now.isoformat()}) on"
            )
        if when >= campaign.ends_at:
            raise InvalidProgramRules(
                f"campaign {code} already ends at {campaign.ends_at.isoformat()}; a campaign may only "
                "be ended sooner"
            )
        ended = replace(campaign, ends_at=when) if when > campaign.starts_at else None
        store.store_campaign_end(conn, code, ended)
        return f"campaign:{code}", {
            "code": code,
            "ends_at": [campaign.ends_at.isoformat(), ended.ends_at.isoformat() if ended else None],
            "cancelled": ended is None,
            "campaign": campaign.to_json(),
        }

    return _audited(conn, END_CAMPAIGN, request, key=key, actor=actor, reason=reason, now=now, apply=apply)


def campaign_state(campaign: Campaign, now: datetime) -> str:
    """``scheduled``, ``running`` or ``ended`` at ``now``."""
    if now < campaign.starts_at:
        return "scheduled"
    return "running" if now < campaign.ends_at else "ended"


@dataclass(frozen=True)
class VersionEntry:
    """A stored version as the staff pages list it, with what it changed against the one before."""

    id: int
    effective_from: datetime
    created_at: datetime
    created_by: str
    note: str | None
    rules: ProgramRules
    changes: dict[str, list[Any]] | None  # None: the first stored version


def version_history(conn: Connection) -> list[VersionEntry]:
    """Every stored version by effective date, each compared with the one in force before it."""
    table = store.versions_table
    rows = conn.execute(
        select(
            table.c.id, table.c.effective_from, table.c.created_at, table.c.created_by, table.c.note,
            table.c.rules,
        ).order_by(table.c.effective_from)
    ).all()  # fmt: skip
    history: list[VersionEntry] = []
    previous: dict[str, Any] | None = None
    for row in rows:
        rules = rules_from_json(row.rules)
        plain = rules.to_json()
        diff = changes(previous, plain) if previous is not None else None
        history.append(
            VersionEntry(row.id, row.effective_from, row.created_at, row.created_by, row.note, rules, diff)
        )
        previous = plain
    return history


# --- the audited write ------------------------------------------------------------------------------


def _who_and_why(actor: str, reason: str | None) -> tuple[str, str]:
    actor = actor.strip()
    if not actor or len(actor) > ACTOR_MAX:
        raise InvalidProgramRules(f"actor: who makes the change, 1 to {ACTOR_MAX} characters")
    reason = (reason or "").strip()
    if not reason:
        raise MissingReason("a reason is required: the audit trail says why the program changed")
    if len(reason) > REASON_MAX:
        raise InvalidProgramRules(f"reason: at most {REASON_MAX} characters")
    return actor, reason


def _serialize(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _LOCK})


def _digest(action: str, actor: str, reason: str, request: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"action": action, "actor": actor, "reason": reason, "request": request},
        sort_keys=True,
        ensure_ascii=False,
        default=str,  # Decimals and instants as their text, as the audit keeps them
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _earlier(conn: Connection, key: str) -> audit.AuditEntry | None:
    """The program edit made under ``key``, if any (the key sits in the audit row's details)."""
    table = audit.audit_table
    rows = conn.execute(
        select(table.c.id, table.c.at, table.c.actor, table.c.action, table.c.subject, table.c.details,
               table.c.reason)
        .where(
            table.c.action.startswith(PROGRAM_ACTIONS, autoescape=True),
            table.c.details.contains(json.dumps(key, ensure_ascii=False), autoescape=True),
        )
        .order_by(table.c.id)
    )  # fmt: skip
    for row in rows:
        details = json.loads(row.details)
        if details.get("key") == key:
            return audit.AuditEntry(row.id, row.at, row.actor, row.action, row.subject, details, row.reason)
    return None


def _audited(
    conn: Connection,
    action: str,
    request: Mapping[str, Any],
    *,
    key: str | None,
    actor: str,
    reason: str,
    now: datetime,
    apply: Callable[[], tuple[str, dict[str, Any]]],
) -> Edit:
    _serialize(conn)
    digest = _digest(action, actor, reason, request)
    if key is not None:
        earlier = _earlier(conn, key)
        if earlier is not None:
            if earlier.action != action or earlier.details.get("request") != digest:
                raise ReusedKey(f"key {key!r} was already used for another edit ({earlier.subject})")
            return Edit(earlier.action, earlier.subject, earlier.id, earlier.details, replayed=True)
    subject, details = apply()
    if key is not None:
        details = {**details, "key": key, "request": digest}
    audit_id = audit.record(
        conn, actor=actor, action=action, subject=subject, details=details, at=now, reason=reason
    )
    return Edit(action, subject, audit_id, details)
