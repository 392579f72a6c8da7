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
2. sustained phases (issue 20): ``--shares`` of that capacity (default 40 %, 80 % and 2×), then
   the fixed ``--rate`` (500/s, for continuity; 0 leaves it out), each ``--seconds`` long, with
   ``--edit-rate`` profile edits per second through the hub's service layer → each change's
   latency until visible on the other side (a receipt: the hub's ``LedgerService.balance`` shows
   it; an edit: 1C's own change feed carries the partner with the new e-mail — a queue of the
   driver's own on 1C's exchange, so measuring loads 1C with nothing), and the p50/p99 of each
   stage (``stage_report``). Each phase prints its own JSON line as it ends.

What the initial load sets off (the spending locks of the cards whose owners have no complete
profile, delivered to 1C) is drained before anything is measured.

Before all of that, with nothing else running, a same-run reference: pgbench's built-in
``simple-update`` script at the same client count as the inbound workers (``-c N -j N``, scale N,
``--pgbench-seconds``) on a scratch database of the same server — what this PostgreSQL on this
machine does with one small write transaction per client, so ``apply_capacity_vs_pgbench`` (apply
capacity / pgbench TPS) can be compared across machines where the raw figures cannot. pgbench must
be on PATH (Debian/Ubuntu: ``apt-get install postgresql-client`` — with PostgreSQL 15 and older it
ships in the server package ``postgresql-15``, or ``postgresql-contrib``); ``--no-pgbench`` skips it.

Then: lost (a receipt with no accrual in the hub, an edit never in 1C), duplicated (a receipt with
more than one accrual), and ``reconciliation.compare_hub_with_onec`` over every card (balance,
status, owner) and customer, once per worker count. The LAST line is a summary: lost, duplicated
and consistent over every phase, which targets were met, each run's capacities and its phases'
tails, the load average before and after, and with several worker counts the capacities against
the first run's (timings on a shared 2-core machine are noisy: read ratios and the load average).
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
def emulator_process(
    fixtures: Path, amqp: str, exchange: str, logs: Path, *, fair_share: bool = True
) -> Iterator[str]:
    """``bonusbridge emulator`` in a process of its own (as 1C is a server of its own), publishing
    its changes to ``exchange`` from its background publisher; yields its publication root URL.
    ``fair_share``: its requests take turns per 1C user (``--fair-share``), so the website's
    deliveries keep their share of 1C next to 16 tills, as a 1C cluster serving the website's
    sessions on a working process of their own does; off, per connection (the tills get 2/3)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        bonusbridge_exe(), "emulator", "--port", str(port), "--fixtures", str(fixtures),
        "--amqp-url", amqp, "--amqp-exchange", exchange, *(["--fair-share"] if fair_share else []),
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
    """Receipts posted in 1C and not yet seen in the hub, per card, with their expected totals.

    Per receipt it keeps the wall-clock times of its stages the driver sees itself (the till's
    POST sent, 1C's answer, the hub's balance showing it); the hub's own stages (inbox stored,
    applied) are read from the inbox afterwards (``stage_report``)."""

    engine: Engine
    expected: dict[int, Decimal]
    waiting: dict[int, deque[tuple[Decimal, float, str]]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    watermark: int = 0  # the highest movement id seen by the prober
    next_full_sweep: float = 0.0
    sent: dict[str, float] = field(default_factory=dict)  # ref → wall clock of the till's POST
    answered: dict[str, float] = field(default_factory=dict)  # ref → wall clock of 1C's answer
    visible: dict[str, float] = field(default_factory=dict)  # ref → wall clock the hub showed it
    post_seconds: list[float] = field(default_factory=list)  # how long each till's POST took

    def posted(self, card_id: int, points: Decimal, started: float, ref: str) -> None:
        answered, took = time.time(), time.monotonic() - started
        with self.lock:
            self.sent[ref] = answered - took
            self.answered[ref] = answered
            self.post_seconds.append(took)
            self.expected[card_id] += points
            self.waiting.setdefault(card_id, deque()).append((self.expected[card_id], started, ref))
            self.refs.append(ref)

    def outstanding(self) -> int:
        with self.lock:
            return sum(len(q) for q in self.waiting.values())

    def reset(self) -> None:
        """A new phase: its own latencies and receipts (those in flight stay watched)."""
        with self.lock:
            self.latencies.clear()
            self.refs.clear()
            self.post_seconds.clear()

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
        now, wall = time.monotonic(), time.time()
        seen = 0
        with self.lock:
            for card, view in views.items():
                queue = self.waiting[card]
                while queue and queue[0][0] <= view.total:
                    _, since, ref = queue.popleft()
                    self.latencies.append(now - since)
                    self.visible[ref] = wall
                    seen += 1
        return seen


@dataclass
class Edits:
    """Profile edits made on the website and not yet seen in 1C.

    An edit is seen in 1C when 1C's own change feed (its AMQP publisher, after the commit) carries
    the partner with the new e-mail: a queue of the driver's own on 1C's exchange, so measuring
    costs 1C nothing. (Reading 1C's OData for every edit in flight put the driver's load on the
    1C it measured — under overload, a load that grew with the backlog it measured.)"""

    profile: Any
    waiting: dict[str, tuple[str, float]] = field(default_factory=dict)  # partner ref → (email, t0)
    latencies: list[float] = field(default_factory=list)
    made: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    outbox: dict[int, str] = field(default_factory=dict)  # outbox id → partner ref (this phase)
    written: dict[int, float] = field(default_factory=dict)  # outbox id → wall clock of the edit
    in_onec: dict[int, float] = field(default_factory=dict)  # outbox id → 1C's time of the write
    seen: dict[int, float] = field(default_factory=dict)  # outbox id → wall clock seen in 1C's feed
    current: dict[str, int] = field(default_factory=dict)  # partner ref → outbox id in flight
    #: partner ref → (wall clock seen, 1C's time) of an edit seen before its outbox id was known
    seen_early: dict[str, tuple[float, float | None]] = field(default_factory=dict)

    def busy(self, partner: str) -> bool:
        with self.lock:
            return partner in self.waiting

    def edited(self, partner: str, email: str, started: float, wall: float, outbox_id: int | None) -> None:
        with self.lock:
            self.waiting[partner] = (email, started)
            self.made += 1
            if outbox_id is not None:
                self.outbox[outbox_id] = partner
                self.written[outbox_id] = wall
                self.current[partner] = outbox_id

    def stamped(self, partner: str, outbox_id: int, wall: float) -> None:
        """The edit's outbox row, known once committed (its stages are read from it)."""
        with self.lock:
            self.outbox[outbox_id] = partner
            self.written[outbox_id] = wall
            if partner in self.waiting:
                self.current[partner] = outbox_id
            elif partner in self.seen_early:  # 1C's feed carried it back first
                self.seen[outbox_id], at = self.seen_early.pop(partner)
                if at is not None:
                    self.in_onec[outbox_id] = at

    def outstanding(self) -> int:
        with self.lock:
            return len(self.waiting)

    def reset(self) -> None:
        with self.lock:
            self.seen_early.clear()
            self.latencies.clear()
            self.made = 0
            for mapping in (self.outbox, self.written, self.in_onec, self.seen):
                mapping.clear()

    def on_change(self, body: dict[str, Any]) -> None:
        """A partner as 1C's feed carries it: the edit in flight for it is visible if the e-mail is."""
        partner = body.get("object") or {}
        ref = str(body.get("key") or partner.get("Ref_Key") or "")
        with self.lock:
            item = self.waiting.get(ref)
        if item is None or self.profile.customer_from_onec(partner).get("email") != item[0]:
            return
        now, wall = time.monotonic(), time.time()
        at: float | None = None
        with contextlib.suppress(ValueError, TypeError):
            at = datetime.fromisoformat(str(body.get("changed_at"))).timestamp()
        with self.lock:
            if self.waiting.get(ref) != item:
                return
            del self.waiting[ref]
            self.latencies.append(now - item[1])
            outbox_id = self.current.pop(ref, None)
            if outbox_id is None:
                self.seen_early[ref] = (wall, at)
            elif outbox_id in self.outbox:
                self.seen[outbox_id] = wall
                if at is not None:
                    self.in_onec[outbox_id] = at


def watch_partners(stop: threading.Event, url: str, exchange: str, queue: str, edits: Edits) -> None:
    """Consume 1C's partner changes from a queue of the driver's own (declared before the run)."""
    from kombu import Connection, Exchange, Queue  # type: ignore[attr-defined]

    bound = Queue(  # type: ignore[no-untyped-call]
        queue,
        exchange=Exchange(exchange, type="topic", durable=True),  # type: ignore[no-untyped-call]
        routing_key=f"{PARTNERS}.changed",
        durable=False,
        auto_delete=True,
    )

    def on_message(message: Any) -> None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            edits.on_change(json.loads(message.body))
        message.ack()

    conn: Any = Connection(url)  # type: ignore[no-untyped-call]
    with conn, conn.Consumer([bound], on_message=on_message, accept=["json"]):
        while not stop.is_set():
            with contextlib.suppress(socket.timeout, TimeoutError):
                conn.drain_events(timeout=0.2)


def prober(stop: threading.Event, watched: Receipts) -> None:
    """Sweep every 10 ms at most: a receipt's latency is measured to within a sweep (a fiftieth of
    the 500 ms target), and the driver leaves the CPU to the system it measures."""
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
    seconds: float | None = None,
) -> float:
    """Post ``count`` receipts through 1C's HTTP service from ``tills`` threads, as a shop's tills
    do, paced together at ``rate`` per second (None: as fast as they can); the rate achieved.
    ``seconds``: stop posting then, however many are left (a sustained phase lasts its time: a
    1C slower than the rate asked posts fewer, and ``achieved`` says so)."""
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
                if seconds is not None and time.monotonic() - started >= seconds:
                    return
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
    with receipts.lock:
        posted = len(receipts.refs) if seconds is not None else count
    return posted / max(time.monotonic() - started, 1e-9)


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
    newest = text("SELECT max(id) FROM sync_outbox WHERE topic = 'customer' AND entity_id = :id")
    while not stop.is_set():
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            stop.wait(delay)
            continue
        partner, _ = pairs[rng.randrange(len(pairs))]
        if edits.busy(partner):
            continue
        email = f"bench{n}.{int(started)}@example.com"
        t0, wall = time.monotonic(), time.time()
        customer_id = hub.customers[partner]
        # Watched before it is committed: 1C's feed may carry it back before this thread runs again.
        edits.edited(partner, email, t0, wall, None)
        with UnitOfWork(hub.engine) as uow:
            update_profile(uow, customer_id, {"email": email}, origin=Origin.WEBSITE)
            uow.commit()
        with hub.engine.connect() as conn:  # the row the trigger wrote with the edit
            outbox_id = conn.scalar(newest, {"id": customer_id})
        if outbox_id is not None:
            edits.stamped(partner, int(outbox_id), wall)
        n += 1


def stage_report(engine: Engine, receipts: Receipts, edits: Edits, since: float) -> dict[str, Any]:
    """p50/p99 in ms of each stage of this phase's changes (issue 20 item 1).

    A receipt: the till's POST sent → 1C answered (1C wrote it) → the hub's inbox stored it (1C's
    publisher, RabbitMQ, the listener) → applied to the ledger → the hub's balance read shows it.
    An edit: the hub wrote it (the outbox row in the same transaction) → the relay published it →
    1C wrote it (1C's time of the write, from its change message) → 1C's feed carried it (the
    driver's queue on 1C's exchange); ``delivery_recorded`` is 1C's write → the hub marking the
    row done (informational: it overlaps the next stage)."""
    start = datetime.fromtimestamp(since - 1, UTC)
    with engine.connect() as conn:
        inbox = conn.execute(
            text(
                "SELECT onec_ref, extract(epoch FROM min(received_at)), extract(epoch FROM max(finished_at))"
                " FROM sync_inbox WHERE received_at >= :start GROUP BY onec_ref"
            ),
            {"start": start},
        ).all()
        ids = sorted(edits.outbox)
        outbox = (
            conn.execute(
                text(
                    "SELECT id, extract(epoch FROM published_at), extract(epoch FROM finished_at)"
                    " FROM sync_outbox WHERE id = ANY(:ids)"
                ),
                {"ids": ids},
            ).all()
            if ids
            else []
        )
    stages: dict[str, list[float]] = {
        name: []
        for name in (
            "receipt_post",
            "receipt_answered_to_stored",
            "receipt_stored_to_applied",
            "receipt_applied_to_visible",
            "receipt_total",
            "edit_written_to_published",
            "edit_published_to_onec",
            "edit_onec_to_feed",
            "edit_delivery_recorded",
            "edit_total",
        )
    }
    with receipts.lock:
        phase = set(receipts.refs)
        sent, answered, visible = dict(receipts.sent), dict(receipts.answered), dict(receipts.visible)
    for ref, received, finished in inbox:
        if ref not in phase:
            continue
        received = float(received)
        stages["receipt_post"].append(answered[ref] - sent[ref])
        stages["receipt_answered_to_stored"].append(received - answered[ref])
        if finished is not None:
            stages["receipt_stored_to_applied"].append(float(finished) - received)
            if ref in visible:
                stages["receipt_applied_to_visible"].append(visible[ref] - float(finished))
        if ref in visible:
            stages["receipt_total"].append(visible[ref] - sent[ref])
    with edits.lock:
        written, in_onec, seen = dict(edits.written), dict(edits.in_onec), dict(edits.seen)
    for outbox_id, published, finished in outbox:
        t0 = written[outbox_id]
        if published is not None:
            stages["edit_written_to_published"].append(float(published) - t0)
            if outbox_id in in_onec:
                stages["edit_published_to_onec"].append(in_onec[outbox_id] - float(published))
        if outbox_id in in_onec:
            if outbox_id in seen:
                stages["edit_onec_to_feed"].append(seen[outbox_id] - in_onec[outbox_id])
            if finished is not None:
                stages["edit_delivery_recorded"].append(float(finished) - in_onec[outbox_id])
        if outbox_id in seen:
            stages["edit_total"].append(seen[outbox_id] - t0)
    return {
        name: {
            "p50_ms": ms(percentile(values, 0.5)),
            "p99_ms": ms(percentile(values, 0.99)),
            "n": len(values),
        }
        for name, values in stages.items()
    }


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


#: Issue 20's targets per share of capacity: (receipt p99, edit p99) in seconds.
TARGETS = {0.4: (0.3, 0.5), 0.8: (1.0, 2.0)}
#: Issue 16: edit p99 under 2 s in a sustained phase, whether or not the tills exceed capacity.
EDIT_P99_ANY_LOAD = 2.0


def run(args: argparse.Namespace, workers: int, emit: Any) -> dict[str, Any]:
    """One worker count on a fresh database: capacities, then every sustained phase (each printed
    by ``emit`` as its own JSON line); the run's summary."""
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
    phases: list[dict[str, Any]] = []
    apply_capacity = capacity = 0.0
    consistent = False
    try:
        feed.declare()  # the hub's queue exists before 1C publishes its first change
        fair = args.onec_sessions == "fair"
        with emulator_process(logs / "fixtures.json", args.amqp, exchange, logs, fair_share=fair) as root:
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
            edits = Edits(ctx.profile)
            stop = threading.Event()
            with hub_processes(settings, logs, args.outbound_concurrency) as processes:
                watchers = [
                    threading.Thread(target=prober, args=(stop, receipts), daemon=True),
                    threading.Thread(
                        target=watch_partners,
                        args=(stop, args.amqp, exchange, f"bench.watch.{tag}", edits),
                        daemon=True,
                    ),
                ]
                for watcher in watchers:
                    watcher.start()
                try:
                    # What the initial load set off (the spending locks of cards whose owners have
                    # no complete profile go to 1C) is delivered before anything is measured.
                    wait_until(lambda: sync_idle(engine), 600, "the initial load's changes to reach 1C")
                    if args.backlog:
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
                    if args.backlog:
                        wait_until(lambda: receipts.outstanding() == 0, 300, "the backlog applied")
                        apply_capacity = apply_rate(engine, workers_started)
                        progress(f"apply capacity: {apply_capacity:.0f} receipts/s")
                    post_receipts(root, receipts, hub, pairs, 20, None, rng)
                    if not wait_until(lambda: receipts.outstanding() == 0, 120, "the processes to start"):
                        raise SystemExit(f"the hub's processes did not apply anything: see {logs}")
                    receipts.reset()

                    progress(f"capacity: a burst of {args.burst} receipts")
                    burst_started = time.monotonic()
                    cpu_before = cpu_ticks() if os.environ.get("BENCH_DEBUG") else {}
                    post_receipts(root, receipts, hub, pairs, args.burst, None, rng)
                    wait_until(lambda: receipts.outstanding() == 0, 300, "the burst")
                    capacity = args.burst / (time.monotonic() - burst_started)
                    if cpu_before:
                        cpu_report(cpu_before, args.burst)
                    progress(f"capacity: {capacity:.0f} receipts/s")
                    receipts.reset()

                    plan: list[tuple[float | None, float]] = [
                        (share, round(share * capacity, 1)) for share in args.shares
                    ]
                    if args.rate:
                        plan.append((None, args.rate))
                    for share, rate in plan:
                        phase = sustained(args, hub, receipts, edits, root, pairs, rng, share, rate)
                        phase.update(
                            workers=workers,
                            capacity_per_s=round(capacity, 1),
                            apply_capacity_per_s=round(apply_capacity, 1),
                            pgbench_tps=None if reference is None else round(reference, 1),
                        )
                        phases.append(phase)
                        emit(phase)
                finally:
                    stop.set()
                    for watcher in watchers:
                        watcher.join()
            comparison = compare_hub_with_onec(engine, onec, ctx.profile)
            consistent = comparison.ok
            if not comparison.ok:
                progress(f"hub and 1C differ: {comparison.summary()}")
            onec.close()
    finally:
        feed.close()
        with contextlib.suppress(Exception):
            delete_broker_objects(args.amqp, tag)
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    if not os.environ.get("BENCH_KEEP_LOGS"):
        shutil.rmtree(logs, ignore_errors=True)
    return {
        "workers": workers,
        "capacity_per_s": round(capacity, 1),
        "apply_capacity_per_s": round(apply_capacity, 1),
        "pgbench_tps": None if reference is None else round(reference, 1),
        "apply_capacity_vs_pgbench": None if not reference else round(apply_capacity / reference, 3),
        "consistent": consistent,
        "phases": phases,
    }


def sustained(
    args: argparse.Namespace,
    hub: Hub,
    receipts: Receipts,
    edits: Edits,
    root: str,
    pairs: list[tuple[str, str]],
    rng: random.Random,
    share: float | None,
    rate: float,
) -> dict[str, Any]:
    """``rate`` receipts/s for ``--seconds`` with ``--edit-rate`` website edits/s; each change timed
    until the other side shows it; the phase's JSON line (without the run's figures)."""
    label = "fixed rate" if share is None else f"{share:.0%} of capacity"
    progress(f"sustained ({label}): {rate}/s for {args.seconds} s, {args.edit_rate} edits/s")
    receipts.reset()
    edits.reset()
    since = time.time()
    loadavg = os.getloadavg()[0]
    editing = threading.Event()
    editor = threading.Thread(
        target=make_edits,
        args=(hub, edits, pairs, editing, args.edit_rate, random.Random(rng.random())),
        daemon=True,
    )
    editor.start()
    achieved = post_receipts(
        root, receipts, hub, pairs, max(1, int(rate * args.seconds)), rate, rng, seconds=args.seconds
    )
    editing.set()
    editor.join()
    wait_until(
        lambda: receipts.outstanding() == 0 and edits.outstanding() == 0,
        600,  # a backlog drains late, not lost: only what never arrives counts
        "the last changes",
    )
    # What the edits set off besides the e-mail may still be on its way: the next phase starts
    # (and the comparison runs) once the hub has nothing left to send or apply.
    wait_until(lambda: sync_idle(hub.engine), 120, "the outbox and the inbox to drain")
    stages = stage_report(hub.engine, receipts, edits, since)
    lost, duplicated = count_accruals(hub.engine, receipts.refs)
    lost += receipts.outstanding() + edits.outstanding()
    receipt_p99, edit_p99 = percentile(receipts.latencies, 0.99), percentile(edits.latencies, 0.99)
    targets = TARGETS.get(share) if share is not None else None
    result: dict[str, Any] = {
        "bench": "sync",
        "phase": "sustained",
        "share_of_capacity": share,
        "rate": rate,
        "seconds": args.seconds,
        "achieved_rate": round(achieved, 1),
        "receipts": len(receipts.latencies),
        "receipt_p50_ms": ms(percentile(receipts.latencies, 0.5)),
        "receipt_p99_ms": ms(receipt_p99),
        "edits": len(edits.latencies),
        "edit_rate": args.edit_rate,
        "achieved_edit_rate": round(len(edits.latencies) / args.seconds, 1),
        "edit_p50_ms": ms(percentile(edits.latencies, 0.5)),
        "edit_p99_ms": ms(edit_p99),
        "lost": lost,
        "duplicated": duplicated,
        "targets_met": None
        if targets is None or receipt_p99 is None or edit_p99 is None
        else receipt_p99 < targets[0] and edit_p99 < targets[1],
        "edit_p99_under_2s": None if edit_p99 is None else edit_p99 < EDIT_P99_ANY_LOAD,
        "loadavg": round(loadavg, 2),
        "onec_sessions": args.onec_sessions,
        "stages": stages,
    }
    progress(
        "stages (p50/p99 ms): "
        + "; ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in stages.items() if v["n"])
    )
    return result


def delete_broker_objects(url: str, tag: str) -> None:
    from kombu import Connection  # type: ignore[attr-defined]

    with Connection(url) as conn:  # type: ignore[no-untyped-call]
        for action, target in (
            ("queue_delete", f"bench.feed.{tag}"),
            ("queue_delete", f"bench.feed.{tag}.dead"),
            ("queue_delete", f"bench.tasks.{tag}"),
            ("queue_delete", f"bench.tasks.{tag}.outbound"),
            ("queue_delete", f"bench.watch.{tag}"),
            ("exchange_delete", f"bench.tasks.{tag}"),
            ("exchange_delete", f"bench.tasks.{tag}.outbound"),
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
    parser.add_argument(
        "--shares",
        type=lambda v: [float(x) for x in v.split(",") if x],
        default=[0.4, 0.8, 2.0],
        help="sustained phases at these shares of the measured burst capacity, in order",
    )
    parser.add_argument(
        "--rate", type=float, default=500.0, help="then a phase at this fixed rate (receipts/s; 0: none)"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each sustained phase lasts")
    parser.add_argument("--edit-rate", type=float, default=20.0, help="website profile edits per second")
    parser.add_argument("--burst", type=int, default=5000, help="receipts in the capacity burst")
    parser.add_argument(
        "--backlog", type=int, default=10000, help="receipts stored before the workers start (apply capacity)"
    )
    parser.add_argument(
        "--outbound-concurrency", type=int, default=8, help="processes of the worker delivering to 1C"
    )
    parser.add_argument("--cards", type=int, default=2000, help="cards (one partner each) in 1C")
    parser.add_argument(
        "--workers",
        default="1,2",
        help="apply worker counts to run, each on a fresh database",
    )
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
        "--onec-sessions",
        choices=("fair", "connection"),
        default="fair",
        help="how the emulated 1C shares itself: per 1C user (fair: the website keeps a share next to "
        "the tills) or per connection (the tills' 16 sessions get two thirds)",
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
    # Stopped with SIGTERM, the processes, databases and queues it made are still cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started_load = os.getloadavg()

    def emit(line: dict[str, Any]) -> None:
        print(json.dumps(line, ensure_ascii=False), flush=True)

    runs = [run(args, int(n), emit) for n in args.workers.split(",")]
    phases = [p for r in runs for p in r["phases"]]
    summary: dict[str, Any] = {
        "bench": "sync",
        "summary": True,
        "lost": sum(p["lost"] for p in phases),
        "duplicated": sum(p["duplicated"] for p in phases),
        "consistent": all(r["consistent"] for r in runs),
        "edit_p99_under_2s_everywhere": all(p["edit_p99_under_2s"] for p in phases),
        "targets_met": {
            f"{r['workers']}w@{p['share_of_capacity']}": p["targets_met"]
            for r in runs
            for p in r["phases"]
            if p["targets_met"] is not None
        },
        "runs": [
            {
                **{k: v for k, v in r.items() if k != "phases"},
                "phases": [
                    {
                        k: p[k]
                        for k in (
                            "share_of_capacity",
                            "rate",
                            "achieved_rate",
                            "receipt_p99_ms",
                            "edit_p99_ms",
                        )
                    }
                    for p in r["phases"]
                ],
            }
            for r in runs
        ],
        "loadavg_before": round(started_load[0], 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
    }
    if len(runs) > 1 and runs[0]["apply_capacity_per_s"]:
        summary["apply_capacity_vs_first_run"] = round(
            runs[-1]["apply_capacity_per_s"] / runs[0]["apply_capacity_per_s"], 2
        )
        summary["capacity_vs_first_run"] = round(runs[-1]["capacity_per_s"] / runs[0]["capacity_per_s"], 2)
    emit(summary)
    ok = summary["lost"] == 0 and summary["duplicated"] == 0 and summary["consistent"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
