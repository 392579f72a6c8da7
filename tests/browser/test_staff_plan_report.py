"""Issue 16, item 7 in a real browser: a migration staff member logs in, opens /staff/plans and the
plan's Russian report — the reconciliation sheet in points, the invalid phones row by row with their
reasons in words, full phones (the role may see them) — under the report's own policy, no CSP
violation. The screenshot is kept at ``var/test-artifacts/<test name>/plan-report.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bonusbridge.app import Hub
from bonusbridge.ledger.service import LedgerService
from bonusbridge.settings import load_settings
from reconciliation.legacy.synth import generate
from tests.browser.test_staff_progress import PASSWORD, serving
from tests.web_cabinet.staff.test_plans import run_migrate
from web_cabinet.app import create_app
from web_cabinet.staff.auth import Role, create_user

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server(db: Engine, tmp_path: Path) -> Iterator[str]:
    plans = tmp_path / "plans"
    made = generate(tmp_path / "in", programs=3, cards=900, bad_rows=20, share_phone=0.3, seed=11)
    args = [
        "plan",
        *map(str, made.files),
        "--out",
        str(plans / "autumn"),
        "--as-of",
        "2026-11-30T21:00:00+00:00",
    ]
    for mapping in made.mappings:
        args += ["-m", str(mapping)]
    done = run_migrate(args, db)
    assert done.exit_code == 0, done.output
    settings = load_settings(
        sms_gateway="console",
        sms_console_file=str(tmp_path / "sms.jsonl"),
        staff_session_secret="browser-staff-secret",
        migration_plans_dir=str(plans),
    )
    with serving(
        create_app(settings, hub=Hub(settings=settings, engine=db, ledger=LedgerService(db)))
    ) as url:
        yield url


def test_migration_staff_read_the_plan_report(browser: Any, server: str, db: Engine, artifacts: Path) -> None:
    create_user(db, "olga", PASSWORD, [Role.MIGRATION])
    context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{server}/staff/plans")
    page.wait_for_url(re.compile(r"/staff/login"))
    page.get_by_label("Логин").fill("olga")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.locator("#staff-login").click()
    page.wait_for_url(re.compile(r"/staff/(?!login)"))
    page.locator("#nav-plans").click()
    page.wait_for_url(re.compile(r"/staff/plans$"))
    page.screenshot(path=str(artifacts / "plans.png"), full_page=True)
    page.locator('tr[data-plan="autumn"] a', has_text="RU").click()
    page.wait_for_url(re.compile(r"/staff/plans/autumn/report\.ru\.html"))
    assert page.get_by_role("heading", name="Сверка баллов по программам").is_visible()
    assert page.locator("text=слишком короткий").count() + page.locator("text=есть буквы").count() > 0
    # The migration role sees full phones: some cell holds a whole +7 number.
    assert re.search(r"\+7\d{10}", page.content())
    # The report's own inline style applies (headers shaded), nothing blocked.
    shade = page.eval_on_selector("th", "cell => getComputedStyle(cell).backgroundColor")
    assert shade == "rgb(238, 238, 238)"
    page.screenshot(path=str(artifacts / "plan-report.png"), full_page=False)
    assert (artifacts / "plan-report.png").stat().st_size > 5000
    assert violations == []
    context.close()
