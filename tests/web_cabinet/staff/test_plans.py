"""Issue 16, item 7: staff read a migration plan's report at /staff/plans — in Russian or English,
every list paged — with full phones only for the roles allowed to see them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from bonusbridge.settings import Settings, get_settings
from reconciliation.legacy import report as report_module
from reconciliation.legacy.cli import app as migrate
from reconciliation.legacy.synth import generate
from tests.web_cabinet.staff.conftest import staff_log_in

AS_OF = "2026-11-30T21:00:00+00:00"


def run_migrate(args: list[str], db: Any) -> Result:
    """``bonusbridge migrate …`` on this test's database: the process's cached settings (another
    test, or the demo's tasks, may have read them first) are dropped before and after."""
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(
            migrate, args, env={"BONUSBRIDGE_DATABASE_URL": db.url.render_as_string(False)}
        )
    finally:
        get_settings.cache_clear()


@pytest.fixture
def plans(tmp_path: Path) -> Path:
    return tmp_path / "plans"


@pytest.fixture
def settings(settings: Settings, plans: Path) -> Settings:
    return settings.model_copy(update={"migration_plans_dir": str(plans)})


@pytest.fixture
def a_plan(plans: Path, tmp_path: Path, db: Any) -> dict[str, Any]:
    made = generate(tmp_path / "in", programs=2, cards=400, bad_rows=10, share_phone=0.3, seed=7)
    args = ["plan", *map(str, made.files), "--out", str(plans / "spring-2026"), "--as-of", AS_OF]
    for mapping in made.mappings:
        args += ["-m", str(mapping)]
    result = run_migrate(args, db)
    assert result.exit_code == 0, result.output
    return json.loads((plans / "spring-2026" / "report.json").read_text(encoding="utf-8"))


def test_staff_read_a_plan_s_report_phones_in_full_only_for_migration_and_admin(
    app: Any, staff: dict[str, str], a_plan: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "PAGE", 20)
    phone = a_plan["lists"]["phone"][0]["phone"]
    seen = {}
    for role in ("viewer", "migration", "admin"):
        client = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
        staff_log_in(client, role)
        listing = client.get("/staff/plans")
        assert listing.status_code == 200 and 'data-plan="spring-2026"' in listing.text
        page = client.get("/staff/plans/spring-2026/report.ru.html")
        assert page.status_code == 200, page.text
        assert "Сверка баллов по программам" in page.text
        assert "script-src" not in page.headers["content-security-policy"]
        seen[role] = phone in page.text
        english = client.get("/staff/plans/spring-2026/report.en.html")
        assert "Reconciliation in points" in english.text
        # Every duplicate group, paged: the last page links back and holds the last group.
        last = -(-len(a_plan["lists"]["phone"]) // 20)
        tail = client.get(f"/staff/plans/spring-2026/report.en.phone-{last}.html")
        assert tail.status_code == 200 and a_plan["lists"]["phone"][-1]["id"] in tail.text
        assert "/staff/plans/spring-2026/report.en.html" in tail.text
        assert client.get(f"/staff/plans/spring-2026/report.en.phone-{last + 1}.html").status_code == 404
    assert seen == {"viewer": False, "migration": True, "admin": True}


@pytest.mark.parametrize(
    "path",
    [
        "/staff/plans/nope/report.ru.html",
        "/staff/plans/spring-2026/report.de.html",
        "/staff/plans/spring-2026/plan.json",
        "/staff/plans/spring-2026/report.ru.bogus-1.html",
        "/staff/plans/..%2F..%2Fetc/report.ru.html",
        "/staff/plans/spring-2026/report.ru.phone-0.html",
    ],
)
def test_anything_but_a_listed_plan_s_report_page_is_a_localized_404(
    app: Any, staff: dict[str, str], a_plan: dict[str, Any], path: str
) -> None:
    client = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
    staff_log_in(client, "migration")
    answer = client.get(path)
    assert answer.status_code == 404
    assert "Traceback" not in answer.text


def test_the_plans_page_needs_a_login_and_says_when_the_folder_is_empty(
    app: Any, staff: dict[str, str]
) -> None:
    client = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
    assert client.get("/staff/plans").status_code == 303
    staff_log_in(client, "viewer")
    assert "нет ни одного плана" in client.get("/staff/plans").text


def test_phone_problems_are_words_in_the_report_s_language(
    app: Any, staff: dict[str, str], a_plan: dict[str, Any]
) -> None:
    client = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
    staff_log_in(client, "migration")
    reasons = {row["reason"] for row in a_plan["lists"]["invalid_phone"]}
    assert reasons, "the generated files plant invalid phones"
    ru = client.get("/staff/plans/spring-2026/report.ru.html").text
    en = client.get("/staff/plans/spring-2026/report.en.html").text
    for code in reasons:
        assert f"<td>{code}" not in ru and f"<td>{code}" not in en
        assert report_module.phone_reason(code, "ru") in ru
