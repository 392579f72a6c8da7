"""Everything ``make run`` starts, in one process: the emulated 1C, the sync, SMS and the cabinet.

Why one process: the embedded default has no broker and no 1C. The pieces that are separate
processes in production (``bonusbridge emulator``, ``sync relay``/``listen``/``worker``, ``serve``)
run here as threads around the same functions, so the demo shows the product's real paths — 1C's
change feed polled, the outbox relayed and delivered over OData — not a shortcut.

Each start is fresh: the emulated 1C keeps its base in memory, so the hub's database
(``var/demo-hub.sqlite3``) is recreated with it; otherwise the hub would remember merges that the
new 1C never heard of. Tests and the browser walk use ``DemoStack`` on free ports.
"""

from __future__ import annotations

import logging
import shlex
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bonusbridge.app import Hub, build_hub
from bonusbridge.schema import upgrade
from bonusbridge.settings import Settings, load_settings
from connectors.onec.emulator.app import create_app as create_emulator
from connectors.onec.emulator.server import ServerThread
from connectors.sync.context import SyncContext
from connectors.sync.listener import Listener
from connectors.sync.pull import pull_full
from connectors.sync.relay import Relay
from connectors.sync.runner import InlineRunner
from demo.seed import DEMO_PHONES, DemoPhone, seed_hub
from demo.shop import seed_shop
from sms.wiring import SmsParts, build_sms

log = logging.getLogger(__name__)

ONEC_BASE = "dobrostroy"


@dataclass
class DemoStack:
    """The running demo: where each part listens, and the parts tests reach into."""

    settings: Settings
    hub: Hub
    sms: SmsParts
    onec_url: str
    cabinet_url: str
    emulator: Any  # the emulator's Starlette app (``app.state`` holds its store and faults)
    phones: tuple[DemoPhone, ...] = DEMO_PHONES
    seeded: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    supplier_id: int | None = None  # the demo shop's supplier (``demo.shop``)
    mail_file: Path | None = None  # where the console mail backend writes (``/dev/mail`` reads it)

    def supplier_login_url(self) -> str:
        """A fresh signed login link of the demo supplier, as the order e-mails carry."""
        from mail.sending import supplier_link
        from mail.settings import MailSettings

        secret = self.settings.supplier_link_secret.get_secret_value()
        return supplier_link(MailSettings(base_url=self.cabinet_url), secret, self.supplier_id or 0)

    def banner(self) -> str:
        lines = [
            f"BonusBridge demo — the personal cabinet: {self.cabinet_url}",
            f"  emulated 1C (OData): {self.onec_url}/odata/standard.odata/",
            f"  SMS the console gateway 'sent' (codes included): {self.cabinet_url}/dev/sms",
            "  log in with one of these phones; the SMS code is printed here:",
        ]
        lines += [f"    {phone.phone:<18} {phone.branch}" for phone in self.phones]
        command = (
            f"BONUSBRIDGE_DATABASE_URL={shlex.quote(self.settings.database_url)} {bonusbridge_command()}"
        )
        lines += [
            f"  rewards shop: {self.cabinet_url}/shop (gated items included)",
            f"  e-mails the console backend 'sent': {self.cabinet_url}/dev/mail",
            "  the supplier's login link (valid 7 days; each order's e-mail brings a fresh one):",
            f"    {self.supplier_login_url()}",
            f"  staff pages: {self.cabinet_url}/staff — log in with a staff user made, in another",
            "  terminal while this runs, against the demo's database (the password is asked for):",
            f"    {command} staff create admin --role admin",
            "  a key for the shop API (printed once):",
            f"    {command} api-clients create demo-shop --scopes read,quote,checkout",
            "  Each start recreates the demo's database: staff users, API keys, logins and every change",
            "  made here are lost when the demo restarts.",
            "  Ctrl-C stops everything.",
        ]
        return "\n".join(lines)


def bonusbridge_command() -> str:
    """The ``bonusbridge`` command of this installation (beside this Python), or the bare name."""
    beside = Path(sys.executable).parent / "bonusbridge"
    return shlex.quote(str(beside)) if beside.exists() else "bonusbridge"


def demo_settings(var_dir: Path, **overrides: Any) -> Settings:
    """The embedded default, with the demo's own hub database and the console SMS gateway."""
    var_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{(var_dir / 'demo-hub.sqlite3').resolve()}",
        "broker_url": "memory://",
        "sms_gateway": "console",
        "sms_fallback_gateway": "none",
        "sms_console_file": str(var_dir / "demo-sms.jsonl"),
        "sms_console_echo": True,  # the demo prints every code (README)
        "onec_change_feed": "select_changes",
        "rewards_cashback_percent": "none=5,silver=7,gold=10",  # the shop's tier cashback
    }
    values.update(overrides)
    return load_settings(**values)


@contextmanager
def running_demo(
    var_dir: Path = Path("var"),
    *,
    onec_port: int = 0,
    cabinet_port: int = 0,
    host: str = "127.0.0.1",
    **overrides: Any,
) -> Iterator[DemoStack]:
    """Start the emulated 1C, load the hub from it, seed the demo, run sync, SMS and the cabinet."""
    from web_cabinet.app import create_app as create_cabinet  # the cabinet imports FastAPI: lazily

    for stale in ("demo-hub.sqlite3", "demo-sms.jsonl", "mail-outbox.jsonl"):
        (var_dir / stale).unlink(missing_ok=True)
    with ExitStack() as stack:
        emulator = create_emulator("retail", base=ONEC_BASE, fixtures="demo")
        onec = stack.enter_context(ServerThread(emulator, host=host, port=onec_port))
        onec_url = f"{onec.origin}/{ONEC_BASE}"
        settings = demo_settings(var_dir, onec_base_url=onec_url, **overrides)
        hub = build_hub(settings)
        upgrade(hub.engine)
        ctx = SyncContext.from_settings(settings, hub.engine)
        pull_full(ctx)
        seeded = seed_hub(hub)
        supplier_id, shop_seeded = seed_shop(hub)
        seeded += shop_seeded
        sms = build_sms(settings, hub.engine)
        cabinet = stack.enter_context(
            ServerThread(create_cabinet(settings, hub=hub, sms=sms), host=host, port=cabinet_port)
        )
        demo = DemoStack(
            settings=settings,
            hub=hub,
            sms=sms,
            onec_url=onec_url,
            cabinet_url=cabinet.origin,
            emulator=emulator,
            seeded=seeded,
            supplier_id=supplier_id,
            mail_file=var_dir / "mail-outbox.jsonl",  # /dev/mail reads it under make run
        )
        threads = _start_background(demo, ctx)
        try:
            yield demo
        finally:
            demo.stop.set()
            for thread in threads:
                thread.join(timeout=5)
            hub.engine.dispose()


def _start_background(demo: DemoStack, ctx: SyncContext) -> list[threading.Thread]:
    """The sync (as ``bonusbridge sync run`` does) and an SMS loop sending whatever is due."""
    runner = InlineRunner(ctx)
    relay = Relay(ctx, runner.publish)
    listener = Listener(ctx)
    threads = [
        threading.Thread(target=runner.run, args=(demo.stop,), name="sync-drains", daemon=True),
        threading.Thread(target=relay.run, args=(demo.stop,), name="sync-relay", daemon=True),
        threading.Thread(target=listener.run, args=(demo.stop,), name="sync-listener", daemon=True),
        threading.Thread(target=_sms_loop, args=(demo,), name="sms", daemon=True),
        threading.Thread(target=_mail_loop, args=(demo,), name="mail", daemon=True),
    ]
    for thread in threads:
        thread.start()
    return threads


def _sms_loop(demo: DemoStack, every: float = 2.0) -> None:
    """What Celery beat's SMS sweeps do in production: notices of new movements, then sending."""
    sender, notifier = demo.sms.sender, demo.sms.notifier
    while not demo.stop.wait(every):
        try:
            sender.release_stale_claims()
            notifier.scan_movements()
            for message_id in sender.due_messages():
                sender.send(message_id)
        except Exception as exc:  # a demo thread must survive a bad moment; production retries in Celery
            log.warning("demo SMS pass failed (%s)", type(exc).__name__)


def _mail_loop(demo: DemoStack, every: float = 1.0) -> None:
    """What the mail Celery tasks do in production: send the outbox's due messages, once each, here
    through the console backend (``mail-outbox.jsonl``; the supplier's link included)."""
    from bonusbridge.models import utcnow
    from mail.backends import ConsoleBackend
    from mail.sending import MailSender
    from mail.settings import MailSettings

    path = demo.mail_file or Path("var/mail-outbox.jsonl")
    settings = MailSettings(backend="console", console_file=str(path), base_url=demo.cabinet_url)
    sender = MailSender(
        demo.hub.engine, settings, ConsoleBackend(path), utcnow,
        link_secret=demo.settings.supplier_link_secret.get_secret_value(),
    )  # fmt: skip
    while not demo.stop.wait(every):
        try:
            sender.release_stale_claims()
            for message_id in sender.due_messages():
                sender.send(message_id)
        except Exception as exc:  # a demo thread must survive a bad moment; production retries in Celery
            log.warning("demo mail pass failed (%s)", type(exc).__name__)
