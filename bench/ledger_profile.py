"""Where a ledger operation's time goes: SQL round trips per operation, and a single-client profile.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/ledger_profile.py [--url ...] [--ops 200] [--seconds 5] [--no-cprofile]

On a scratch database ``bonusbridge_profile_<pid>`` (dropped at the end), it

1. counts, per accrual and per redemption through ``LedgerService``: the statements SQLAlchemy sends
   (``before_cursor_execute``), transactions begun and committed, pool checkouts (each one pings
   the server: ``pool_pre_ping``), and the real round trips seen by libpq (its protocol trace:
   every message that makes the client wait for the server's ReadyForQuery);
2. runs one client alone for ``--seconds``, measuring its ops/s and the CPU it burns per operation
   in Python and in its PostgreSQL backend (read from /proc: the server must be on this machine);
3. runs the same loop under cProfile and prints the top functions (skip with ``--no-cprofile``;
   for py-spy, use ``--no-cprofile`` and run the script under ``py-spy record``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from bonusbridge.db import create_db_engine
from bonusbridge.errors import InsufficientBalance
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, Origin
from bonusbridge.schema import upgrade
from bonusbridge.unit_of_work import UnitOfWork

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ledger import DEFAULT_URL, admin_engine, create_database, drop_database

SEED = Decimal("1000000.00")
_SERIAL = iter(range(1, 10**12))  # idempotency keys unique across every loop of this process


def progress(message: str) -> None:
    print(message, flush=True)


class SqlCounter:
    """SQLAlchemy-level counts: statements (by verb), BEGIN/COMMIT/ROLLBACK, pool checkouts."""

    def __init__(self, engine: Engine) -> None:
        self.counts: Counter[str] = Counter()
        self.statements: list[str] = []
        self.engine = engine
        self.listeners: list[tuple[Any, str, Callable[..., None]]] = [
            (engine, "before_cursor_execute", self._execute),
            (engine, "begin", self._begin),
            (engine, "commit", self._commit),
            (engine, "rollback", self._rollback),
            (engine.pool, "checkout", self._checkout),
        ]
        for target, name, listener in self.listeners:
            event.listen(target, name, listener)

    def remove(self) -> None:
        for target, name, listener in self.listeners:
            event.remove(target, name, listener)

    def _begin(self, conn: Any) -> None:
        self.counts["BEGIN"] += 1

    def _commit(self, conn: Any) -> None:
        self.counts["COMMIT"] += 1

    def _rollback(self, conn: Any) -> None:
        self.counts["ROLLBACK"] += 1

    def _checkout(self, *args: Any) -> None:
        self.counts["pool checkout (pool_pre_ping sends a ping)"] += 1

    def _execute(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        verb = (
            " ".join(statement.split()[:3])
            if statement.startswith(("INSERT", "UPDATE"))
            else statement.split()[0]
        )
        self.counts[f"execute{'many' if many else ''}: {verb}"] += 1
        self.statements.append(" ".join(statement.split())[:150])

    def reset(self) -> None:
        self.counts.clear()
        self.statements.clear()


class WireTrace:
    """libpq's protocol trace of the engine's connections: the round trips that really happen."""

    def __init__(self, engine: Engine) -> None:
        self.file = tempfile.NamedTemporaryFile(prefix="bench-pq-", suffix=".trace", delete=False)  # noqa: SIM115
        event.listen(engine, "connect", self._on_connect)

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        from psycopg import pq

        dbapi_connection.pgconn.trace(self.file.fileno())
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def mark(self) -> int:
        self.file.flush()
        return os.path.getsize(self.file.name)

    def since(self, offset: int) -> list[str]:
        self.file.flush()
        with open(self.file.name, encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            return handle.read().splitlines()

    @staticmethod
    def round_trips(lines: list[str]) -> int:
        """Each ReadyForQuery from the server ends one request/response exchange."""
        return sum(1 for line in lines if re.match(r"^B\s+\d+\s+ReadyForQuery", line))

    @staticmethod
    def requests(lines: list[str]) -> list[str]:
        """What the client sent: each simple Query, each Parse (statement text), each Sync."""
        out: list[str] = []
        for line in lines:
            found = re.match(r'^F\s+\d+\s+(Query|Parse|Sync)\b(?:\s+(?:"" )?"?)?(.{0,80})', line)
            if found:
                out.append(f"{found.group(1)} {found.group(2)}".rstrip())
        return out

    def close(self) -> None:
        self.file.close()
        os.unlink(self.file.name)


def seed(engine: Engine, count: int) -> list[int]:
    with UnitOfWork(engine) as uow:
        program = uow.programs.get_or_create("bench", "Bench")
        ids = [uow.cards.add(Card(program_id=program.id, number=f"{8_000_000 + i}")).id for i in range(count)]
        book = uow.ledger
        for card_id in ids:
            book.accrue(card_id, SEED, key=f"seed-{card_id}", origin=Origin.MIGRATION)
        uow.commit()
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return ids


def make_op(ledger: LedgerService, card_ids: list[int], accrue_share: float) -> Callable[[], str]:
    rng = random.Random(7)

    def op() -> str:
        card_id = rng.choice(card_ids)
        key = f"prof-{os.getpid()}-{next(_SERIAL)}"
        if rng.random() < accrue_share:
            ledger.accrue(
                card_id, Decimal(rng.randint(100, 10_000)).scaleb(-2), key=key, origin=Origin.WEBSITE
            )
            return "accrue"
        try:
            ledger.redeem(
                card_id, Decimal(rng.randint(100, 5_000)).scaleb(-2), key=key, origin=Origin.WEBSITE
            )
        except InsufficientBalance:
            return "refused"
        return "redeem"

    return op


def count_round_trips(engine: Engine, ledger: LedgerService, card_ids: list[int], ops: int) -> None:
    sql = SqlCounter(engine)
    wire = WireTrace(engine)
    engine.dispose()  # new connections get traced
    try:
        for share, label in ((1.0, "accrual"), (0.0, "redemption")):
            op = make_op(ledger, card_ids, share)
            op()  # warm up: connect, first-use caches
            sql.reset()
            start = wire.mark()
            for _ in range(ops):
                op()
            lines = wire.since(start)
            if os.environ.get("BENCH_DUMP_TRACE"):
                Path(os.environ["BENCH_DUMP_TRACE"] + f".{label}").write_text("\n".join(lines[:400]))
            progress(f"\n== per {label} (average over {ops}) ==")
            progress(f"  libpq round trips (ReadyForQuery): {wire.round_trips(lines) / ops:.2f}")
            for name, n in sorted(sql.counts.items()):
                progress(f"  {name:<60} {n / ops:.2f}")
            sql.reset()
            start = wire.mark()
            op()
            progress("  -- one operation on the wire (client requests in order):")
            for request in wire.requests(wire.since(start)):
                progress(f"     {request}")
    finally:
        sql.remove()
        wire.close()
        event.remove(engine, "connect", wire._on_connect)
        engine.dispose()


def backend_cpu_s(pid: int) -> float:
    """utime + stime of a local process, in seconds (PostgreSQL backend: must run on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def single_client(ledger: LedgerService, card_ids: list[int], seconds: float, profile: bool) -> None:
    op = make_op(ledger, card_ids, 0.6)
    with ledger.engine.connect() as conn:
        backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    op()
    outcomes: Counter[str] = Counter()
    # CPU time, not wall time: what the client process itself burns (waiting for the server is free)
    profiler = cProfile.Profile(time.process_time) if profile else None
    times0, server0, wall0 = os.times(), backend_cpu_s(backend), time.perf_counter()
    if profiler:
        profiler.enable()
    deadline = wall0 + seconds
    while time.perf_counter() < deadline:
        outcomes[op()] += 1
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - wall0
    times, server = os.times(), backend_cpu_s(backend) - server0
    user, system = times.user - times0.user, times.system - times0.system
    n = sum(outcomes.values())
    title = "under cProfile (CPU timer)" if profiler else "no profiler"
    progress(f"\n== one client, {seconds:g} s, {title} ==")
    progress(f"  {n} ops ({dict(outcomes)}) = {n / wall:.1f} ops/s, {wall / n * 1000:.2f} ms per op")
    progress(
        f"  client CPU {(user + system) / n * 1000:.2f} ms/op (user {user / n * 1000:.2f}, "
        f"kernel {system / n * 1000:.2f}); PostgreSQL backend CPU {server / n * 1000:.2f} ms/op"
    )
    rest = wall - user - system - server
    progress(f"  rest (waiting: network, WAL flush at commit, scheduling) {rest / n * 1000:.2f} ms/op")
    if profiler:
        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.strip_dirs().sort_stats(key).print_stats(30)
            progress(f"\n-- top 30 by {key} --")
            progress("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:12_000])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--ops", type=int, default=200, help="operations per type for the round-trip count")
    parser.add_argument("--seconds", type=float, default=5.0, help="single-client run length")
    parser.add_argument("--cards", type=int, default=100)
    parser.add_argument("--no-cprofile", action="store_true", help="skip the cProfile run")
    args = parser.parse_args()
    server = make_url(args.url)
    name = f"bonusbridge_profile_{os.getpid()}"
    admin = admin_engine(server)
    engine: Engine | None = None
    try:
        create_database(admin, name)
        engine = create_db_engine(
            server.set(database=name).render_as_string(hide_password=False), pool_size=1
        )
        upgrade(engine)
        card_ids = seed(engine, args.cards)
        ledger = LedgerService(engine)
        count_round_trips(engine, ledger, card_ids, args.ops)
        single_client(ledger, card_ids, args.seconds, profile=False)
        if not args.no_cprofile:
            single_client(ledger, card_ids, args.seconds, profile=True)
    finally:
        if engine is not None:
            engine.dispose()
        drop_database(admin, name)
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
