"""Legacy import throughput on PostgreSQL: plan + apply of a generated estate, end to end.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/migrate.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/bb_bench_migrate]
                                      [--cards 1000000] [--programs 20] [--jobs 2]

The database named by the URL must contain "bench" in its name: its ``public`` schema is dropped
and rebuilt through the migrations first. The estate is generated before the clock starts
(``reconciliation.legacy.synth``: 20 programs in three export shapes, 30 % of the cards sharing a
phone, 5 % with an invalid phone, some numbers reused across programs). Timed: ``make_plan`` (read,
normalize, de-duplicate, write the plan and its reports; it reads the hub for existing cards)
then ``apply_plan`` (batches of 20 000 cards, ``--jobs`` at once). After the clock stops,
``check_ledger`` must find no drift and the counts must match the plan. Progress goes to stderr;
the last line on stdout is one JSON object::

    {"bench":"migrate","cards":1000000,"cards_per_s":...,"peak_rss_mb":...,...}

``peak_rss_mb`` is this process's peak resident set size (generation, plan and apply all run in it)
plus the peak of the plan's reader processes, counted once per reader (an upper bound).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bonusbridge.db import create_db_engine
from bonusbridge.ledger.audit import check_ledger
from bonusbridge.schema import upgrade
from reconciliation.legacy.applier import apply_plan, can_load_fast
from reconciliation.legacy.planner import make_plan
from reconciliation.legacy.synth import generate

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bb_bench_migrate"


def log(message: str) -> None:
    print(f"[bench migrate] {message}", file=sys.stderr, flush=True)


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except OSError:
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def own_cpu_s() -> float:
    """CPU seconds of this process and its finished children (not the PostgreSQL server)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--programs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2, help="batches applied at once")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and plan")
    args = parser.parse_args(argv)

    url = make_url(args.url)
    if url.get_backend_name() != "postgresql" or "bench" not in (url.database or ""):
        parser.error("--url must name a PostgreSQL database whose name contains 'bench' (it is wiped)")
    engine = create_db_engine(args.url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    folder = Path(tempfile.mkdtemp(prefix="bb_bench_migrate_"))
    try:
        log(f"generating {args.cards} cards in {args.programs} programs under {folder}")
        estate = generate(folder / "in", programs=args.programs, cards=args.cards)
        log(f"fast load (triggers off, outbox rows set-based): {can_load_fast(engine)}")
        busy0, total0 = cpu_jiffies()
        cpu0 = own_cpu_s()
        started = time.perf_counter()
        plan = make_plan(estate.files, folder / "plan", mappings=estate.mappings, engine=engine)
        planned = time.perf_counter()
        log(f"plan: {plan.header['cards']} cards in {planned - started:.1f} s; {plan.header['duplicates']}")
        done = 0

        def progress(cards: int) -> None:
            nonlocal done
            done += cards
            if done % 200_000 < cards:
                log(f"applied {done} cards, {time.perf_counter() - planned:.1f} s")

        result = apply_plan(engine, folder / "plan", progress=progress, jobs=args.jobs)
        finished = time.perf_counter()
        busy1, total1 = cpu_jiffies()
        client_cpu = own_cpu_s() - cpu0
        # The plan's reader processes (forked) peak at the same time as this one: add them up.
        peak_mb = (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * min(2, os.cpu_count() or 1)
        ) / 1024
        log(f"apply: {result.created} cards in {finished - planned:.1f} s")
        with engine.connect() as conn:
            findings = check_ledger(conn)
            counts = {
                name: conn.execute(text(sql)).scalar_one()
                for name, sql in {
                    "cards": "SELECT count(*) FROM cards",
                    "movements": "SELECT count(*) FROM movements WHERE origin = 'migration'",
                    "outbox": "SELECT count(*) FROM sync_outbox",
                }.items()
            }
        with_balance = sum(s["with_balance"] for s in plan.header["stats"])
        ok = (
            not findings
            and counts["cards"] == plan.header["cards"] == result.created
            and counts["movements"] == with_balance
            and counts["outbox"] == counts["cards"] + counts["movements"]
        )
        log(f"ledger check: {len(findings)} findings; counts {counts}; consistent: {ok}")
        elapsed = finished - started
        line = {
            "bench": "migrate",
            "cards": args.cards,
            "cards_per_s": round(args.cards / elapsed),
            "peak_rss_mb": round(peak_mb),
            "plan_s": round(planned - started, 1),
            "apply_s": round(finished - planned, 1),
            "jobs": args.jobs,
            "machine_busy": round((busy1 - busy0) / max(1, total1 - total0), 2),
            "client_cpu_s": round(client_cpu, 1),
            "cpus": os.cpu_count(),
            "consistent": ok,
        }
        print(json.dumps(line, separators=(",", ":")))
        return 0 if ok else 1
    finally:
        engine.dispose()
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
