"""The staff progress chart in a real browser: a staff member logs in, opens the progress page with
a week of snapshots, and the chart (inline SVG drawn on the server) renders under the strict CSP.
The screenshot is kept at ``var/test-artifacts/<test name>/progress.png``."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bonusbridge.app import Hub
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, CardStatus, Customer, Origin, Program, ProgressSnapshot
from bonusbridge.settings import load_settings
from web_cabinet.app import create_app
from web_cabinet.staff.auth import Role, create_user

pytestmark = pytest.mark.timeout(120)

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread, for the test's duration."""
    port = free_port()
    runner = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        runner.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(db: Engine, tmp_path: Path) -> Iterator[str]:
    settings = load_settings(
        sms_gateway="console",
        sms_console_file=str(tmp_path / "sms.jsonl"),
        staff_session_secret="browser-staff-secret",
    )
    with serving(
        create_app(settings, hub=Hub(settings=settings, engine=db, ledger=LedgerService(db)))
    ) as url:
        yield url


def seed(db: Engine) -> None:
    """Today: 10 active cards, 7 bound to a verified phone; six earlier days of snapshots rising."""
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow")).date()
    with Session(db) as session:
        program = Program(code="dobrostroy", name="Dobrostroy")
        session.add(program)
        session.flush()
        for n in range(10):
            customer = Customer(
                phone_e164=f"+7916444{n:04d}",
                phone_verified_at=datetime(2026, 1, 1, tzinfo=UTC) if n < 7 else None,
                changed_by=Origin.ONEC,
            )
            session.add(customer)
            session.flush()
            status = CardStatus.ACTIVE if n % 2 else CardStatus.ACCUMULATION_ONLY
            session.add(
                Card(program_id=program.id, number=f"77000{n:04d}", status=status, customer_id=customer.id)
            )
        for back, bound in zip(range(6, 0, -1), (1, 2, 2, 4, 5, 6), strict=True):
            session.add(
                ProgressSnapshot(day=today - timedelta(days=back), active_cards=10, bound_verified=bound)
            )
        session.commit()
    create_user(db, "anna", PASSWORD, [Role.VIEWER])


def test_a_staff_member_sees_the_progress_chart(
    browser: Any, server: str, db: Engine, artifacts: Path
) -> None:
    seed(db)
    context = browser.new_context(locale="ru-RU", viewport={"width": 1100, "height": 900})
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{server}/staff/progress")
    page.wait_for_url(re.compile(r"/staff/login"))
    page.get_by_label("Логин").fill("anna")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.locator("#staff-login").click()
    page.wait_for_url(re.compile(r"/staff/progress"))
    chart = page.locator("#progress-chart")
    chart.wait_for()
    assert page.locator("#progress-chart rect.bar").count() == 7
    assert page.locator("#progress-table tbody tr").count() == 7
    assert page.locator("#progress-table tbody tr").last.locator(".share").inner_text() == "70.00"
    # staff.css applies (the CSP allows our own stylesheet): bars are filled with its colour
    fill = page.eval_on_selector("#progress-chart rect.bar", "bar => getComputedStyle(bar).fill")
    assert fill == "rgb(143, 184, 227)"
    page.screenshot(path=str(artifacts / "progress.png"), full_page=True)
    assert (artifacts / "progress.png").stat().st_size > 5000
    assert violations == []
    context.close()
