"""Sync benchmark: till receipts created in the emulated 1C → visible through the hub's balance
read; website profile edits → visible in the emulated 1C.

It runs the deployed shape on this machine: PostgreSQL and RabbitMQ; the emulated 1C as a server
process of its own (``bonusbridge emulator``, tills posting receipts through its HTTP service, its
changes published to RabbitMQ as 1C's exchange module does); and the hub's processes —
``bonusbridge sync listen`` (the AMQP change feed), ``bonusbridge sync relay``, one
``bonusbridge sync worker --queues outbound --concurrency 8`` (deliveries to 1C) and N ×
``bonusbridge sync worker --queues inbound --nice 10`` (Celery; N is the worker count the results
name; ``--inbound-nice``): the apply workers yield the CPU to the relay and the delivery worker, so
when the tills send more than the machine can apply the receipts wait and the website's edits keep
flowing (each direction has its own queue and worker already; the CPU is the share they compete for).
This process only posts (16 tills), edits and watches. For each worker count (default 1, then 2),
on a fresh database and fresh queues:

0. apply capacity: ``--backlog`` receipts posted and stored in the inbox by a listener that only
   stores (``sync_listener_applies_at_most=0``), before any inbound worker runs; then that listener
   gives way to the deployed one and the N workers start → the rows applied per second
   from the first batch's end to the last one's. Only the workers and PostgreSQL work then (the
   emulated 1C, the tills and the listener are idle): what adding a worker process adds, which the
   end-to-end figures below cannot show on a 2-core machine where the emulated 1C and its tills
   take half the CPU;
1. capacity: ``--burst`` receipts posted as fast as the emulator takes them → the receipts applied
   per second until the last is visible (what the hub can do, the listener applying what it may
   and the workers the rest; not what the tills send);
2. sustained: ``--rate`` receipts per second for ``--seconds``, with ``--edit-rate`` profile edits
   per second through the hub's service layer → each change's latency until visible on the other
   side (a receipt: the hub's ``LedgerService.balance`` shows it; an edit: 1C's OData answers it).

Before all of that, with nothing else running, a same-run reference: pgbench's built-in
``simple-update`` script at the same client count as the inbound workers (``-c N -j N``, scale N,
``--pgbench-seconds``) on a scratch database of the same server — what this PostgreSQL on this
machine does with one small write transaction per client, so ``apply_capacity_vs_pgbench`` (apply
capacity / pgbench TPS) can be compared across machines where the raw figures cannot. pgbench must
be on PATH (Debian/Ubuntu: ``apt-get install postgresql-client`` — with PostgreSQL 15 and older it
ships in the server package ``postgresql-15``, or ``postgresql-contrib``); ``--no-pgbench`` skips it.

Then: lost (a receipt with no accrual in the hub, an edit never in 1C), duplicated (a receipt with
more than one accrual), and ``reconciliation.compare_hub_with_onec`` over every card (balance,
status, owner) and customer. One JSON line per worker count; the last one also gives the
capacity ratio against the one-worker run measured minutes before in the same invocation (timings
on this shared 2-core machine are noisy; the ratio is what to read).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine, and_, create_engine, func, select, text
from sqlalchemy.engine import make_url

from bonusbridge.db import create_db_engine
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, Customer, Movement, MovementKind, Origin, SyncState, utcnow
from bonusbridge.schema import upgrade
from bonusbridge.services.profiles import update_profile
from bonusbridge.settings import Settings, load_settings
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.changefeed import AmqpChangeConsumer
from connectors.onec.emulator.fixtures import demo_path
from connectors.onec.emulator.schema import load_config
from connectors.onec.odata import ODataClient
from connectors.sync.context import SyncContext
from connectors.sync.pull import pull_full
from connectors.sync.slots import INBOX, OUTBOX
from reconciliation.compare import compare_hub_with_onec

PARTNERS = "Catalog_Партнеры"
CARDS = "Catalog_ИнформационныеКарты"
CARD_KIND = "20000000-0000-4000-8000-000000000001"  # the demo base's bonus card kind
ADMIN = ("Администратор", "")


def progress(message: str) -> None:
    print(f"[bench/sync] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- the 1C side


def seed_fixtures(path: Path, count: int) -> list[tuple[str, str]]:
    """The demo base plus ``count`` partners, each with one bonus card, as a fixtures file for the
    emulator process; (partner ref, card ref) pairs."""
    data = yaml.safe_load(demo_path(load_config("retail")).read_text(encoding="utf-8"))
    pairs = []
    for i in range(count):
        partner = f"b0000000-0000-4000-8000-{i:012d}"
        card = f"c0000000-0000-4000-8000-{i:012d}"
        data[PARTNERS].append(
            {
                "Ref_Key": partner,
                "Description": f"Покупатель {i}",
                "КонтактнаяИнформация": [
                    {"LineNumber": 1, "Тип": "Телефон", "Представление": f"+7 916 {i:07d}"}
                ],
            }
        )
        data[CARDS].append(
            {
                "Ref_Key": card,
                "Description": f"29{i:011d}",
                "Штрихкод": f"29{i:011d}",
                "ВладелецКарты": partner,
                "ВладелецКарты_Type": f"StandardODATA.{PARTNERS}",
                "ВидКарты_Key": CARD_KIND,
            }
        )
        pairs.append((partner, card))
    path.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
    return pairs


@contextlib.contextmanager
def emulator_process(fixtures: Path, amqp: str, exchange: str, logs: Path) -> Iterator[str]:
    """``bonusbridge emulator`` in a process of its own (as 1C is a server of its own), publishing
    its changes to ``exchange`` from its background publisher; yields its publication root URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        bonusbridge_exe(), "emulator", "--port", str(port), "--fixtures", str(fixtures),
        "--amqp-url", amqp, "--amqp-exchange", exchange,
    ]  # fmt: skip
    out = (logs / "emulator.log").open("wb")
    proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    root = f"http://127.0.0.1:{port}/dobrostroy"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{root}/odata/standard.odata/", auth=ADMIN, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the emulator did not start: see {logs / 'emulator.log'}")
            time.sleep(0.1)
        yield root
    finally:
        stop_process(proc)


# ---------------------------------------------------------------------------------- the hub side


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    cards: dict[str, int]  # card ref → hub card id
    customers: dict[str, int]  # partner ref → hub customer id


def processes_env(settings: Settings) -> dict[str, str]:
    values = {
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": settings.broker_url,
        "CELERY_QUEUE": settings.celery_queue,
        "ONEC_BASE_URL": settings.onec_base_url,
        "ONEC_CONFIG": settings.onec_config,
        "ONEC_TIMEZONE": settings.onec_timezone,
        "ONEC_CHANGE_FEED": settings.onec_change_feed,
        "ONEC_AMQP_URL": settings.onec_amqp_url,
        "ONEC_AMQP_EXCHANGE": settings.onec_amqp_exchange,
        "ONEC_AMQP_QUEUE": settings.onec_amqp_queue,
        "SYNC_DISPATCH": "celery",
    }
    return {**os.environ, **{f"BONUSBRIDGE_{k}": v for k, v in values.items()}}


def bonusbridge_exe() -> str:
    return shutil.which("bonusbridge", path=str(Path(sys.executable).parent)) or "bonusbridge"


@contextlib.contextmanager
def hub_processes(settings: Settings, logs: Path, outbound_concurrency: int) -> Iterator[HubProcesses]:
    """``sync relay`` and one ``sync worker --queues outbound`` (deliveries to 1C wait on 1C more
    than they compute: ``outbound_concurrency`` at once) at once; the listener and the inbound
    workers when the run asks (``HubProcesses``). All stopped (SIGTERM) after."""
    processes = HubProcesses(bonusbridge_exe(), processes_env(settings), logs)
    try:
        processes.start("sync", "relay")
        processes.start("sync", "worker", "--queues", "outbound", "--concurrency", str(outbound_concurrency))
        yield processes
    finally:
        for proc in processes.procs:
            stop_process(proc)


@dataclass
class HubProcesses:
    exe: str
    env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *command: str, **settings: str) -> subprocess.Popen[bytes]:
        """``bonusbridge <command>`` with these ``BONUSBRIDGE_*`` settings besides the run's."""
        env = {**self.env, **{f"BONUSBRIDGE_{k.upper()}": v for k, v in settings.items()}}
        out = (self.logs / f"{len(self.procs)}-{'-'.join(command[1:])}.log").open("wb")
        proc = subprocess.Popen([self.exe, *command], env=env, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def listener(self, *, applies: bool = True) -> subprocess.Popen[bytes]:
        """``sync listen``; ``applies=False``: it only stores (a backlog left to the workers)."""
        return self.start("sync", "listen", **({} if applies else {"sync_listener_applies_at_most": "0"}))

    def inbound_workers(self, count: int, nice: int = 0) -> None:
        """The apply workers; ``nice`` lowers their CPU priority (the outbound path's share)."""
        for _ in range(count):
            self.start("sync", "worker", "--queues", "inbound", "--nice", str(nice))


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stored(engine: Engine) -> int:
    """Inbox rows stored (applied or not)."""
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(INBOX)) or 0)


def apply_rate(engine: Engine, since: datetime) -> float:
    """Inbox rows the workers applied per second, from the first batch's end to the last one's
    (their start-up is not in it; rows the listener applied before ``since`` are not either)."""
    applied = and_(INBOX.c.state == SyncState.DONE.value, INBOX.c.finished_at >= since)
    with engine.connect() as conn:
        first, last = conn.execute(
            select(func.min(INBOX.c.finished_at), func.max(INBOX.c.finished_at)).where(applied)
        ).one()
        if first is None or last is None or last <= first:
            return 0.0
        after_first = conn.scalar(select(func.count()).where(applied, INBOX.c.finished_at > first))
    span: float = (last - first).total_seconds()
    return float(after_first or 0) / span


# ---------------------------------------------------------------------------------- measuring


@dataclass
class Receipts:
    """Receipts posted in 1C and not yet seen in the hub, per card, with their expected totals."""

    engine: Engine
    expected: dict[int, Decimal]
    waiting: dict[int, deque[tuple[Decimal, float]]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    watermark: int = 0  # the highest movement id seen by the prober
    next_full_sweep: float = 0.0
    answered: dict[str, float] = field(default_factory=dict)  # ref → wall clock of 1C's answer
    post_seconds: list[float] = field(default_factory=list)  # how long each till's POST took

    def posted(self, card_id: int, points: Decimal, started: float, ref: str) -> None:
        answered, took = time.time(), time.monotonic() - started
        with self.lock:
            self.answered[ref] = answered
            self.post_seconds.append(took)
            self.expected[card_id] += points
            self.waiting.setdefault(card_id, deque()).append((self.expected[card_id], started))
            self.refs.append(ref)

    def outstanding(self) -> int:
        with self.lock:
            return sum(len(q) for q in self.waiting.values())

    def probe(self) -> int:
        """Read, through the hub's many-cards balance read, the cards with receipts in flight that
        have new movements (and, twice a second, those waiting for over 250 ms); the number seen.

        New movements are found by id above the highest seen. Concurrent workers may commit a lower
        id after a higher one; the sweep finds such a receipt, late by at most three quarters of a second
        (its latency is overstated, never understated). The cost follows the changes, not the
        backlog: the driver leaves the CPU to the system it measures.
        """
        started = time.monotonic()
        with self.lock:
            waiting = {card: queue[0][1] for card, queue in self.waiting.items() if queue}
        if not waiting:
            return 0
        with self.engine.connect() as conn:
            query = select(Movement.id, Movement.card_id).where(Movement.id > self.watermark)
            rows = conn.execute(query).all()
            self.watermark = max([self.watermark, *(row.id for row in rows)])
            changed = set(waiting).intersection(row.card_id for row in rows)
            if started >= self.next_full_sweep:
                # Only the cards waiting for a while: a receipt committed under a lower id than one
                # already seen. Sweeping every card in flight cost the driver more as a backlog
                # grew, taking CPU from what it measures just when that was slowest.
                self.next_full_sweep = started + 0.5
                changed.update(card for card, since in waiting.items() if started - since > 0.25)
            views = LedgerBook(conn, now=utcnow()).balances(changed) if changed else {}
        now = time.monotonic()
        seen = 0
        with self.lock:
            for card, view in views.items():
                queue = self.waiting[card]
                while queue and queue[0][0] <= view.total:
                    self.latencies.append(now - queue.popleft()[1])
                    seen += 1
        return seen


@dataclass
class Edits:
    """Profile edits made on the website and not yet answered by 1C's OData."""

    client: ODataClient
    profile: Any
    waiting: dict[str, tuple[str, float]] = field(default_factory=dict)  # partner ref → (email, t0)
    latencies: list[float] = field(default_factory=list)
    made: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def busy(self, partner: str) -> bool:
        with self.lock:
            return partner in self.waiting

    def edited(self, partner: str, email: str, started: float) -> None:
        with self.lock:
            self.waiting[partner] = (email, started)
            self.made += 1

    def outstanding(self) -> int:
        with self.lock:
            return len(self.waiting)

    def probe(self) -> int:
        """Read the partners with edits in flight from 1C, 20 to a request (``$filter`` on their
        Ref_Keys): one GET per edit put the driver's own load on the 1C it measures, and under
        overload that load grew with the very backlog it measured."""
        from connectors.onec.filters import Guid, any_of_batches

        with self.lock:
            items = dict(self.waiting)
        seen = 0
        refs = sorted(items)
        for start in range(0, len(refs), 20):
            for condition in any_of_batches("Ref_Key", [Guid(r) for r in refs[start : start + 20]]):
                for partner in self.client.iter_all(
                    PARTNERS, 20, filter=condition, select=["Ref_Key", "КонтактнаяИнформация"]
                ):
                    ref = str(partner["Ref_Key"])
                    email, started = items[ref]
                    if self.profile.customer_from_onec(partner).get("email") == email:
                        now = time.monotonic()
                        with self.lock:
                            del self.waiting[ref]
                            self.latencies.append(now - started)
                        seen += 1
        return seen


def prober(stop: threading.Event, watched: Receipts | Edits) -> None:
    """Sweep every 10 ms at most: a change's latency is measured to within a sweep (a fiftieth of
    the 500 ms target), and the driver leaves the CPU to the system it measures. Receipts and edits
    have a prober thread each: the edits' probe asks 1C's OData once per edit in flight, and when
    both shared one loop, a receipt already in the hub waited for those reads to be seen."""
    while not stop.is_set():
        started = time.monotonic()
        watched.probe()
        time.sleep(max(0.0, 0.010 - (time.monotonic() - started)))


def wait_until(condition: Any, timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    progress(f"timed out after {timeout:.0f} s waiting for {what}")
    return False


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


# ---------------------------------------------------------------------------------- pgbench


PGBENCH_MISSING = (
    "pgbench is not on PATH. Install it with PostgreSQL's client tools: on Debian/Ubuntu "
    "`sudo apt-get install postgresql-client` (PostgreSQL 16+: postgresql-client-16 …; with PostgreSQL 15 "
    "and older pgbench ships in the server package, e.g. postgresql-15, or postgresql-contrib), on "
    "RHEL/Fedora `dnf install postgresql-contrib`, on macOS `brew install postgresql`. Or run with "
    "--no-pgbench to leave the reference out."
)


def pgbench_simple_update(server: str, clients: int, seconds: float) -> float:
    """pgbench's built-in simple-update TPS with ``clients`` clients (scale = clients, at least 1)
    on a scratch database of the server, dropped after; what the server does with one small write
    transaction per client on this machine right now (the reference for the apply capacity)."""
    import re

    exe = shutil.which("pgbench")
    if exe is None:
        raise SystemExit(PGBENCH_MISSING)
    url = make_url(server)
    name = f"bb_bench_pgbench_{os.getpid()}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    base = [exe, "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        subprocess.run(
            [*base, "-i", "-q", "-s", str(max(1, clients)), name], env=env, check=True, capture_output=True
        )
        command = [*base, "-n", "-b", "simple-update", "-c", str(clients), "-j", str(clients)]
        command += ["-T", str(max(1, round(seconds))), name]
        progress(f"reference: {' '.join(command[:1] + command[7:])}")
        done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    if found is None:
        raise SystemExit(f"no tps line in pgbench's output:\n{done.stdout}")
    return float(found.group(1))


# ---------------------------------------------------------------------------------- one run


def post_receipts(
    root: str,
    receipts: Receipts,
    hub: Hub,
    pairs: list[tuple[str, str]],
    count: int,
    rate: float | None,
    rng: random.Random,
    *,
    tills: int = 16,
) -> float:
    """Post ``count`` receipts through 1C's HTTP service from ``tills`` threads, as a shop's tills
    do, paced together at ``rate`` per second (None: as fast as they can); the rate achieved."""
    plan = [(pairs[rng.randrange(len(pairs))][1], rng.randint(1, 20)) for _ in range(count)]
    started = time.monotonic()
    failures: list[str] = []

    def till(first: int) -> None:
        # The stdlib's client, kept alive: the tills are the load, not what is measured, and
        # httpx's per-request work was a third of this driver's CPU.
        url = httpx.URL(root)
        http = HTTPConnection(url.host, url.port, timeout=30)
        basic = base64.b64encode(":".join(ADMIN).encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}
        try:
            for n in range(first, count, tills):
                if rate:
                    delay = started + n / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                card_ref, points = plan[n]
                t0 = time.monotonic()
                body = json.dumps(
                    {"card": card_ref, "accrued": str(points), "redeemed": "0", "amount": str(points * 20)}
                )
                http.request("POST", f"{url.path}/hs/loyalty/receipts", body=body.encode(), headers=headers)
                response = http.getresponse()
                answer = response.read()
                if response.status != 201:
                    failures.append(f"{response.status} {answer[:200]!r}")
                    return
                receipts.posted(hub.cards[card_ref], Decimal(points), t0, str(json.loads(answer)["ref"]))
        finally:
            http.close()

    threads = [threading.Thread(target=till, args=(n,)) for n in range(min(tills, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"1C refused a receipt: {failures[0]}")
    return count / max(time.monotonic() - started, 1e-9)


def make_edits(
    hub: Hub,
    edits: Edits,
    pairs: list[tuple[str, str]],
    stop: threading.Event,
    rate: float,
    rng: random.Random,
) -> None:
    n = 0
    started = time.monotonic()
    while not stop.is_set():
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            stop.wait(delay)
            continue
        partner, _ = pairs[rng.randrange(len(pairs))]
        if edits.busy(partner):
            continue
        email = f"bench{n}@example.com"
        t0 = time.monotonic()
        with UnitOfWork(hub.engine) as uow:
            update_profile(uow, hub.customers[partner], {"email": email}, origin=Origin.WEBSITE)
            uow.commit()
        edits.edited(partner, email, t0)
        n += 1


def stage_lags(engine: Engine, since: float, answered: dict[str, float] | None = None) -> None:
    """Where the time goes (BENCH_DEBUG), over the changes of the sustained run: 1C's answer to the
    till → inbox stored (1C's publisher, RabbitMQ, the listener) → applied; outbox written →
    published (relay) → finished (delivered to 1C)."""
    start = datetime.fromtimestamp(since, UTC)
    if answered:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT onec_ref, extract(epoch FROM received_at) FROM sync_inbox"
                    " WHERE received_at >= :start"
                ),
                {"start": start},
            ).all()
        timed = [(answered[ref], float(at) - answered[ref]) for ref, at in rows if ref in answered]
        lags = [lag for _, lag in timed]
        p50, p99 = ms(percentile(lags, 0.5)), ms(percentile(lags, 0.99))
        progress(f"1C answered→inbox stored: p50 {p50} ms, p99 {p99} ms")
        slowest: dict[int, float] = {}
        for at, lag in timed:
            second = int(at - since)
            slowest[second] = max(lag, slowest.get(second, 0.0))
        per_second = " ".join(f"{ms(slowest[k])}" for k in sorted(slowest))
        progress(f"slowest answered→stored per second: {per_second}")
    queries = {
        "inbox stored→applied": "SELECT extract(epoch FROM finished_at - received_at) FROM sync_inbox"
        " WHERE finished_at IS NOT NULL AND received_at >= :start",
        "outbox written→published": "SELECT extract(epoch FROM published_at - created_at) FROM sync_outbox"
        " WHERE published_at IS NOT NULL AND created_at >= :start",
        "outbox published→delivered": "SELECT extract(epoch FROM finished_at - published_at) FROM sync_outbox"
        " WHERE finished_at IS NOT NULL AND published_at IS NOT NULL AND created_at >= :start",
    }
    with engine.connect() as conn:
        for what, query in queries.items():
            lags = [float(v) for v in conn.execute(text(query), {"start": start}).scalars()]
            progress(f"{what}: p50 {ms(percentile(lags, 0.5))} ms, p99 {ms(percentile(lags, 0.99))} ms")
        # When the tail happens: the slowest stored→applied of each second of the run (a steady
        # backlog and a stall of a few hundred milliseconds call for different remedies).
        slowest_applies = conn.execute(
            text(
                "SELECT floor(extract(epoch FROM received_at - :start)) AS s,"
                " max(extract(epoch FROM finished_at - received_at)) FROM sync_inbox"
                " WHERE finished_at IS NOT NULL AND received_at >= :start GROUP BY s ORDER BY s"
            ),
            {"start": start},
        ).all()
        listed = " ".join(f"{ms(float(v))}" for _, v in slowest_applies)
        progress(f"slowest stored→applied per second: {listed}")


def sync_idle(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not any(
            conn.scalar(select(table.c.id).where(table.c.state == SyncState.PENDING.value).limit(1))
            for table in (OUTBOX, INBOX)
        )


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """Every process's CPU time so far (user + system, clock ticks), labelled for grouping."""
    found: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        words = [a.decode(errors="replace") for a in argv if a]
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if int(entry.name) == os.getpid():
            label = "bench driver"
        elif any(w.endswith("bonusbridge") for w in words[:2]):
            at = next(i for i, w in enumerate(words) if w.endswith("bonusbridge"))
            label = " ".join(words[at + 1 : at + 5]) if words[at + 1] == "sync" else words[at + 1]
        elif name.startswith("postgres") or "postgres" in " ".join(words[:1]):
            label = "postgresql"
        elif name.startswith("beam") or name in ("erl_child_setup", "epmd"):
            label = "rabbitmq"
        else:
            label = "other"
        found[int(entry.name)] = (label, ticks)
    return found


def cpu_report(before: dict[int, tuple[str, int]], changes: int) -> None:
    """Where the CPU went (BENCH_DEBUG): milliseconds of CPU per change, per process kind."""
    per_tick = 1000 / os.sysconf("SC_CLK_TCK")
    spent: dict[str, float] = {}
    for pid, (label, ticks) in cpu_ticks().items():
        spent[label] = spent.get(label, 0.0) + (ticks - before.get(pid, (label, 0))[1]) * per_tick
    lines = ", ".join(f"{k} {v / changes:.2f}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v)
    progress(f"CPU ms per receipt: {lines}; total {sum(spent.values()) / changes:.2f}")


def count_accruals(engine: Engine, refs: list[str]) -> tuple[int, int]:
    """(lost, duplicated) receipts, from the hub's ledger."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Movement.document, func.count())
            .where(
                Movement.origin == Origin.ONEC,
                Movement.kind == MovementKind.ACCRUAL,
                Movement.document.is_not(None),
            )
            .group_by(Movement.document)
        ).all()
    made = {str(document): int(n) for document, n in rows}
    lost = sum(1 for ref in refs if made.get(ref, 0) == 0)
    duplicated = sum(made.get(ref, 0) - 1 for ref in refs if made.get(ref, 0) > 1)
    return lost, duplicated


def run(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    reference = None
    if not args.no_pgbench:
        reference = pgbench_simple_update(args.postgres, workers, args.pgbench_seconds)
        progress(f"reference: pgbench simple-update, {workers} client(s): {reference:.0f} tps")
    rng = random.Random(args.seed)
    tag = f"{os.getpid()}-{workers}"
    name = f"bb_bench_sync_{os.getpid()}_{workers}"
    admin = create_engine(make_url(args.postgres).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url, pool_size=4)
    upgrade(engine)
    logs = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    pairs = seed_fixtures(logs / "fixtures.json", args.cards)
    progress(f"{workers} worker(s): database {name}, {args.cards} cards, logs in {logs}")
    exchange, feed_queue = f"bench.onec.{tag}", f"bench.feed.{tag}"
    feed = AmqpChangeConsumer(args.amqp, exchange, feed_queue, lambda changes: None)
    try:
        feed.declare()  # the hub's queue exists before 1C publishes its first change
        with emulator_process(logs / "fixtures.json", args.amqp, exchange, logs) as root:
            settings = load_settings(
                database_url=url,
                broker_url=args.amqp,
                celery_queue=f"bench.tasks.{tag}",
                onec_base_url=root,
                onec_config="retail",
                onec_timezone="UTC",  # the emulator stamps receipts with this machine's UTC clock
                onec_change_feed="amqp",
                onec_amqp_url=args.amqp,
                onec_amqp_exchange=exchange,
                onec_amqp_queue=feed_queue,
                sync_dispatch="celery",
            )
            ctx = SyncContext.from_settings(settings, engine)
            pull_full(ctx)
            with engine.connect() as conn:
                cards = conn.execute(select(Card.onec_ref, Card.id).where(Card.onec_ref.is_not(None))).all()
                customers = conn.execute(
                    select(Customer.onec_ref, Customer.id).where(Customer.onec_ref.is_not(None))
                ).all()
            hub = Hub(settings, engine, {str(r): i for r, i in cards}, {str(r): i for r, i in customers})
            ledger = LedgerService(engine)
            receipts = Receipts(
                engine, {card_id: ledger.balance(card_id).total for card_id in hub.cards.values()}
            )
            onec = ODataClient(root, *ADMIN, timeout=10)
            edits = Edits(onec, ctx.profile)
            stop = threading.Event()
            with hub_processes(settings, logs, args.outbound_concurrency) as processes:
                watchers = [
                    threading.Thread(target=prober, args=(stop, watched), daemon=True)
                    for watched in (receipts, edits)
                ]
                for watcher in watchers:
                    watcher.start()
                try:
                    progress(f"apply capacity: {args.backlog} receipts stored, then {workers} worker(s)")
                    # A listener that only stores makes the backlog; one listener at a time (one
                    # reader per feed keeps its order), so it stops before the applying one starts.
                    storing = processes.listener(applies=False)
                    post_receipts(root, receipts, hub, pairs, args.backlog, None, rng)
                    if not wait_until(lambda: stored(engine) >= args.backlog, 120, "the backlog stored"):
                        raise SystemExit(f"the listener did not store the backlog: see {logs}")
                    stop_process(storing)
                    processes.listener()
                    workers_started = datetime.now(UTC)
                    processes.inbound_workers(workers, args.inbound_nice)
                    wait_until(lambda: receipts.outstanding() == 0, 300, "the backlog applied")
                    apply_capacity = apply_rate(engine, workers_started)
                    progress(f"apply capacity: {apply_capacity:.0f} receipts/s")
                    post_receipts(root, receipts, hub, pairs, 20, None, rng)
                    if not wait_until(lambda: receipts.outstanding() == 0, 120, "the processes to start"):
                        raise SystemExit(f"the hub's processes did not apply anything: see {logs}")
                    receipts.latencies.clear()

                    progress(f"capacity: a burst of {args.burst} receipts")
                    burst_started = time.monotonic()
                    cpu_before = cpu_ticks() if os.environ.get("BENCH_DEBUG") else {}
                    post_receipts(root, receipts, hub, pairs, args.burst, None, rng)
                    wait_until(lambda: receipts.outstanding() == 0, 300, "the burst")
                    capacity = args.burst / (time.monotonic() - burst_started)
                    if cpu_before:
                        cpu_report(cpu_before, args.burst)
                    progress(f"capacity: {capacity:.0f} receipts/s")
                    receipts.latencies.clear()

                    progress(f"sustained: {args.rate}/s for {args.seconds} s, {args.edit_rate} edits/s")
                    sustained_since = time.time()
                    editing = threading.Event()
                    editor = threading.Thread(
                        target=make_edits,
                        args=(hub, edits, pairs, editing, args.edit_rate, random.Random(args.seed + 1)),
                        daemon=True,
                    )
                    editor.start()
                    achieved = post_receipts(
                        root, receipts, hub, pairs, int(args.rate * args.seconds), args.rate, rng
                    )
                    editing.set()
                    editor.join()
                    wait_until(
                        lambda: receipts.outstanding() == 0 and edits.outstanding() == 0,
                        600,  # a backlog drains late, not lost: only what never arrives counts
                        "the last changes",
                    )
                    # What the edits set off besides the e-mail (a card's spending status) may
                    # still be on its way: compare once the hub has nothing left to send or apply.
                    wait_until(lambda: sync_idle(engine), 120, "the outbox and the inbox to drain")
                finally:
                    stop.set()
                    for watcher in watchers:
                        watcher.join()
            if os.environ.get("BENCH_DEBUG"):
                posts = receipts.post_seconds
                progress(
                    f"till POST: p50 {ms(percentile(posts, 0.5))} ms, p99 {ms(percentile(posts, 0.99))} ms"
                )
                stage_lags(engine, sustained_since, receipts.answered)
            lost, duplicated = count_accruals(engine, receipts.refs)
            lost += receipts.outstanding() + edits.outstanding()
            comparison = compare_hub_with_onec(engine, onec, ctx.profile)
            onec.close()
    finally:
        feed.close()
        with contextlib.suppress(Exception):
            delete_broker_objects(args.amqp, tag)
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    everything = receipts.latencies + edits.latencies
    result = {
        "bench": "sync",
        "workers": workers,
        "rate": args.rate,
        "seconds": args.seconds,
        "achieved_rate": round(achieved, 1),
        "p50_ms": ms(percentile(everything, 0.5)),
        "p99_ms": ms(percentile(everything, 0.99)),
        "max_ms": ms(max(everything) if everything else None),
        "receipts": len(receipts.latencies),
        "receipt_p50_ms": ms(percentile(receipts.latencies, 0.5)),
        "receipt_p99_ms": ms(percentile(receipts.latencies, 0.99)),
        "edits": len(edits.latencies),
        "edit_p50_ms": ms(percentile(edits.latencies, 0.5)),
        "edit_p99_ms": ms(percentile(edits.latencies, 0.99)),
        "capacity_per_s": round(capacity, 1),
        "apply_capacity_per_s": round(apply_capacity, 1),
        "pgbench_simple_update_tps": None if reference is None else round(reference, 1),
        "pgbench_clients": workers,
        "apply_capacity_vs_pgbench": None if not reference else round(apply_capacity / reference, 3),
        "lost": lost,
        "duplicated": duplicated,
        "consistent": comparison.ok,
    }
    if not comparison.ok:
        progress(f"hub and 1C differ: {comparison.summary()}")
    if not os.environ.get("BENCH_KEEP_LOGS"):
        shutil.rmtree(logs, ignore_errors=True)
    return result


def delete_broker_objects(url: str, tag: str) -> None:
    from kombu import Connection  # type: ignore[attr-defined]

    with Connection(url) as conn:  # type: ignore[no-untyped-call]
        for action, target in (
            ("queue_delete", f"bench.feed.{tag}"),
            ("queue_delete", f"bench.feed.{tag}.dead"),
            ("queue_delete", f"bench.tasks.{tag}"),
            ("exchange_delete", f"bench.onec.{tag}"),
            ("exchange_delete", f"bench.feed.{tag}.dead"),
        ):
            channel = conn.channel()
            with contextlib.suppress(Exception):
                getattr(channel, action)(target)
            with contextlib.suppress(Exception):
                channel.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=500.0, help="receipts per second (sustained)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the sustained stream lasts")
    parser.add_argument("--edit-rate", type=float, default=20.0, help="website profile edits per second")
    parser.add_argument("--burst", type=int, default=5000, help="receipts in the capacity burst")
    parser.add_argument(
        "--backlog", type=int, default=10000, help="receipts stored before the workers start (apply capacity)"
    )
    parser.add_argument(
        "--outbound-concurrency", type=int, default=8, help="processes of the worker delivering to 1C"
    )
    parser.add_argument("--cards", type=int, default=2000, help="cards (one partner each) in 1C")
    parser.add_argument("--workers", default="1,2", help="worker process counts to run, in order")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument(
        "--pgbench-seconds", type=float, default=15.0, help="how long the pgbench reference runs"
    )
    parser.add_argument("--no-pgbench", action="store_true", help="leave out the pgbench reference")
    parser.add_argument(
        "--inbound-nice",
        type=int,
        default=10,
        help="CPU priority (nice) of the apply workers: the website's edits keep flowing under overload",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--amqp", default=os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[dict[str, Any]] = []
    for workers in (int(n) for n in args.workers.split(",")):
        result = run(args, workers)
        if results:
            result["capacity_vs_first_run"] = round(
                result["capacity_per_s"] / results[0]["capacity_per_s"], 2
            )
            first_apply = results[0]["apply_capacity_per_s"]
            if first_apply:
                result["apply_capacity_vs_first_run"] = round(result["apply_capacity_per_s"] / first_apply, 2)
        results.append(result)
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 and r["consistent"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
