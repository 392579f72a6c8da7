"""What the initial load counted: the documents in 1C's bonus register when the load read it.

``sync pull --full`` reads the register's records (``AccumulationRegister_БонусныеБаллы_RecordType``,
paged) and makes each owner's opening balance their sum, so the balance and the set of documents in
it come from one read. Each document of that read is kept as an inbox row (source ``pull``,
version ``opening``, state ``done``) whose payload is what it put into each owner's opening
balance, less what the hub had already applied of it (the change feed may run during the load).

When the feed later brings that document, only what differs from the opening counts: the same
posting is "in the opening balance"; a re-posting with other amounts moves the difference; an
unposted or deleted one takes its opening part out. A document the load did not read counts in
full — whatever its date: a document dated before the load but posted after it (backdated) is not
in the opening balance, and a 1C server stamping another zone than the configured one cannot make
a fresh document look old. So a document is counted exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bonusbridge.models import InboxMessage, SyncState

#: The inbox version of a document's part in the opening balance.
VERSION = "opening"
#: ``session.info`` key: opening parts prefetched for a batch (entity set, ref) → owners or None.
_PREFETCHED = "bonusbridge.sync.opening_parts"
#: Line numbers of the corrections for owners a document no longer names (above any real line).
LEFTOVER_LINE = 100000

Line = tuple[int, int, Decimal, datetime | None]


def record(
    session: Session,
    *,
    entity_set: str,
    ref: str,
    kind: str,
    key: str,
    slot: int,
    parts: dict[str, Decimal],
    now: datetime,
) -> None:
    """Keep a document's part of the opening balance (a later full load replaces it)."""
    payload = json.dumps(
        {
            "odata.type": f"StandardODATA.{entity_set}",
            "Ref_Key": ref,
            "bonusbridge.opening": {owner: format(amount, "f") for owner, amount in sorted(parts.items())},
        },
        ensure_ascii=False,
    )
    values = {
        "source": "pull",
        "entity_set": entity_set,
        "onec_ref": ref,
        "data_version": VERSION,
        "kind": kind,
        "key": key,
        "slot": slot,
        "payload": payload,
        "state": SyncState.DONE.value,
        "received_at": now,
        "finished_at": now,
        "attempts": 0,
        "last_error": "in the opening balance of the initial load",
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = cast(Table, InboxMessage.__table__)
    session.execute(
        insert(table)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["entity_set", "onec_ref", "data_version"],
            set_={"payload": payload, "received_at": now, "finished_at": now},
        )
    )


def _parse(payload: str) -> dict[str, Decimal]:
    parts = json.loads(payload).get("bonusbridge.opening") or {}
    return {str(owner): Decimal(str(amount)) for owner, amount in parts.items()}


def prefetch(session: Session, refs: Iterable[tuple[str, str]]) -> None:
    """Read the opening parts of a batch's documents at once (``parts`` then answers from it)."""
    wanted = sorted(set(refs))
    found: dict[tuple[str, str], dict[str, Decimal] | None] = dict.fromkeys(wanted)
    refs_only = sorted({ref for _, ref in wanted})
    for start in range(0, len(refs_only), 500):
        chunk = refs_only[start : start + 500]
        rows = session.execute(
            select(InboxMessage.entity_set, InboxMessage.onec_ref, InboxMessage.payload).where(
                InboxMessage.data_version == VERSION, InboxMessage.onec_ref.in_(chunk)
            )
        )
        for entity_set, ref, payload in rows:
            if (entity_set, ref) in found:
                found[(entity_set, ref)] = _parse(payload)
    session.info.setdefault(_PREFETCHED, {}).update(found)


def parts(session: Session, entity_set: str, ref: str) -> dict[str, Decimal] | None:
    """What the document put into each owner's opening balance; None when the load did not read it."""
    prefetched: dict[tuple[str, str], dict[str, Decimal] | None] = session.info.get(_PREFETCHED, {})
    if (entity_set, ref) in prefetched:
        return prefetched[(entity_set, ref)]
    payload = session.scalar(
        select(InboxMessage.payload).where(
            InboxMessage.entity_set == entity_set,
            InboxMessage.onec_ref == ref,
            InboxMessage.data_version == VERSION,
        )
    )
    return None if payload is None else _parse(payload)


def beyond(
    lines: list[tuple[int, int, Decimal, datetime | None, str]],
    opening: dict[str, Decimal],
    card_of: Callable[[str], int],
) -> list[Line]:
    """The lines a document must move in the hub beyond its part of the opening balance.

    ``lines``: the document's rows now (line, card, amount, date, owner; none when it is unposted
    or deleted). Per owner of the points, what it moves now less what it put in the opening: on
    the owner's first line, or for an owner it no longer names (``card_of`` gives the card) on a
    line above any real one. Owners whose figure did not change move nothing."""
    total: dict[str, Decimal] = {}
    first: dict[str, tuple[int, int, datetime | None]] = {}
    for line, card_id, amount, occurred, owner in sorted(lines, key=lambda item: item[0]):
        total[owner] = total.get(owner, Decimal("0")) + amount
        first.setdefault(owner, (line, card_id, occurred))
    out: list[Line] = []
    for owner in sorted(set(total) | set(opening)):
        delta = total.get(owner, Decimal("0")) - opening.get(owner, Decimal("0"))
        if delta == 0:
            continue
        if owner in first:
            line, card_id, occurred = first[owner]
            out.append((line, card_id, delta, occurred))
        else:
            leftover = LEFTOVER_LINE + sorted(opening).index(owner)
            out.append((leftover, card_of(owner), delta, None))
    return out


def owner_sign(record_type: Any) -> int:
    """A register record's sign: ``Receipt`` adds, ``Expense`` takes."""
    return 1 if str(record_type) == "Receipt" else -1


__all__ = ["VERSION", "beyond", "owner_sign", "parts", "prefetch", "record"]
