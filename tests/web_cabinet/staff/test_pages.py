"""The staff pages: progress (figures, snapshots, chart), imports (counts; details by role), drift
and the merge log with unmerge (on stand-ins for the reconciliation engines when they are not
there yet), headers, languages, masking."""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from bonusbridge.errors import BonusBridgeError
from bonusbridge.models import (
    CardStatus,
    LegacyImportBatch,
    LegacyImportIssue,
    LegacyImportRun,
    ProgressSnapshot,
)
from reconciliation.progress import ProgressPoint, record_progress
from tests.conftest import FakeClock
from tests.web_cabinet.conftest import World
from tests.web_cabinet.staff.conftest import csrf_of, staff_log_in

VERIFIED = datetime(2026, 1, 1, tzinfo=UTC)


def seed_cards(world: World) -> None:
    """5 cards: 4 active (one accumulation-only), 2 of them bound to a verified phone; one blocked."""
    verified = world.customer(phone_e164="+79160000001", phone_verified_at=VERIFIED)
    verified2 = world.customer(phone_e164="+79160000002", phone_verified_at=VERIFIED)
    unverified = world.customer(phone_e164="+79160000003")
    world.card("100001", customer_id=verified, phone="+79160000001")
    world.card("100002", customer_id=verified2, status=CardStatus.ACCUMULATION_ONLY)
    world.card("100003", customer_id=unverified)
    world.card("100004")
    world.card("100005", customer_id=verified, status=CardStatus.BLOCKED)


def test_progress_counts_active_cards_bound_to_a_verified_phone(
    world: World, db: Engine, clock: FakeClock
) -> None:
    seed_cards(world)
    point = record_progress(db, clock=clock)
    assert point == ProgressPoint(date(2026, 1, 15), 4, 2)
    assert point.share == 50
    assert ProgressPoint(date(2026, 1, 15), 0, 0).share == 0
    assert str(ProgressPoint(date(2026, 1, 15), 3, 1).share) == "33.33"


def test_record_progress_is_idempotent_per_day_and_past_days_are_frozen(
    world: World, db: Engine, clock: FakeClock
) -> None:
    seed_cards(world)
    record_progress(db, clock=clock)
    record_progress(db, clock=clock)
    world.customer(phone_e164="+79160000009", phone_verified_at=VERIFIED)
    world.card("100009", customer_id=world.customer(phone_e164="+79160000008", phone_verified_at=VERIFIED))
    assert record_progress(db, clock=clock) == ProgressPoint(date(2026, 1, 15), 5, 3)  # today: updated
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(ProgressSnapshot)) == 1
    clock.advance(timedelta(days=1))
    world.card("100010")
    # yesterday stays as it was recorded; a day never recorded is not invented
    assert record_progress(db, date(2026, 1, 15), clock=clock) == ProgressPoint(date(2026, 1, 15), 5, 3)
    assert record_progress(db, date(2026, 1, 10), clock=clock) is None
    assert record_progress(db, clock=clock) == ProgressPoint(date(2026, 1, 16), 6, 3)


def test_the_progress_page_draws_the_days_and_records_today(
    client: TestClient, staff: dict[str, str], world: World, db: Engine, clock: FakeClock
) -> None:
    seed_cards(world)
    record_progress(db, clock=clock)  # 15th: 2 of 4
    clock.advance(timedelta(days=1))
    world.card("100020", customer_id=world.customer(phone_e164="+79160000020", phone_verified_at=VERIFIED))
    record_progress(db, clock=clock)  # 16th: 3 of 5
    clock.advance(timedelta(days=2))  # the 17th was missed: a gap
    world.card("100030", customer_id=world.customer(phone_e164="+79160000030", phone_verified_at=VERIFIED))
    staff_log_in(client, "viewer")
    page = client.get("/staff/progress", headers={"accept-language": "en"})
    assert page.status_code == 200
    rows = re.findall(r'<tr data-day="([\d-]+)">.*?class="num share">([\d.]+)<', page.text)
    assert rows == [("2026-01-15", "50.00"), ("2026-01-16", "60.00"), ("2026-01-18", "66.67")]
    assert "Today 66.67% (4 of 6)" in page.text
    bars = re.findall(r'<rect class="bar" data-day="([\d-]+)" data-share="([\d.]+)"', page.text)
    assert bars == [("2026-01-15", "50.00"), ("2026-01-16", "60.00"), ("2026-01-18", "66.67")]
    assert 'role="img"' in page.text and "<polyline" in page.text
    with Session(db) as session:  # the view recorded today's snapshot
        today = session.get(ProgressSnapshot, date(2026, 1, 18))
        assert today is not None and (today.active_cards, today.bound_verified) == (6, 4)
    assert client.get("/staff/progress?days=1").status_code == 422


def test_pages_carry_the_security_headers_and_no_inline_code(
    client: TestClient, staff: dict[str, str]
) -> None:
    staff_log_in(client, "admin")
    for path in ("/staff/progress", "/staff/imports", "/staff/merges", "/staff/drift", "/staff/login"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert "<script" not in page.text and "style=" not in page.text and "<style" not in page.text
    assert client.get("/staff/").headers["location"] == "/staff/progress"


def test_russian_by_default_and_english_by_the_switcher(client: TestClient, staff: dict[str, str]) -> None:
    staff_log_in(client, "viewer")
    page = client.get("/staff/progress")
    assert 'lang="ru"' in page.text and "Карты, привязанные" in page.text
    switched = client.post(
        "/staff/lang", data={"lang": "en", "next": "/staff/imports", "csrf_token": csrf_of(page.text)}
    )
    assert switched.headers["location"] == "/staff/imports"
    assert "Legacy program imports" in client.get("/staff/imports").text
    evil = client.post(
        "/staff/lang", data={"lang": "en", "next": "//evil.example/", "csrf_token": csrf_of(page.text)}
    )
    assert evil.headers["location"] == "/staff/"


# --- imports ----------------------------------------------------------------------------------------


@pytest.fixture
def an_import(db: Engine) -> str:
    plan = "ab" * 32
    with Session(db) as session:
        session.add(
            LegacyImportRun(
                plan_hash=plan,
                as_of=VERIFIED,
                cards=3,
                batches=2,
                sources='[{"file": "/srv/exports/sad_club.xlsx", "program": "sad_club", "sha256": "x"}]',
                started_at=VERIFIED,
                finished_at=VERIFIED + timedelta(minutes=1),
            )
        )
        session.flush()
        session.add_all(
            [
                LegacyImportBatch(
                    plan_hash=plan, batch_no=0, cards=2, created=1, skipped=1, done_at=VERIFIED
                ),
                LegacyImportBatch(
                    plan_hash=plan, batch_no=1, cards=1, created=1, skipped=0, done_at=VERIFIED
                ),
                LegacyImportIssue(
                    plan_hash=plan,
                    batch_no=0,
                    program_code="sad_club",
                    card_number="7700123456789",
                    source=0,
                    line=17,
                    kind="changed_since_plan",
                    detail="phone differs",
                ),
            ]
        )
        session.commit()
    return plan


def test_imports_list_counts_per_run(client: TestClient, staff: dict[str, str], an_import: str) -> None:
    staff_log_in(client, "viewer")
    page = client.get("/staff/imports").text
    row = re.search(rf'<tr data-plan="{an_import}">(.*?)</tr>', page, re.S)
    assert row
    assert "2/2" in row.group(1)
    assert re.search(r'class="num created">2<', row.group(1)) and re.search(
        r'class="num skipped">1<', row.group(1)
    )
    assert re.search(r'class="num issues">1<', row.group(1))


def test_a_viewer_sees_issue_counts_and_migration_sees_the_issues(
    app: Any, staff: dict[str, str], an_import: str
) -> None:
    viewer = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
    staff_log_in(viewer, "viewer")
    page = viewer.get(f"/staff/imports/{an_import}").text
    assert 'data-kind="changed_since_plan"' in page and 'id="issues-hidden"' in page
    assert "7700123456789" not in page and "sad_club.xlsx" in page and "/srv/exports" not in page

    migration = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
    staff_log_in(migration, "migration")
    page = migration.get(f"/staff/imports/{an_import}").text
    assert 'class="card-number">7700123456789<' in page and "phone differs" in page and ">17<" in page
    assert migration.get("/staff/imports/unknown").status_code == 404


# --- drift and merges, on stand-ins of the engines' documented interface ------------------------------


@dataclass
class FakeMerge:
    id: int
    absorbed_card_number: str
    target_card_number: str
    customer_phone: str
    actor: str
    unmerged_at: datetime | None = None


@dataclass
class FakeMerges:
    entries: list[FakeMerge]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def module(self) -> types.ModuleType:
        module = types.ModuleType("reconciliation.merges")

        def list_merges(session: Session, *, limit: int = 100, offset: int = 0) -> list[FakeMerge]:
            return self.entries[offset : offset + limit]

        def unmerge(
            uow: Any, merge_id: int, *, actor: Any, reason: str, key: str, allow_partial: bool = False
        ) -> object:
            call = {"merge_id": merge_id, "actor": actor, "reason": reason, "key": key}
            self.calls.append(call | ({"allow_partial": True} if allow_partial else {}))
            if merge_id == 99:
                raise BonusBridgeError("merge 99 was undone already")
            return object()

        def merge_exists(session: Session, merge_id: int) -> bool:
            return any(entry.id == merge_id for entry in self.entries)

        module.list_merges = list_merges  # type: ignore[attr-defined]
        module.merge_exists = merge_exists  # type: ignore[attr-defined]
        module.unmerge = unmerge  # type: ignore[attr-defined]
        return module


@pytest.fixture
def fake_merges(monkeypatch: pytest.MonkeyPatch) -> FakeMerges:
    fake = FakeMerges(
        [
            FakeMerge(7, "2000000000035", "2000000000011", "+79161234567", "customer"),
            FakeMerge(8, "2000000000042", "2000000000011", "+79161234567", "staff:anna", VERIFIED),
        ]
    )
    monkeypatch.setitem(sys.modules, "reconciliation.merges", fake.module())
    return fake


def test_the_merge_log_masks_and_offers_unmerge_to_admins_only(
    app: Any, staff: dict[str, str], fake_merges: FakeMerges
) -> None:
    viewer = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
    staff_log_in(viewer, "viewer")
    page = viewer.get("/staff/merges").text
    assert "+79161234567" not in page and "+7***67" in page
    assert "2000000000035" not in page and "•••••••••0035" in page
    assert "/unmerge" not in page
    assert viewer.get("/staff/merges/7/unmerge").status_code == 403
    post = viewer.post(
        "/staff/merges/7/unmerge", data={"reason": "x", "form_id": "a" * 32, "csrf_token": csrf_of(page)}
    )
    assert post.status_code == 403 and fake_merges.calls == []

    admin = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
    staff_log_in(admin, "admin")
    page = admin.get("/staff/merges").text
    assert 'href="/staff/merges/7/unmerge"' in page
    assert 'href="/staff/merges/8/unmerge"' not in page  # undone already
    assert "2000000000035" in page  # admins need the number to find the card


def test_unmerge_through_the_page_needs_a_reason_and_records_the_actor(
    client: TestClient, staff: dict[str, str], fake_merges: FakeMerges
) -> None:
    staff_log_in(client, "admin")
    form = client.get("/staff/merges/7/unmerge")
    assert form.status_code == 200 and 'id="unmerge-form"' in form.text
    form_id = re.search(r'name="form_id" value="([0-9a-f]{32})"', form.text)
    assert form_id
    data = {"csrf_token": csrf_of(form.text), "form_id": form_id.group(1)}
    empty = client.post("/staff/merges/7/unmerge", data={**data, "reason": "  "})
    assert empty.status_code == 422 and 'id="reason-error"' in empty.text and fake_merges.calls == []
    done = client.post("/staff/merges/7/unmerge", data={**data, "reason": "wrong customer"})
    assert done.status_code == 303 and done.headers["location"] == "/staff/merges"
    assert fake_merges.calls == [
        {
            "merge_id": 7,
            "actor": "staff:admin",
            "reason": "wrong customer",
            "key": f"staff-unmerge:7:{form_id.group(1)}",
        }
    ]
    assert 'id="flash"' in client.get("/staff/merges").text
    failed = client.post("/staff/merges/99/unmerge", data={**data, "reason": "again"})
    assert failed.status_code == 303
    assert "undone already" in client.get("/staff/merges").text
    partial = client.post("/staff/merges/7/unmerge", data={**data, "reason": "spent", "allow_partial": "yes"})
    assert partial.status_code == 303 and fake_merges.calls[-1]["allow_partial"] is True


def test_without_the_engines_the_pages_say_so(
    client: TestClient, staff: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "reconciliation.merges", None)
    monkeypatch.setitem(sys.modules, "reconciliation.drift", None)
    staff_log_in(client, "admin")
    assert 'id="not-available"' in client.get("/staff/merges").text
    assert 'id="not-available"' in client.get("/staff/drift").text
    assert client.get("/staff/drift/1").status_code == 404


def test_drift_reports_list_and_one_report(
    client: TestClient, staff: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = types.ModuleType("reconciliation.drift")
    reports = {
        3: {
            "id": 3,
            "started_at": VERIFIED,
            "cards_compared": 120,
            "drifted": 1,
            "items": [
                {"id": 1, "field": "last_name", "hub_value": "Иванова", "onec_value": "Иванов", "hub_id": 5},
                {"id": 2, "field": "balance", "hub_value": "10.00", "onec_value": "12.50", "hub_id": 6},
            ],
            "entries": [
                {"card_number": "2000000000035", "hub": "10.00", "onec": "12.00", "phone": "+79161234567"}
            ],
        }
    }

    def list_drift_reports(session: Session, limit: int) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in ("entries", "items")} for r in reports.values()][
            :limit
        ]

    def drift_report(session: Session, report_id: int) -> dict[str, Any] | None:
        return reports.get(report_id)

    module.list_drift_reports = list_drift_reports  # type: ignore[attr-defined]
    module.drift_report = drift_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "reconciliation.drift", module)
    staff_log_in(client, "viewer")
    listing = client.get("/staff/drift").text
    assert 'href="/staff/drift/3"' in listing and "120" in listing
    report = client.get("/staff/drift/3").text
    assert "12.00" in report and "•••••••••0035" in report and "+79161234567" not in report
    assert "Иванова" not in report and "И***" in report and "12.50" in report  # names masked, sums not
    assert client.get("/staff/drift/4").status_code == 404
