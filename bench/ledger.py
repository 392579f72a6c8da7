"""Ledger throughput on PostgreSQL, next to pgbench's tpcb-like run on the same server.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/ledger.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                     [--clients 8] [--seconds 20] [--cards 1000]

Two scratch databases are created on the server (``bonusbridge_bench_<pid>`` and
``bonusbridge_pgbench_<pid>``) and dropped at the end, even on failure. The ledger phase runs
``--clients`` separate processes, each with its own engine, doing a mix of accruals and
redemptions through ``LedgerService`` on random seeded cards for ``--seconds``; then pgbench's
built-in tpcb-like script runs with the same client count and duration. Progress goes to stderr;
the last line on stdout is one JSON object::

    {"bench":"ledger","clients":8,"ops_per_s":...,"pgbench_tps":...,"ratio":...,...}

A refused redemption (``InsufficientBalance``) is a completed operation, counted separately as
``redeem_refused``. Any other exception is counted in ``errors`` and not as an operation.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any, TypedDict

from sqlalchemy import URL, Engine, create_engine, text
from sqlalchemy.engine import make_url

from bonusbridge.db import create_db_engine
from bonusbridge.errors import InsufficientBalance
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, Origin
from bonusbridge.schema import upgrade
from bonusbridge.unit_of_work import UnitOfWork

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PROGRAM_CODE = "bench"
#: Every card starts with this many points, so that redemptions mostly succeed.
SEED_BALANCE = Decimal("1000.00")
#: Accruals credit 1.00 to 100.00 points, redemptions spend 1.00 to 50.00 (in cents).
ACCRUE_CENTS = (100, 10_000)
REDEEM_CENTS = (100, 5_000)
BARRIER_TIMEOUT_S = 120.0
#: Above this share of the machine's CPU used by other processes during a run, warn.
FOREIGN_WARN = 0.05
TPS_RE = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
TXNS_RE = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)


def progress(message: str) -> None:
    print(f"[bench/ledger] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- CPU accounting


#: PostgreSQL's own background processes: they serve every database, ours included.
PG_AUXILIARY = re.compile(
    r"^postgres: .*(checkpointer|background writer|walwriter|autovacuum launcher|"
    r"logical replication launcher|stats collector|archiver)\s*$"
)


@dataclass(frozen=True)
class CpuSnapshot:
    """Busy and total CPU seconds of the machine (/proc/stat) and each process's CPU (/proc/<pid>)."""

    busy: float
    total: float
    processes: dict[int, tuple[int, float, str]]  # pid -> (parent pid, CPU seconds, command line)

    @classmethod
    def take(cls) -> CpuSnapshot | None:
        ticks = os.sysconf("SC_CLK_TCK")
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                fields = [int(x) for x in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None  # not Linux: the CPU figures are left out
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        total = sum(fields[:8])  # guest time is already counted in user
        processes: dict[int, tuple[int, float, str]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as handle:
                    stat = handle.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry.name}/cmdline", "rb") as raw:
                    command = raw.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except (OSError, IndexError):
                continue  # gone meanwhile
            processes[int(entry.name)] = (int(stat[1]), (int(stat[11]) + int(stat[12])) / ticks, command)
        return cls((total - idle) / ticks, total / ticks, processes)


@dataclass(frozen=True)
class CpuUsage:
    """CPU use of the whole machine during one measured phase."""

    busy_s: float  # busy CPU seconds, all processes
    capacity_s: float  # CPU seconds the machine had (wall time x cores)
    foreign_s: float  # CPU seconds of processes that are not this benchmark nor its server work

    @property
    def busy_share(self) -> float:
        return self.busy_s / self.capacity_s

    @property
    def foreign_share(self) -> float:
        return self.foreign_s / self.capacity_s

    @classmethod
    def between(
        cls, before: CpuSnapshot | None, after: CpuSnapshot | None, databases: tuple[str, ...]
    ) -> CpuUsage | None:
        """Foreign: any process outside this script's tree, except PostgreSQL's background processes
        and its backends on our databases. Processes born and dead within the phase go unseen
        (so foreign time is a lower bound)."""
        if before is None or after is None or after.total <= before.total:
            return None
        me = os.getpid()

        def ours(pid: int) -> bool:
            command = after.processes[pid][2]
            if not command:
                return True  # a kernel thread (I/O, memory management): not another program
            if command.startswith("postgres"):
                return PG_AUXILIARY.match(command) is not None or any(db in command for db in databases)
            if "bin/postgres" in command:
                return True  # the postmaster, forking backends for our connections
            for _ in range(64):  # walk up to this script, or give up at the root
                if pid == me:
                    return True
                if pid <= 1 or pid not in after.processes:
                    return False
                pid = after.processes[pid][0]
            return False

        foreign = 0.0
        for pid, (_, cpu, command) in after.processes.items():
            if not ours(pid):
                old = before.processes.get(pid)
                used = cpu - old[1] if old and old[2] == command else cpu
                foreign += used
                if used > 0.5 and os.environ.get("BENCH_DEBUG"):
                    print(f"[bench/ledger] foreign {used:.1f}s {command[:100]}", file=sys.stderr)
        return cls(after.busy - before.busy, after.total - before.total, max(foreign, 0.0))


# ---------------------------------------------------------------------------------- databases


def admin_engine(url: URL) -> Engine:
    """An AUTOCOMMIT engine on the server's maintenance database, for CREATE/DROP DATABASE."""
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)


def create_database(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))


def drop_database(admin: Engine, name: str) -> None:
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception as exc:  # keep dropping the others; the error is reported, not hidden
        progress(f"could not drop database {name}: {exc}")


def checkpoint(admin: Engine) -> None:
    """Flush dirty pages before a measured phase, so neither run pays for the other's writes."""
    try:
        with admin.connect() as conn:
            conn.execute(text("CHECKPOINT"))
    except Exception as exc:  # needs superuser or pg_checkpoint; the bench still runs without it
        progress(f"CHECKPOINT skipped: {exc}")


# ---------------------------------------------------------------------------------- ledger phase


def seed_cards(url: str, count: int) -> list[int]:
    """Create the schema, ``count`` cards and a first accrual of SEED_BALANCE on each."""
    engine = create_db_engine(url, pool_size=1)
    try:
        upgrade(engine)
        with UnitOfWork(engine) as uow:
            program = uow.programs.get_or_create(PROGRAM_CODE, "Bench")
            card_ids = [
                uow.cards.add(Card(program_id=program.id, number=f"{9_000_000 + i}")).id for i in range(count)
            ]
            book = uow.ledger
            for card_id in card_ids:
                book.accrue(card_id, SEED_BALANCE, key=f"seed-{card_id}", origin=Origin.MIGRATION)
            uow.commit()
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        return card_ids
    finally:
        engine.dispose()


class WorkerResult(TypedDict):
    index: int
    error: str | None
    started: float
    finished: float
    cpu_s: float
    accruals: int
    redemptions: int
    redeem_refused: int
    errors: int
    retries: int
    latencies_ms: list[float]


class _RetryCounter(logging.Handler):
    """Counts LedgerService's "transaction retried" log records (deadlocks, serialization failures)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retried" in record.getMessage():
            self.count += 1


def amount(rng: random.Random, cents: tuple[int, int]) -> Decimal:
    return Decimal(rng.randint(*cents)).scaleb(-2)


def client(
    index: int,
    url: str,
    card_ids: list[int],
    seconds: float,
    accrue_share: float,
    barrier: Barrier,
    results: Queue[WorkerResult],
) -> None:
    """One benchmark client, in its own process with its own engine and connection."""
    result = WorkerResult(
        index=index,
        error=None,
        started=0.0,
        finished=0.0,
        cpu_s=0.0,
        accruals=0,
        redemptions=0,
        redeem_refused=0,
        errors=0,
        retries=0,
        latencies_ms=[],
    )
    retries = _RetryCounter()
    service_log = logging.getLogger("bonusbridge.ledger.service")
    service_log.addHandler(retries)
    service_log.setLevel(logging.INFO)
    service_log.propagate = False
    engine: Engine | None = None
    try:
        engine = create_db_engine(url, pool_size=1)
        ledger = LedgerService(engine)
        with engine.connect() as conn:  # connect before the clock starts, like pgbench
            conn.execute(text("SELECT 1"))
        rng = random.Random(1_000 + index)
        prefix = f"bench-{os.getpid()}-{index}-"
        latencies = result["latencies_ms"]
        serial = 0
        barrier.wait(BARRIER_TIMEOUT_S)
        started = time.monotonic()
        times = os.times()
        deadline = started + seconds
        now = started
        while now < deadline:
            serial += 1
            card_id = rng.choice(card_ids)
            try:
                if rng.random() < accrue_share:
                    ledger.accrue(
                        card_id, amount(rng, ACCRUE_CENTS), key=f"{prefix}{serial}", origin=Origin.WEBSITE
                    )
                    result["accruals"] += 1
                else:
                    try:
                        ledger.redeem(
                            card_id, amount(rng, REDEEM_CENTS), key=f"{prefix}{serial}", origin=Origin.WEBSITE
                        )
                        result["redemptions"] += 1
                    except InsufficientBalance:
                        result["redeem_refused"] += 1
            except Exception as exc:
                result["errors"] += 1
                if result["errors"] <= 3:
                    progress(f"client {index}: {type(exc).__name__}: {exc}")
            finished = time.monotonic()
            latencies.append((finished - now) * 1000)
            now = finished
        result["started"] = started
        result["finished"] = now
        spent = os.times()
        result["cpu_s"] = spent.user - times.user + spent.system - times.system
    except BaseException:
        result["error"] = traceback.format_exc()
        barrier.abort()  # a client that cannot start must not leave the others waiting
    finally:
        result["retries"] = retries.count
        if engine is not None:
            engine.dispose()
        results.put(result)


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def run_ledger(
    url: str, card_ids: list[int], clients: int, seconds: float, accrue_share: float
) -> dict[str, Any]:
    database = str(make_url(url).database)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(clients + 1)
    results: Queue[WorkerResult] = ctx.Queue()
    processes = [
        ctx.Process(
            target=client,
            args=(i, url, card_ids, seconds, accrue_share, barrier, results),
            name=f"ledger-client-{i}",
        )
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    collected: list[WorkerResult] = []
    cpu_before: CpuSnapshot | None = None
    usage: CpuUsage | None = None
    try:
        try:
            barrier.wait(BARRIER_TIMEOUT_S)
            cpu_before = CpuSnapshot.take()
        except Exception:
            progress("a client failed to start")
        progress(f"ledger: {clients} clients running for {seconds:g} s")
        for _ in processes:
            collected.append(results.get(timeout=seconds + BARRIER_TIMEOUT_S))
        usage = CpuUsage.between(cpu_before, CpuSnapshot.take(), (database,))
        for process in processes:
            process.join(timeout=30)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    failed = [r for r in collected if r["error"]]
    if failed:
        raise RuntimeError(f"{len(failed)} ledger client(s) failed; first:\n{failed[0]['error']}")
    wall = max(r["finished"] for r in collected) - min(r["started"] for r in collected)
    accruals = sum(r["accruals"] for r in collected)
    redemptions = sum(r["redemptions"] for r in collected)
    refused = sum(r["redeem_refused"] for r in collected)
    total = accruals + redemptions + refused
    latencies = sorted(x for r in collected for x in r["latencies_ms"])
    client_cpu = sum(r["cpu_s"] for r in collected)
    return {
        "ops": total,
        "ops_per_s": total / wall,
        "wall_s": wall,
        "accruals": accruals,
        "redemptions": redemptions,
        "redeem_refused": refused,
        "errors": sum(r["errors"] for r in collected),
        "retries": sum(r["retries"] for r in collected),
        "per_client_ops": [r["accruals"] + r["redemptions"] + r["redeem_refused"] for r in collected],
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "client_cpu_ms_per_op": client_cpu / max(total, 1) * 1000,
        "machine_cpu_ms_per_op": None if usage is None else usage.busy_s / max(total, 1) * 1000,
        "machine_busy": None if usage is None else usage.busy_share,
        "foreign_busy": None if usage is None else usage.foreign_share,
    }


# ---------------------------------------------------------------------------------- pgbench phase


def pgbench_command(url: URL, *args: str) -> tuple[list[str], dict[str, str]]:
    command = ["pgbench"]
    if url.host:
        command += ["-h", url.host]
    if url.port:
        command += ["-p", str(url.port)]
    if url.username:
        command += ["-U", url.username]
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    command += [*args, str(url.database)]
    return command, env


def run_pgbench(
    url: URL, admin: Engine, clients: int, jobs: int, seconds: int, scale: int
) -> tuple[float, float | None, CpuUsage | None]:
    """Returns tps, busy machine CPU per transaction (ms) and the phase's CPU use."""
    if shutil.which("pgbench") is None:
        raise RuntimeError("pgbench not found on PATH (it ships with the PostgreSQL server packages)")
    command, env = pgbench_command(url, "-i", "-q", "-s", str(scale))
    progress(f"pgbench: initializing scale {scale}")
    subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    checkpoint(admin)
    command, env = pgbench_command(url, "-n", "-c", str(clients), "-j", str(jobs), "-T", str(seconds))
    progress(f"pgbench: {' '.join(command)}")
    cpu_before = CpuSnapshot.take()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    usage = CpuUsage.between(cpu_before, CpuSnapshot.take(), (str(url.database),))
    found, txns = TPS_RE.search(done.stdout), TXNS_RE.search(done.stdout)
    if found is None:
        raise RuntimeError(f"no tps line in pgbench's output:\n{done.stdout}\n{done.stderr}")
    if usage is None or txns is None:
        return float(found.group(1)), None, None
    return float(found.group(1)), usage.busy_s / max(int(txns.group(1)), 1) * 1000, usage


# ---------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="any database on the server (default: %(default)s)"
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients, for both runs")
    parser.add_argument("--seconds", type=int, default=20, help="duration of each run")
    parser.add_argument("--cards", type=int, default=1000, help="cards seeded for the ledger run")
    parser.add_argument(
        "--accrue-share", type=float, default=0.6, help="share of accruals, the rest are redemptions"
    )
    parser.add_argument("--jobs", type=int, default=2, help="pgbench worker threads (-j)")
    parser.add_argument("--scale", type=int, default=None, help="pgbench scale factor (default: --clients)")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds < 1 or args.cards < 1:
        parser.error("--clients, --seconds and --cards must be positive")
    if not 0.0 <= args.accrue_share <= 1.0:
        parser.error("--accrue-share must be between 0 and 1")
    return args


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _fmt(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.2f} {unit}"


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f} %"


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that drop the databases


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    server = make_url(args.url)
    if server.get_backend_name() != "postgresql":
        raise SystemExit("bench/ledger.py needs a PostgreSQL --url")
    load = os.getloadavg()[0]
    pid = os.getpid()
    ledger_db = f"bonusbridge_bench_{pid}"
    pgbench_db = f"bonusbridge_pgbench_{pid}"
    scale = args.scale or max(args.clients, 1)
    jobs = max(1, min(args.jobs, args.clients))
    admin = admin_engine(server)
    created: list[str] = []
    try:
        for name in (ledger_db, pgbench_db):
            create_database(admin, name)
            created.append(name)
        ledger_url = server.set(database=ledger_db).render_as_string(hide_password=False)
        progress(f"ledger: seeding {args.cards} cards with {SEED_BALANCE} points each in {ledger_db}")
        card_ids = seed_cards(ledger_url, args.cards)
        checkpoint(admin)
        ledger = run_ledger(ledger_url, card_ids, args.clients, args.seconds, args.accrue_share)
        progress(
            f"ledger: {ledger['ops']} ops in {ledger['wall_s']:.2f} s = {ledger['ops_per_s']:.1f} ops/s "
            f"(accruals {ledger['accruals']}, redemptions {ledger['redemptions']}, "
            f"refused {ledger['redeem_refused']}, errors {ledger['errors']}, retries {ledger['retries']}, "
            f"p50 {ledger['p50_ms']:.2f} ms, p99 {ledger['p99_ms']:.2f} ms)"
        )
        progress(
            f"ledger: client CPU {ledger['client_cpu_ms_per_op']:.2f} ms per op, "
            f"machine CPU {_fmt(ledger['machine_cpu_ms_per_op'], 'ms per op')}, "
            f"machine busy {_pct(ledger['machine_busy'])}, other processes {_pct(ledger['foreign_busy'])}"
        )
        tps, pgbench_cpu_ms, pgbench_usage = run_pgbench(
            server.set(database=pgbench_db), admin, args.clients, jobs, args.seconds, scale
        )
        pgbench_busy = None if pgbench_usage is None else pgbench_usage.busy_share
        pgbench_foreign = None if pgbench_usage is None else pgbench_usage.foreign_share
        progress(
            f"pgbench: tps = {tps:.1f}, machine CPU {_fmt(pgbench_cpu_ms, 'ms per transaction')}, "
            f"machine busy {_pct(pgbench_busy)}, other processes {_pct(pgbench_foreign)}"
        )
        if max(ledger["foreign_busy"] or 0.0, pgbench_foreign or 0.0) > FOREIGN_WARN:
            progress("warning: other processes used this machine's CPU during a run: the ratio is skewed")
    finally:
        for name in created:
            drop_database(admin, name)
        admin.dispose()
    report = {
        "bench": "ledger",
        "clients": args.clients,
        "ops_per_s": round(ledger["ops_per_s"], 1),
        "pgbench_tps": round(tps, 1),
        "ratio": round(ledger["ops_per_s"] / tps, 3),
        "seconds": round(ledger["wall_s"], 2),
        "ops": ledger["ops"],
        "accruals": ledger["accruals"],
        "redemptions": ledger["redemptions"],
        "redeem_refused": ledger["redeem_refused"],
        "errors": ledger["errors"],
        "retries": ledger["retries"],
        "p50_ms": round(ledger["p50_ms"], 2),
        "p99_ms": round(ledger["p99_ms"], 2),
        "client_cpu_ms_per_op": round(ledger["client_cpu_ms_per_op"], 3),
        "machine_cpu_ms_per_op": _round(ledger["machine_cpu_ms_per_op"], 3),
        "machine_busy": _round(ledger["machine_busy"], 3),
        "foreign_busy": _round(ledger["foreign_busy"], 3),
        "pgbench_machine_cpu_ms_per_tx": _round(pgbench_cpu_ms, 3),
        "pgbench_machine_busy": _round(pgbench_busy, 3),
        "pgbench_foreign_busy": _round(pgbench_foreign, 3),
        "loadavg_before": round(load, 2),
        "cards": args.cards,
        "accrue_share": args.accrue_share,
        "pgbench_scale": scale,
        "pgbench_jobs": jobs,
    }
    print(json.dumps(report, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
