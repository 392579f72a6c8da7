"""Issue 16, item 8: every Celery task of every package is bound to the hub's Celery app, so it is
sent to ``BONUSBRIDGE_BROKER_URL`` and ``BONUSBRIDGE_CELERY_QUEUE`` from any process — also from
``bonusbridge serve``, which never builds the hub's app itself. Bound to Celery's default app, the
login code's SMS went to amqp://localhost, queue "celery", and arrived only through beat's sweep.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from kombu import Connection

from tests.conftest import REQUIRE_SERVICES, require_service
from tests.sync.processes import ROOT, SyncProcess, delete_broker_objects, wait_for

#: Run in a fresh interpreter, as ``bonusbridge serve`` is, and looked at from another thread, as
#: a request handler runs in uvicorn's thread pool (Celery's "current app" is per thread).
_PROBE = """
import importlib, json, threading
from bonusbridge.celery_app import task_modules
found = {}
def look():
    for module_name in task_modules():
        module = importlib.import_module(module_name)
        for attr, value in vars(module).items():
            if attr.startswith("_") or not callable(value) or not hasattr(value, "delay"):
                continue
            app = value.app
            found[f"{module_name}.{attr}"] = [str(app.conf.broker_url), str(app.conf.task_default_queue)]
thread = threading.Thread(target=look)
thread.start()
thread.join()
print(json.dumps(found))
"""


def test_every_task_of_every_package_is_bound_to_the_hubs_app(tmp_path):
    """Imported first by a process that never built the hub's app, each task module's tasks still
    publish to the configured broker and queue (not to Celery's default app)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BONUSBRIDGE_")}
    env.update(
        BONUSBRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'probe.sqlite3'}",
        BONUSBRIDGE_BROKER_URL="amqp://someone:secret@broker.example.invalid:5672/hub",
        BONUSBRIDGE_CELERY_QUEUE="hub-tasks",
    )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    expected_tasks = {
        "sms.tasks.send",
        "sms.tasks.dispatch_due",
        "connectors.sync.tasks.deliver",
        "connectors.sync.tasks.apply",
        "reconciliation.tasks.nightly_drift",
        "bonusbridge.tasks.review_tiers",
    }
    assert expected_tasks <= set(found), sorted(found)
    wrong = {
        name: where
        for name, where in found.items()
        if where != ["amqp://someone:secret@broker.example.invalid:5672/hub", "hub-tasks"]
    }
    assert wrong == {}, f"tasks not bound to the hub's app: {sorted(wrong)}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _real_broker() -> str:
    url = os.environ.get("BONUSBRIDGE_BROKER_URL", "memory://")
    if url.startswith("memory"):
        if REQUIRE_SERVICES:
            pytest.fail("BONUSBRIDGE_REQUIRE_SERVICES=1 but BONUSBRIDGE_BROKER_URL is not a real broker")
        require_service("RabbitMQ", "BONUSBRIDGE_BROKER_URL is memory://")
    try:
        with Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        require_service("RabbitMQ", f"{type(exc).__name__}")
    return url


def _sent_lines(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.services
@pytest.mark.timeout(120)
def test_serve_sends_the_login_codes_sms_through_the_configured_broker_and_queue_within_a_second(
    db, tmp_path
):
    """``bonusbridge serve`` and one Celery worker of the hub's app, on the real RabbitMQ with a
    queue that is not "celery": a login code asked for over HTTP leaves as an SMS within a second
    (no beat runs, so only the task message the request sent can send it)."""
    broker = _real_broker()
    queue = f"bb-test-hubapp-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    outbox = tmp_path / "sms.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BONUSBRIDGE_")}
    env.update(
        BONUSBRIDGE_DATABASE_URL=db.url.render_as_string(hide_password=False),
        BONUSBRIDGE_BROKER_URL=broker,
        BONUSBRIDGE_CELERY_QUEUE=queue,
        BONUSBRIDGE_SMS_GATEWAY="console",
        BONUSBRIDGE_SMS_CONSOLE_FILE=str(outbox),
        BONUSBRIDGE_CABINET_HOST="127.0.0.1",
        BONUSBRIDGE_CABINET_PORT=str(port),
        PGAPPNAME="bb-test-hubapp",
    )
    serve = SyncProcess("serve", ["serve"], env, tmp_path)
    worker = SyncProcess(
        "worker",
        ["sync", "worker", "--queues", "inbound"],  # the hub app's default queue: every task but deliveries
        env,
        tmp_path,
    )
    try:
        worker.start()
        serve.start()

        def answering() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answering, timeout=60, what="bonusbridge serve to answer")
        wait_for(lambda: "ready" in worker.output(), timeout=60, what="the Celery worker to be ready")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            page = client.get("/login")
            token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            answer = client.post("/login/phone", data={"phone": "+7 916 700-11-22", "csrf_token": token})
            answered = time.time()
        assert answer.status_code == 303, answer.text
        line = wait_for(
            lambda: next((r for r in _sent_lines(outbox) if r["phone"] == "+79167001122"), None),
            timeout=30,
            what="the login code's SMS",
            every=0.02,
        )
        sent_at = line["at"]
        from datetime import datetime

        delay = datetime.fromisoformat(sent_at).timestamp() - answered
        assert delay < 1.0, f"the code's SMS left {delay:.2f} s after the answer"
    finally:
        serve.stop()
        worker.stop()
        delete_broker_objects(broker, [queue, f"{queue}.outbound"], [queue])
