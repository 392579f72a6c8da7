"""The sync's processes as deployed, for the fault tests: ``bonusbridge sync relay | listen | worker``
started as real subprocesses (so a test can ``kill -9`` one), plus a few looks into RabbitMQ.

A process is started as ``python -m tests.sync.processes sync <command>``: the product's own
``bonusbridge`` command line, run by this interpreter. Each test gives its processes broker queues
of their own (``BONUSBRIDGE_CELERY_QUEUE``, ``BONUSBRIDGE_ONEC_AMQP_QUEUE``), so several test runs
sharing one RabbitMQ never eat each other's messages; every ``sync worker`` names its Celery node
after its pid, so several run on one host.

Every process runs in a session (process group) of its own: ``kill9`` ends the whole group — a
Celery worker's pool children with it, as when a machine or container dies — and only that group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


def wait_for(check: Callable[[], T], *, timeout: float, what: str, every: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy (returned) or ``timeout`` passes (fails,
    naming ``what``). The way these tests wait: never a bare sleep standing in for a condition."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what} (last: {value!r})")
        time.sleep(every)


class SyncProcess:
    """One ``bonusbridge sync …`` subprocess, its output in ``log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = dict(env)
        self.log = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> SyncProcess:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "tests.sync.processes", *self.args],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the process and everything it started (its process group): no clean-up runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        assert self.popen is not None
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the process (the commands stop cleanly on it; a Celery worker then stops its
        pool), SIGKILL to the group if that takes longer than ``timeout``."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)  # in case a test left it paused
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)  # stragglers of the group (pool children)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the process hangs as it is (its connections stay open, unanswered)."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def output(self, last: int = 80) -> str:
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-last:])


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a Celery worker's pool processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


# --- RabbitMQ --------------------------------------------------------------------------------------


def queue_state(url: str, queue: str) -> tuple[int, int] | None:
    """(ready messages, consumers) of ``queue``, or None if it does not exist (a passive declare)."""
    import kombu

    with kombu.Connection(url, connect_timeout=5) as connection:
        channel = connection.channel()
        try:
            ok = channel.queue_declare(queue=queue, passive=True)
        except connection.channel_errors:
            return None
        finally:
            with contextlib.suppress(Exception):
                channel.close()
    return int(ok.message_count), int(ok.consumer_count)


def delete_broker_objects(url: str, queues: list[str], exchanges: list[str]) -> None:
    """Remove what a test declared (each on its own channel: a missing one closes the channel)."""
    import kombu

    with kombu.Connection(url, connect_timeout=5) as connection:
        for kind, names in (("queue_delete", queues), ("exchange_delete", exchanges)):
            for name in names:
                channel = connection.channel()
                try:
                    getattr(channel, kind)(name)
                except Exception:
                    pass
                finally:
                    with contextlib.suppress(Exception):
                        channel.close()


def publish_raw(url: str, exchange: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish (routing key, body) pairs to a topic exchange as 1C's add-in does, with confirms."""
    import kombu

    with kombu.Connection(url, connect_timeout=5, transport_options={"confirm_publish": True}) as conn:
        producer = kombu.Producer(
            conn.channel(), exchange=kombu.Exchange(exchange, type="topic", durable=True)
        )
        for routing_key, body in messages:
            producer.publish(
                body,
                routing_key=routing_key,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )


def declare_tap(url: str, exchange: str, queue: str) -> None:
    """A durable queue bound to everything on topic ``exchange`` (which it declares too)."""
    import kombu

    topic = kombu.Exchange(exchange, type="topic", durable=True)
    with kombu.Connection(url, connect_timeout=5) as connection:
        kombu.Queue(queue, exchange=topic, routing_key="#", durable=True)(
            connection.default_channel
        ).declare()


def take_all(url: str, queue: str) -> list[tuple[str, bytes]]:
    """Every message waiting in ``queue``, in order, as (routing key, raw body); removed from it."""
    import kombu

    taken = []
    with kombu.Connection(url, connect_timeout=5) as connection:
        bound = kombu.Queue(queue, durable=True)(connection.default_channel)
        while (message := bound.get(no_ack=True, accept=["json"])) is not None:
            body = message.body
            taken.append(
                (
                    str(message.delivery_info["routing_key"]),
                    body if isinstance(body, bytes) else body.encode(),
                )
            )
    return taken


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


def queue_messages(queue: str) -> int:
    """Messages in ``queue``, ready or delivered and not yet acknowledged (``rabbitmqctl``)."""
    for line in rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", "messages").splitlines():
        name, _, count = line.strip().rpartition("\t")
        if name == queue:
            return int(count)
    raise AssertionError(f"RabbitMQ has no queue {queue}")


def broker_reachable(url: str) -> bool:
    import kombu

    try:
        with kombu.Connection(url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception:
        return False
    return True


@contextlib.contextmanager
def rabbitmq_stopped(url: str) -> Iterator[None]:
    """``rabbitmqctl stop_app`` … ``start_app``: the broker really goes away (every connection is
    refused, non-durable queues vanish, durable queues and persistent messages come back). Started
    again however the block ends, and waited for."""
    rabbitmqctl("stop_app")
    try:
        wait_for(lambda: not broker_reachable(url), timeout=20, what="RabbitMQ to refuse connections")
        yield
    finally:
        start_rabbitmq(url)


def start_rabbitmq(url: str) -> None:
    if broker_reachable(url):
        return
    rabbitmqctl("start_app")
    with contextlib.suppress(Exception):
        rabbitmqctl("await_startup")
    wait_for(lambda: broker_reachable(url), timeout=60, what="RabbitMQ to accept connections again")


# --- the child side: `python -m tests.sync.processes sync <command>` --------------------------------


def main(argv: list[str]) -> None:
    from bonusbridge.cli import main as bonusbridge

    sys.argv = ["bonusbridge", *argv]
    bonusbridge()


if __name__ == "__main__":
    main(sys.argv[1:])
