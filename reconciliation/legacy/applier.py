"""``migrate apply``: load a plan into the hub in batches, each batch one transaction.

Per batch, set-based: the planned cards are staged (PostgreSQL: ``COPY`` of the plan's bytes as
they are; SQLite: one ``executemany``), then cards, balance rows, opening balances and the cards'
legacy data are written with ``INSERT … SELECT``, and the batch's progress row is written in the
same transaction. So:

- **Resumable, idempotent.** A batch landed entirely or not at all; a re-run (after ``kill -9``,
  a lost connection, Ctrl-C) skips the batches whose progress row exists and ends in the same state
  as an uninterrupted run. Applying a finished plan again does nothing.
- **Never overwrites.** A planned card that exists by the time its batch runs (imported by another
  plan, or created since planning) is not touched: it is recorded in ``legacy_import_issues``
  (``already_imported`` when an earlier legacy import made it with the same phone, otherwise
  ``changed_since_plan``) and reported.
- **The ledger's own rows.** An opening balance is exactly what ``LedgerBook.accrue`` writes for
  ``accrue(card, balance, key="legacy-opening:<program>:<number>", origin=migration,
  actor="legacy-import", reason=…, occurred_at=as_of, expires_at=…)``: the operation row with the
  same fingerprint, the movement, its lot and the balance total. Calling that accrual again through
  the ledger is a replay (``tests/reconciliation/legacy`` proves it), and ``ledger check`` finds no
  drift. The outbox triggers (migration 0003) fire on the inserted cards and movements as on any
  other insert, so 1C learns every imported card and opening balance.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from bonusbridge.models import (
    Base,
    LegacyImportBatch,
    LegacyImportIssue,
    LegacyImportRun,
    Origin,
    Program,
    utcnow,
)
from bonusbridge.types import UTCDateTime
from reconciliation.legacy.planner import COLUMNS, PLAN_VERSION

ACTOR = "legacy-import"
KEY_PREFIX = "legacy-opening:"


class PlanInvalid(Exception):
    """The plan folder is incomplete, of another version, or its data does not match its hash."""


class PlanIncomplete(PlanInvalid):
    """A file of the plan could not be read (``rejected_files``): applying it would import the
    other programs as if that one did not exist. Refused unless ``allow_incomplete``."""


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def opening_key(program_code: str, number: str) -> str:
    return f"{KEY_PREFIX}{program_code}:{number}"


def opening_reason(program_code: str, program_name: str) -> str:
    return f"opening balance from legacy program {program_code} ({program_name})"


@dataclass
class ApplyResult:
    plan_hash: str
    batches: int
    batches_applied: int = 0
    batches_skipped: int = 0
    created: int = 0
    skipped: int = 0
    issues: list[dict[str, Any]] = field(default_factory=list)


def read_plan(plan_dir: Path, *, verify: bool = True) -> dict[str, Any]:
    """The plan's header, after checking that ``cards.tsv`` is the data the hash was made of."""
    try:
        header: dict[str, Any] = json.loads((plan_dir / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanInvalid(f"{plan_dir}: not a plan folder ({exc})") from None
    if header.get("version") != PLAN_VERSION or header.get("columns") != list(COLUMNS):
        raise PlanInvalid(f"{plan_dir}: plan version {header.get('version')} is not {PLAN_VERSION}")
    if verify:
        digest = hashlib.sha256()
        with (plan_dir / "cards.tsv").open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        core = {key: header[key] for key in ("version", "as_of", "programs", "columns", "batches")}
        core["sources"] = [{k: s[k] for k in ("file", "program", "sha256")} for s in header["sources"]]
        if header.get("rejected_files"):
            core["rejected_files"] = header["rejected_files"]
        digest.update(json.dumps(core, sort_keys=True).encode())
        if digest.hexdigest() != header["plan_hash"]:
            raise PlanInvalid(f"{plan_dir}: cards.tsv or plan.json changed after planning (hash mismatch)")
    return header


_STAGE_COLUMNS = (
    "seq bigint, program integer, number varchar(64), phone_raw varchar(64), phone_e164 varchar(16), "
    "status varchar(24), balance {points}, expires_iso varchar(40), tier varchar(40), "
    "last_name varchar(100), first_name varchar(100), middle_name varchar(100), birth_date date, "
    "email varchar(254), source integer, line integer, "
    "balance_text varchar(24), expires_db varchar(40), program_id integer, existing_id integer, "
    "card_id integer{card_default}, op_id integer{op_default}, mv_id integer{mv_default}"
)


class _Dialect:
    def __init__(self, name: str, sequences: dict[str, str] | None = None) -> None:
        self.pg = name == "postgresql"
        seq = sequences or {}
        stage = _STAGE_COLUMNS.format(
            points="numeric(15,2)" if self.pg else "integer",
            card_default=f" DEFAULT nextval('{seq['cards']}')" if self.pg else "",
            op_default=f" DEFAULT nextval('{seq['ledger_operations']}')" if self.pg else "",
            mv_default=f" DEFAULT nextval('{seq['movements']}')" if self.pg else "",
        )
        if self.pg:
            self.create = [
                f"CREATE TEMP TABLE IF NOT EXISTS legacy_stage ({stage}) ON COMMIT DELETE ROWS",
                "CREATE TEMP TABLE IF NOT EXISTS legacy_programs (idx integer PRIMARY KEY, id integer, "
                "code varchar(64), reason text, reason_json text) ON COMMIT DELETE ROWS",
            ]
            self.sha = "encode(sha256(convert_to({}, 'UTF8')), 'hex')"
            self.amount_text = "s.balance::text"
        else:
            self.create = [
                f"CREATE TEMP TABLE IF NOT EXISTS legacy_stage ({stage})",
                "CREATE TEMP TABLE IF NOT EXISTS legacy_programs (idx integer PRIMARY KEY, id integer, "
                "code varchar(64), reason text, reason_json text)",
                "DELETE FROM legacy_stage",
                "DELETE FROM legacy_programs",
            ]
            self.sha = "bb_sha256({})"
            self.amount_text = "s.balance_text"


def _fingerprint_sql(d: _Dialect, reason_json: str) -> str:
    """The ledger's accrual fingerprint (``intents.fingerprint``: JSON with sorted keys, Python's
    default separators, non-ASCII escaped) assembled in SQL, hashed by the database."""
    parts = (
        '\'{"actor": \' || :actor_json || \', "amount": "\' || ' + d.amount_text + " || "
        '\'", "available_from": null, "card_id": \' || CAST(s.card_id AS TEXT) || '
        "', \"document\": null, \"expires_at\": ' || COALESCE('\"' || s.expires_iso || '\"', 'null') || "
        '\', "kind": "accrue", "occurred_at": \' || :as_of_json || \', "reason": \' || '
        + reason_json
        + " || '}'"
    )
    return d.sha.format(parts)


_ISSUES = (
    "INSERT INTO legacy_import_issues (plan_hash, batch_no, program_code, card_number, source, line, kind,"
    " card_id, detail)"
    " SELECT :plan_hash, :batch_no, p.code, s.number, s.source, s.line,"
    " CASE WHEN lc.card_id IS NOT NULL AND (c.phone_e164 = s.phone_e164 OR"
    " (c.phone_e164 IS NULL AND s.phone_e164 IS NULL)) THEN 'already_imported' ELSE 'changed_since_plan' END,"
    " c.id, 'card exists (status ' || c.status || ', last changed by ' || c.changed_by ||"
    " '): not overwritten'"
    " FROM legacy_stage s JOIN legacy_programs p ON p.idx = s.program JOIN cards c ON c.id = s.existing_id"
    " LEFT JOIN legacy_cards lc ON lc.card_id = c.id"
    " WHERE s.existing_id IS NOT NULL ORDER BY s.seq"
)
_BALANCES = (
    "INSERT INTO card_balances (card_id, total, held)"
    " SELECT s.card_id, COALESCE(s.balance, 0), 0 FROM legacy_stage s WHERE s.card_id IS NOT NULL"
    " ORDER BY s.seq"
)
_LEGACY_CARDS = (
    "INSERT INTO legacy_cards (card_id, plan_hash, source, line, tier, last_name, first_name, middle_name,"
    " birth_date, email)"
    " SELECT s.card_id, :plan_hash, s.source, s.line, s.tier, s.last_name, s.first_name, s.middle_name,"
    " s.birth_date, s.email FROM legacy_stage s WHERE s.card_id IS NOT NULL ORDER BY s.seq"
)
_CARD_COLUMNS = (
    "program_id, number, status, phone_raw, phone_e164, is_primary, created_at, updated_at, changed_by"
)
_KEY = f"'{KEY_PREFIX}' || p.code || ':' || s.number"
_WITH_BALANCE = "s.card_id IS NOT NULL AND s.balance > 0"
#: What the outbox triggers of migration 0003 insert for a card and for a movement (see ``fast``).
_OUTBOX = "INSERT INTO sync_outbox (topic, entity_id, key, slot, origin, state, attempts, created_at)"


def _statements(d: _Dialect, *, fast: bool = False) -> list[str]:
    """The batch's statements after staging. ``fast`` (PostgreSQL, a role allowed to set
    ``session_replication_role``): the batch runs with triggers off — the per-row outbox triggers
    and foreign-key checks cost more than all the rest — and writes the very rows the outbox
    triggers would have written, set-based, in the same order (cards, then movements, ascending
    ids); foreign keys hold by construction (every id comes from the rows just inserted)."""
    if d.pg:
        return [
            # A batch and its progress row commit together: should the server lose the last commits
            # in a crash, their progress rows go with them and a re-run applies them again.
            "SET LOCAL synchronous_commit = off",
            *(["SET LOCAL session_replication_role = replica"] if fast else []),
            # Card, operation and movement ids were drawn from their sequences as the rows were
            # staged (column defaults): no lookups back, no joins between the inserts below.
            "UPDATE legacy_stage s SET existing_id = c.id, card_id = NULL FROM legacy_programs p, cards c"
            " WHERE p.idx = s.program AND c.program_id = p.id AND c.number = s.number",
            _ISSUES,
            f"INSERT INTO cards (id, {_CARD_COLUMNS})"
            " SELECT s.card_id, p.id, s.number, s.status, s.phone_raw, s.phone_e164, false, :now, :now,"
            " :origin"
            " FROM legacy_stage s JOIN legacy_programs p ON p.idx = s.program WHERE s.card_id IS NOT NULL"
            " ORDER BY s.card_id",
            *(
                [
                    f"{_OUTBOX} SELECT 'card', s.card_id, 'card:' || s.card_id::text, s.card_id % 64,"
                    " :origin,"
                    " 'pending', 0, :now FROM legacy_stage s WHERE s.card_id IS NOT NULL ORDER BY s.card_id"
                ]
                if fast
                else []
            ),
            _BALANCES,
            "INSERT INTO ledger_operations (id, origin, idempotency_key, kind, fingerprint, actor,"
            " created_at)"
            f" SELECT s.op_id, :origin, {_KEY}, 'accrue', {_fingerprint_sql(d, 'p.reason_json')},"
            " :actor, :now"
            f" FROM legacy_stage s JOIN legacy_programs p ON p.idx = s.program WHERE {_WITH_BALANCE}"
            " ORDER BY s.op_id",
            "INSERT INTO movements (id, card_id, operation_id, kind, amount, origin, external_id, document,"
            " actor,"
            " reason, occurred_at, recorded_at, available_from, expires_at)"
            f" SELECT s.mv_id, s.card_id, s.op_id, 'accrual', s.balance, :origin, {_KEY}, NULL, :actor,"
            " p.reason,"
            " :as_of, :now, :as_of, s.expires_iso::timestamptz"
            f" FROM legacy_stage s JOIN legacy_programs p ON p.idx = s.program WHERE {_WITH_BALANCE}"
            " ORDER BY s.mv_id",
            "INSERT INTO lots (card_id, movement_id, amount, remaining, held, available_from, expires_at)"
            " SELECT s.card_id, s.mv_id, s.balance, s.balance, 0, :as_of, s.expires_iso::timestamptz"
            f" FROM legacy_stage s WHERE {_WITH_BALANCE} ORDER BY s.mv_id",
            *(
                [
                    f"{_OUTBOX} SELECT 'movement', s.mv_id, 'card:' || s.card_id::text, s.card_id % 64,"
                    " :origin,"
                    f" 'pending', 0, :now FROM legacy_stage s WHERE {_WITH_BALANCE} ORDER BY s.mv_id"
                ]
                if fast
                else []
            ),
            _LEGACY_CARDS,
        ]
    return [
        "UPDATE legacy_stage SET program_id = (SELECT p.id FROM legacy_programs p"
        " WHERE p.idx = legacy_stage.program),"
        " existing_id = (SELECT c.id FROM cards c JOIN legacy_programs p ON c.program_id = p.id"
        " WHERE p.idx = legacy_stage.program AND c.number = legacy_stage.number)",
        _ISSUES,
        f"INSERT INTO cards ({_CARD_COLUMNS})"
        " SELECT s.program_id, s.number, s.status, s.phone_raw, s.phone_e164, :false, :now, :now, :origin"
        " FROM legacy_stage s WHERE s.existing_id IS NULL ORDER BY s.seq",
        "UPDATE legacy_stage SET card_id = (SELECT c.id FROM cards c"
        " WHERE c.program_id = legacy_stage.program_id"
        " AND c.number = legacy_stage.number) WHERE existing_id IS NULL",
        _BALANCES,
        "INSERT INTO ledger_operations (origin, idempotency_key, kind, fingerprint, actor, created_at)"
        f" SELECT :origin, {_KEY}, 'accrue', {_fingerprint_sql(d, 'p.reason_json')}, :actor, :now"
        f" FROM legacy_stage s JOIN legacy_programs p ON p.idx = s.program WHERE {_WITH_BALANCE}"
        " ORDER BY s.seq",
        "INSERT INTO movements (card_id, operation_id, kind, amount, origin, external_id, document, actor,"
        " reason,"
        " occurred_at, recorded_at, available_from, expires_at)"
        " SELECT s.card_id, o.id, 'accrual', s.balance, :origin, o.idempotency_key, NULL, :actor, p.reason,"
        " :as_of, :now, :as_of, s.expires_db"
        " FROM legacy_stage s JOIN legacy_programs p ON p.idx = s.program"
        f" JOIN ledger_operations o ON o.origin = :origin AND o.idempotency_key = {_KEY}"
        f" WHERE {_WITH_BALANCE} ORDER BY s.seq",
        "INSERT INTO lots (card_id, movement_id, amount, remaining, held, available_from, expires_at)"
        " SELECT m.card_id, m.id, m.amount, m.amount, 0, m.available_from, m.expires_at"
        " FROM legacy_stage s JOIN legacy_programs p ON p.idx = s.program"
        f" JOIN movements m ON m.origin = :origin AND m.external_id = {_KEY} AND m.card_id = s.card_id"
        f" WHERE {_WITH_BALANCE} ORDER BY s.seq",
        _LEGACY_CARDS,
    ]


_BIND = re.compile(r"(?<![:\w]):(\w+)")


def _prepare(sql: str) -> tuple[Any, list[str]]:
    """A text statement with its timestamps bound as ``UTCDateTime`` (SQLite stores them as text)."""
    names = sorted(set(_BIND.findall(sql)))
    statement = text(sql)
    typed = [bindparam(name, type_=UTCDateTime()) for name in ("now", "as_of") if name in names]
    if typed:
        statement = statement.bindparams(*typed)
    return statement, names


_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def _unescape(value: str) -> str | None:
    if value == "\\N":
        return None
    if "\\" not in value:
        return value
    out = []
    chars = iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append({"t": "\t", "n": "\n", "r": "\r"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


unescape = _unescape


def _sqlite_rows(chunk: bytes) -> list[tuple[Any, ...]]:
    rows = []
    expiries: dict[str, str] = {}
    for line in chunk.decode("utf-8").split("\n"):
        if not line:
            continue
        v = [_unescape(part) for part in line.split("\t")]
        balance = v[6]
        cents = int(Decimal(balance) * 100) if balance is not None else None
        expires = v[7]
        expires_db = None
        if expires is not None:
            expires_db = expiries.get(expires)
            if expires_db is None:
                expires_db = datetime.fromisoformat(expires).astimezone(UTC).strftime(_SQLITE_FORMAT)
                expiries[expires] = expires_db
        rows.append((*v[:6], cents, *v[7:], balance, expires_db))
    return rows


def _install_sqlite_functions(conn: Connection) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.create_function(
        "bb_sha256", 1, lambda value: hashlib.sha256(value.encode()).hexdigest(), deterministic=True
    )


def _ensure_programs(engine: Engine, header: dict[str, Any]) -> list[tuple[int, int, str, str, str]]:
    try:
        return _programs(engine, header)
    except IntegrityError:  # another apply created one of them at the same moment
        return _programs(engine, header)


def _programs(engine: Engine, header: dict[str, Any]) -> list[tuple[int, int, str, str, str]]:
    """Create the plan's legacy programs that the hub does not know yet; ``(idx, id, code, reason,
    reason as JSON)`` per program index of the plan."""
    out = []
    unread = _unread_programs(header)
    with engine.begin() as conn:
        for index, program in enumerate(header["programs"]):
            if program["code"] in unread:
                continue  # no file of it could be read: no empty program in the hub
            found = conn.execute(select(Program.id).where(Program.code == program["code"])).scalar()
            if found is None:
                found = conn.execute(
                    _table(Program)
                    .insert()
                    .values(code=program["code"], name=program["name"], is_legacy=True, created_at=utcnow())
                    .returning(_table(Program).c.id)
                ).scalar_one()
            reason = opening_reason(program["code"], program["name"])
            out.append((index, found, program["code"], reason, json.dumps(reason)))
    return out


def _unread_programs(header: dict[str, Any]) -> set[str]:
    """The plan's programs none of whose files could be read."""
    read = {s["program"] for s in header["sources"] if "rejected" not in s}
    return {s["program"] for s in header["sources"]} - read


def _start_run(engine: Engine, header: dict[str, Any]) -> set[int]:
    """Record the run (once, also when two applies of one plan start together); the batches done."""
    plan_hash = header["plan_hash"]
    try:
        with engine.begin() as conn:
            exists = conn.execute(
                select(LegacyImportRun.plan_hash).where(LegacyImportRun.plan_hash == plan_hash)
            ).scalar()
            if exists is None:
                conn.execute(
                    _table(LegacyImportRun)
                    .insert()
                    .values(
                        plan_hash=plan_hash,
                        as_of=datetime.fromisoformat(header["as_of"]),
                        cards=header["cards"],
                        batches=len(header["batches"]),
                        sources=json.dumps(header["sources"], ensure_ascii=False),
                        started_at=utcnow(),
                    )
                )
    except IntegrityError:
        pass  # another apply of this plan recorded it first
    with engine.connect() as conn:
        done = conn.execute(
            select(LegacyImportBatch.batch_no).where(LegacyImportBatch.plan_hash == plan_hash)
        ).scalars()
        return set(done)


def _sequences(engine: Engine) -> dict[str, str]:
    """The sequences behind the ids the load draws itself (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as conn:
        return {
            table: conn.exec_driver_sql("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).scalar_one()
            for table in ("cards", "ledger_operations", "movements")
        }


def can_load_fast(engine: Engine) -> bool:
    """Whether this PostgreSQL role may switch triggers off for its own transactions
    (``session_replication_role``: a superuser, or granted SET on it)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        try:
            with conn.begin():
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                return True
        except DBAPIError:
            return False


def apply_plan(
    engine: Engine,
    plan_dir: Path,
    *,
    progress: Callable[[int], None] | None = None,
    pause: float = 0.0,
    jobs: int = 1,
    fast: bool | None = None,
    clock: Callable[[], datetime] = utcnow,
    allow_incomplete: bool = False,
) -> ApplyResult:
    """Apply the plan in ``plan_dir`` (see the module docs). ``progress`` gets the cards of each
    batch handled (applied now or before); ``pause`` sleeps after each batch; ``jobs`` batches run
    at once on PostgreSQL (each on its own connection); ``fast`` (default: when allowed) loads
    with triggers off and writes their outbox rows set-based (see ``_statements``)."""
    header = read_plan(plan_dir)
    if header.get("rejected_files") and not allow_incomplete:
        unread = ", ".join(f"{r['file']} ({r['reason']})" for r in header["rejected_files"])
        raise PlanIncomplete(
            f"{plan_dir}: the plan is incomplete, files could not be read: {unread}. Fix them and plan "
            "again, or apply the rest with --allow-incomplete"
        )
    plan_hash = header["plan_hash"]
    programs = _ensure_programs(engine, header)
    done = _start_run(engine, header)
    d = _Dialect(engine.dialect.name, _sequences(engine))
    if fast is None:
        fast = can_load_fast(engine)
    statements = [_prepare(sql) for sql in _statements(d, fast=bool(fast and d.pg))]
    as_of = datetime.fromisoformat(header["as_of"])
    result = ApplyResult(plan_hash, len(header["batches"]))
    todo = []
    for batch in header["batches"]:
        if batch["no"] in done:
            result.batches_skipped += 1
            if progress:
                progress(batch["cards"])
        else:
            todo.append(batch)
    data_path = plan_dir / "cards.tsv"

    def run(batch: dict[str, int]) -> tuple[int, int | None, int | None]:
        with data_path.open("rb") as data:
            data.seek(batch["offset"])
            chunk = data.read(batch["length"])
        created, skipped = _apply_batch(engine, d, statements, programs, header, batch, chunk, as_of, clock())
        if pause:
            time.sleep(pause)
        return batch["cards"], created, skipped

    def account(cards: int, created: int | None, skipped: int | None) -> None:
        if created is None:
            result.batches_skipped += 1
        else:
            result.batches_applied += 1
            result.created += created
            result.skipped += skipped or 0
        if progress:
            progress(cards)

    if jobs > 1 and d.pg and len(todo) > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for outcome in pool.map(run, todo):
                account(*outcome)
    else:
        for batch in todo:
            account(*run(batch))
    with engine.begin() as conn:
        conn.execute(
            _table(LegacyImportRun)
            .update()
            .where(LegacyImportRun.plan_hash == plan_hash, LegacyImportRun.finished_at.is_(None))
            .values(finished_at=clock())
        )
        rows = conn.execute(
            select(
                LegacyImportIssue.batch_no,
                LegacyImportIssue.program_code,
                LegacyImportIssue.card_number,
                LegacyImportIssue.source,
                LegacyImportIssue.line,
                LegacyImportIssue.kind,
                LegacyImportIssue.detail,
            )
            .where(LegacyImportIssue.plan_hash == plan_hash)
            .order_by(LegacyImportIssue.id)
        )
        files = [source["file"] for source in header["sources"]]
        result.issues = [
            {
                "kind": kind,
                "program": code,
                "file": files[source],
                "line": line,
                "card_number": number,
                "detail": detail,
            }
            for _, code, number, source, line, kind, detail in rows
        ]
    return result


def _apply_batch(
    engine: Engine,
    d: _Dialect,
    statements: list[tuple[Any, list[str]]],
    programs: list[tuple[int, int, str, str, str]],
    header: dict[str, Any],
    batch: dict[str, int],
    chunk: bytes,
    as_of: datetime,
    now: datetime,
) -> tuple[int | None, int | None]:
    """One batch in one transaction; ``(None, None)`` when another run already applied it."""
    plan_hash = header["plan_hash"]
    with engine.begin() as conn:
        if d.pg:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", (plan_hash, batch["no"]))
        else:
            _install_sqlite_functions(conn)
        already = conn.execute(
            select(LegacyImportBatch.batch_no).where(
                LegacyImportBatch.plan_hash == plan_hash, LegacyImportBatch.batch_no == batch["no"]
            )
        ).scalar()
        if already is not None:
            return None, None
        for sql in d.create:
            conn.exec_driver_sql(sql)
        conn.execute(
            text(
                "INSERT INTO legacy_programs (idx, id, code, reason, reason_json)"
                " VALUES (:i, :id, :c, :r, :j)"
            ),
            [{"i": i, "id": pid, "c": code, "r": reason, "j": rj} for i, pid, code, reason, rj in programs],
        )
        if d.pg:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cursor:
                columns = ", ".join(c if c != "expires_at" else "expires_iso" for c in COLUMNS)
                with cursor.copy(f"COPY legacy_stage ({columns}) FROM STDIN") as copy:
                    copy.write(chunk)
                cursor.execute("ANALYZE legacy_stage")
        else:
            names = [c if c != "expires_at" else "expires_iso" for c in COLUMNS] + [
                "balance_text",
                "expires_db",
            ]
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.executemany(
                f"INSERT INTO legacy_stage ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                _sqlite_rows(chunk),
            )
        params = {
            "plan_hash": plan_hash,
            "batch_no": batch["no"],
            "now": now,
            "as_of": as_of,
            "origin": Origin.MIGRATION.value,
            "actor": ACTOR,
            "actor_json": json.dumps(ACTOR),
            "as_of_json": json.dumps(as_of.isoformat()),
            "false": False,
        }
        for statement, names in statements:
            conn.execute(statement, {name: params[name] for name in names})
        counts = conn.execute(text("SELECT COUNT(card_id), COUNT(existing_id) FROM legacy_stage")).one()
        conn.execute(
            _table(LegacyImportBatch)
            .insert()
            .values(
                plan_hash=plan_hash,
                batch_no=batch["no"],
                cards=batch["cards"],
                created=counts[0],
                skipped=counts[1],
                done_at=now,
            )
        )
        return int(counts[0]), int(counts[1])
