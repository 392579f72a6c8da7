"""``bonusbridge sync``: status, conflicts, dead letters and replays, the initial load, and the
processes (relay, listener, Celery worker, or all in one)."""

from __future__ import annotations

import enum
import os
import signal
import threading
from datetime import UTC, datetime
from typing import Annotated, Literal

import typer
from sqlalchemy import ColumnElement, and_, select, update

from bonusbridge.app import build_hub
from bonusbridge.models import SyncConflict, SyncState
from bonusbridge.privacy import mask_name
from bonusbridge.settings import settings_or_exit
from connectors.sync.context import SyncContext
from connectors.sync.slots import INBOX, OUTBOX

app = typer.Typer(help="Two-way sync with 1C.", no_args_is_help=True)


def _context(*, ping: Literal["always", "when_idle"] = "always") -> SyncContext:
    settings = settings_or_exit()
    return SyncContext.from_settings(settings, build_hub(settings, ping=ping).engine)


def _now() -> datetime:
    return datetime.now(UTC)


@app.command("status")
def status() -> None:
    """Outbox depth, inbound lag, last success per direction, dead letters, the breaker."""
    from connectors.sync.status import sync_status, why_pending

    ctx = _context()
    now = _now()
    for line in sync_status(ctx.engine, now, feed=ctx.settings.onec_change_feed).lines():
        typer.echo(line)
    reasons = why_pending(ctx.engine, now)
    if reasons:
        typer.echo("why the oldest pending messages to 1C wait:")
    for line in reasons:
        typer.echo(f"  {line}")
    with ctx.engine.connect() as conn:
        parked = conn.execute(
            select(INBOX.c.id, INBOX.c.entity_set, INBOX.c.onec_ref, INBOX.c.last_error)
            .where(INBOX.c.state == SyncState.PARKED.value)
            .order_by(INBOX.c.id)
            .limit(20)
        ).all()
    for row in parked:
        typer.echo(f"  parked #{row.id} {row.entity_set}({row.onec_ref}): {row.last_error}")


@app.command("conflicts")
def conflicts(limit: int = typer.Option(50, help="How many, newest first.")) -> None:
    """Fields both sides changed, both values, the decision and when (values masked)."""
    ctx = _context()
    with ctx.session_factory() as session:
        rows = session.scalars(select(SyncConflict).order_by(SyncConflict.id.desc()).limit(limit)).all()
    if not rows:
        typer.echo("no conflicts recorded")
    for c in rows:
        typer.echo(
            f"#{c.id} {c.decided_at:%Y-%m-%d %H:%M:%S} {c.kind} {c.entity_id} {c.field}: "
            f"hub {mask_name(c.hub_value or '')!r} vs 1C {mask_name(c.onec_value or '')!r} "
            f"→ {c.winner} wins ({c.policy})"
        )


@app.command("dlq")
def dlq(
    replay: list[int] = typer.Option(  # noqa: B008 - typer's declared API
        [], "--replay", help="Outbox/inbox message id to replay (repeatable)."
    ),
    replay_all: bool = typer.Option(False, "--all", help="Replay every dead letter."),
    parked: bool = typer.Option(
        False, "--parked", help="Also replay parked 1C changes (after a mapping fix)."
    ),
) -> None:
    """List the dead letters (and parked changes); replay some or all of them."""
    ctx = _context()
    states = [SyncState.DEAD.value] + ([SyncState.PARKED.value] if parked else [])
    with ctx.engine.begin() as conn:
        if replay or replay_all:
            for table in (OUTBOX, INBOX):
                where: ColumnElement[bool] = table.c.state.in_(states)
                if not replay_all:
                    where = and_(where, table.c.id.in_(replay))
                extra = {"published_at": None} if table is OUTBOX else {}
                result = conn.execute(
                    update(table)
                    .where(where)
                    .values(state=SyncState.PENDING.value, attempts=0, next_attempt_at=None, **extra)
                )
                typer.echo(f"{table.name}: {result.rowcount} message(s) queued again")
            return
        for table, label in ((OUTBOX, "to 1C"), (INBOX, "from 1C")):
            columns = [table.c.id, table.c.state, table.c.attempts, table.c.last_error, table.c.key]
            for row in conn.execute(select(*columns).where(table.c.state.in_(states)).order_by(table.c.id)):
                typer.echo(
                    f"{label} #{row.id} [{row.state}] key {row.key}, "
                    f"{row.attempts} attempt(s): {row.last_error}"
                )


@app.command("pull")
def pull(
    full: bool = typer.Option(False, "--full", help="Load every partner, card and balance."),
    restart: bool = typer.Option(False, help="Start over instead of resuming an interrupted load."),
    page_size: int = typer.Option(200, min=1, max=5000),
) -> None:
    """Initial load from 1C, paged and resumable after a crash, with a progress bar."""
    from connectors.sync.pull import pull_full

    if not full:
        typer.echo("nothing to do: pass --full", err=True)
        raise typer.Exit(2)
    ctx = _context()

    def progress(phase: str, done: int, total: int | None) -> None:
        typer.echo(f"\r{phase}: {done}/{total if total is not None else '?'}", nl=False)

    report = pull_full(ctx, page_size=page_size, restart=restart, progress=progress)
    typer.echo("")
    typer.echo(
        f"{'resumed and ' if report.resumed else ''}loaded {report.customers} partner(s), "
        f"{report.cards} card(s), "
        f"{report.balances} balance(s) (opening movements: {report.adjusted} points)"
        + (f"; {report.parked} unreadable object(s) parked (see sync status)" if report.parked else "")
    )


@app.command("accounts")
def share_accounts() -> None:
    """ut11: put every partner's cards on the partner's one account (after upgrading a hub that
    kept a balance per card); prints how many partners it looked at. Does nothing in retail."""
    from connectors.sync.accounts import share_all

    ctx = _context()
    if not ctx.settings.balances_per_customer:
        typer.echo("balances are kept per card (BONUSBRIDGE_BALANCE_PER=card): nothing to do")
        return
    typer.echo(f"{share_all(ctx)} partner(s) with cards not yet on their account: now on it")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@app.command("relay")
def relay() -> None:
    """Publish outbox rows to the broker (confirms + mandatory) until stopped."""
    from bonusbridge.celery_app import app as celery_app
    from connectors.sync.relay import CeleryPublisher, Relay

    Relay(_context(), CeleryPublisher(celery_app)).run(_stop_on_signals())


@app.command("listen")
def listen() -> None:
    """Read 1C's change feed into the inbox and ask workers to apply it, until stopped."""
    from bonusbridge.celery_app import app as celery_app
    from connectors.sync.listener import Listener
    from connectors.sync.relay import CeleryPublisher

    # A store that meets a connection killed moments ago fails; the feed then redelivers it.
    ctx = _context(ping="when_idle")
    publisher = CeleryPublisher(celery_app, slots_per_task=ctx.settings.sync_slots_per_task)
    ctx.kick = lambda direction, slots: publisher.kick_inbound(slots)
    Listener(ctx, kick_interval=ctx.settings.sync_kick_interval_seconds).run(_stop_on_signals())


class WorkerQueues(enum.StrEnum):
    ALL = "all"
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@app.command("worker")
def worker(
    concurrency: int = typer.Option(1, min=1, help="Worker processes."),
    queues: Annotated[
        WorkerQueues,
        typer.Option(
            help="What this worker does: 'inbound' applies 1C's changes, 'outbound' delivers the "
            "hub's to 1C, 'all' both. Delivery workers of their own keep a slow 1C from delaying "
            "balances."
        ),
    ] = WorkerQueues.ALL,
    nice: int = typer.Option(
        0,
        min=0,
        max=19,
        help="Lower this worker's CPU priority (Unix nice). Apply workers at 10 next to delivery "
        "workers at 0: when the tills send more than the machine can apply, the receipts wait, "
        "not the website's edits.",
    ),
) -> None:
    """A Celery worker draining outbox and inbox slots (run as many as needed, on any machine)."""
    from bonusbridge.celery_app import app as celery_app
    from connectors.sync.relay import outbound_queue

    if nice:
        os.nice(nice)  # the pool's processes inherit it

    names = {
        WorkerQueues.ALL: [celery_app.conf.task_default_queue, outbound_queue(celery_app)],
        WorkerQueues.INBOUND: [celery_app.conf.task_default_queue],
        WorkerQueues.OUTBOUND: [outbound_queue(celery_app)],
    }[queues]
    # A node name of its own: several workers on one host must not share celery@<host> (its
    # pidbox queue is exclusive, so the second one would refuse to start).
    celery_app.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "--without-gossip",
            f"--hostname=sync-{queues.value}-{os.getpid()}@%h",
            f"--queues={','.join(names)}",
        ]
    )


@app.command("run")
def run() -> None:
    """Everything in this process: listener, relay and drains (the embedded default's supervisor)."""
    from connectors.sync.listener import Listener
    from connectors.sync.relay import Relay
    from connectors.sync.runner import InlineRunner

    ctx = _context()
    runner = InlineRunner(ctx)
    stop = _stop_on_signals()
    relay = Relay(ctx, runner.publish)
    threads = [
        threading.Thread(target=runner.run, args=(stop,), daemon=True),
        threading.Thread(target=relay.run, args=(stop,), daemon=True),
        threading.Thread(target=Listener(ctx).run, args=(stop,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    typer.echo("sync running in-process (Ctrl-C stops)")
    stop.wait()
