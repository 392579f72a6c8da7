"""The points program in the staff back office (issue 8, item 1): ``viewer`` reads it, ``migration``
gets 403, ``marketing`` (and ``admin``) add a version and a campaign and end a campaign — each with
a reason, under CSRF, once per form, audited and shown in the audit list; refusals are shown by
field in ru and en and write nothing."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from bonusbridge import audit
from bonusbridge.models import PointsCampaign, PointsProgramVersion, StaffAudit
from bonusbridge.points import editing
from bonusbridge.points import store as points_store
from bonusbridge.settings import Settings
from tests.conftest import FakeClock
from tests.web_cabinet.staff import conftest as staff_fixtures
from tests.web_cabinet.staff.conftest import csrf_of, staff_log_in
from web_cabinet.staff.program_forms import SETTING_KINDS

# The staff tests' fixtures, used here by name: the staff pages' settings (their session secret)
# and one staff user per role (login = role name).
settings = staff_fixtures.settings
staff = staff_fixtures.staff

FORM_ID = re.compile(r'name="form_id" value="([0-9a-f]{32})"')
# 2026-01-15 10:00 UTC is 13:00 in Moscow, the pages' zone (``sms_default_time_zone``)
SOON = "2026-01-16T09:30"  # local: 06:30 UTC the next day


@pytest.fixture(autouse=True)
def english(client: TestClient) -> None:
    client.cookies.set("bb_lang", "en")


def log_in(client: TestClient, login: str) -> None:
    assert staff_log_in(client, login).status_code == 303


def counts(db: Engine) -> tuple[int, int, int]:
    with db.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(PointsProgramVersion)).scalar_one(),
            conn.execute(select(func.count()).select_from(PointsCampaign)).scalar_one(),
            conn.execute(select(func.count()).select_from(StaffAudit)).scalar_one(),
        )


def form_fields(page: str, form: str) -> dict[str, Any]:
    """The fields of ``<form id=FORM>`` as the browser would send them, unchanged."""
    section = page.split(f'id="{form}"', 1)[1].split("</form>", 1)[0]
    fields: dict[str, Any] = {}
    for tag in re.findall(r"<input[^>]*>", section):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and value and 'type="checkbox"' not in tag:
            fields[name.group(1)] = value.group(1)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', section, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        fields[name] = chosen.group(1) if chosen else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', section, re.S):
        fields[name] = text
    return {name: html.unescape(value) for name, value in fields.items()}  # weekdays: none ticked


def new_version(client: TestClient, **changes: str) -> Any:
    page = client.get("/staff/program/versions/new")
    assert page.status_code == 200, page.text
    data = {**form_fields(page.text, "version-form"), "effective_from": SOON, "reason": "spring", **changes}
    return client.post("/staff/program/versions", data=data)


def new_campaign(client: TestClient, **fields: Any) -> Any:
    page = client.get("/staff/program/campaigns/new")
    assert page.status_code == 200, page.text
    data = {
        **form_fields(page.text, "campaign-form"),
        "code": "thu-x3",
        "multiplier": "3",
        "starts_at": "",
        "ends_at": "2026-02-15T00:00",
        "reason": "thursday promo",
        **fields,
    }
    return client.post("/staff/program/campaigns", data=data)


def row(page: str, table: str, attr: str, value: object) -> str:
    section = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    match = re.search(rf'<tr data-{attr}="{re.escape(str(value))}"[^>]*>(.*?)</tr>', section, re.S)
    assert match, f"no row {attr}={value} in #{table}"
    return match.group(1)


def test_viewer_reads_the_program_without_the_forms(client: TestClient, staff: dict[str, str]) -> None:
    log_in(client, "viewer")
    page = client.get("/staff/program")
    assert page.status_code == 200, page.text
    assert 'id="program-read-only"' in page.text and 'id="current-settings"' in page.text
    assert 'id="program-default"' in page.text  # no version stored: the settings' default program
    assert "add-version-link" not in page.text and "end-campaign-form" not in page.text
    for url in ("/staff/program/versions/new", "/staff/program/campaigns/new"):
        assert client.get(url).status_code == 403
    token = csrf_of(page.text)
    for url in ("/staff/program/versions", "/staff/program/campaigns", "/staff/program/campaigns/end"):
        refused = client.post(url, data={"csrf_token": token, "reason": "x", "form_id": "0" * 32})
        assert refused.status_code == 403


def test_migration_may_not_see_the_program(client: TestClient, staff: dict[str, str], db: Engine) -> None:
    log_in(client, "migration")
    assert client.get("/staff/program").status_code == 403
    assert client.get("/staff/program/versions/new").status_code == 403
    token = csrf_of(client.get("/staff/progress").text)
    refused = client.post(
        "/staff/program/campaigns/end",
        data={"csrf_token": token, "code": "x", "reason": "x", "form_id": "0" * 32},
    )
    assert refused.status_code == 403
    assert counts(db) == (0, 0, 0)


def test_the_version_form_has_every_setting_prefilled(client: TestClient, staff: dict[str, str]) -> None:
    log_in(client, "marketing")
    page = client.get("/staff/program/versions/new").text
    assert 'id="first-version-note"' in page  # none stored: the default rules stop at the first
    fields = form_fields(page, "version-form")
    assert set(SETTING_KINDS) <= set(fields)
    assert set(SETTING_KINDS) == {f for f in points_store.default_rules(Settings()).to_json()}
    assert fields["currency"] == "RUB" and fields["partial_spending"] == "true"


def test_marketing_adds_a_version_audited_with_what_it_changed(
    client: TestClient, staff: dict[str, str], db: Engine, settings: Settings
) -> None:
    log_in(client, "marketing")
    answer = new_version(
        client,
        point_value="0,25",  # a decimal comma is read as Decimal
        excluded_brands="Acme, Brico",
        tiers="silver; 10 000; 1,5\ngold; 50000; 2",
        reason="summer rules",
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/staff/program")
    assert re.search(r'id="flash">Version #\d+ saved', page.text)
    with db.connect() as conn:
        [version] = points_store.load(conn, settings).versions
        [entry] = audit.entries(conn, action_prefix="program.")
    assert str(version.rules.point_value) == "0.25"
    assert version.rules.excluded_brands == frozenset({"acme", "brico"})
    assert [(t.name, str(t.min_spend), str(t.earn_rate)) for t in version.rules.tiers] == [
        ("silver", "10000", "1.5"),
        ("gold", "50000", "2"),
    ]
    assert version.effective_from.isoformat() == "2026-01-16T06:30:00+00:00"  # read in the pages' zone
    assert entry.actor == "staff:marketing" and entry.reason == "summer rules"
    assert set(entry.details["changes"]) == {"point_value", "excluded_brands", "tiers"}
    versions = row(page.text, "versions", "version-id", version.id)
    assert "staff:marketing" in versions and "summer rules" in versions and "first version" in versions
    audited = row(page.text, "program-audit", "audit-id", entry.id)
    assert "new rules version" in audited and "summer rules" in audited
    assert 'data-setting="point_value"' in audited and "0.25" in audited


def test_a_double_submit_makes_one_version(client: TestClient, staff: dict[str, str], db: Engine) -> None:
    log_in(client, "admin")
    page = client.get("/staff/program/versions/new")
    data = {**form_fields(page.text, "version-form"), "effective_from": "", "reason": "now", "earn_rate": "2"}
    first = client.post("/staff/program/versions", data=data)
    again = client.post("/staff/program/versions", data=data)
    assert first.status_code == again.status_code == 303
    assert "already sent" in client.get("/staff/program").text
    assert counts(db) == (1, 0, 1)
    reused = client.post("/staff/program/versions", data={**data, "earn_rate": "3"})
    assert reused.status_code == 409 and "already used for another change" in reused.text
    assert counts(db) == (1, 0, 1)


def test_version_errors_are_shown_by_field_and_write_nothing(
    client: TestClient, staff: dict[str, str], db: Engine
) -> None:
    log_in(client, "marketing")
    refused = new_version(client, earn_rate="lots", pending_days="2.5", reason=" ")
    assert refused.status_code == 422
    assert 'id="error-earn_rate" data-error="err_number"' in refused.text
    assert 'id="error-pending_days" data-error="err_whole"' in refused.text
    assert 'id="error-reason"' in refused.text and 'id="form-errors"' in refused.text
    assert 'value="lots"' in refused.text  # what was typed stays on the form
    past = new_version(client, effective_from="2026-01-01T00:00")
    assert past.status_code == 422 and 'id="error-effective_from" data-error="err_past"' in past.text
    engine = new_version(client, time_zone="Mars/Olympus", tiers="gold; 100; 2\nsilver; 10; 1")
    assert engine.status_code == 422  # the engine's own checks, placed on their fields
    assert 'id="error-time_zone" data-error="err_refused"' in engine.text
    assert counts(db) == (0, 0, 0)


def test_errors_are_shown_in_russian(client: TestClient, staff: dict[str, str], db: Engine) -> None:
    client.cookies.set("bb_lang", "ru")
    log_in(client, "marketing")
    refused = new_version(client, spend_threshold="много", effective_from="2026-01-01T00:00")
    assert refused.status_code == 422
    assert "Ничего не сохранено" in refused.text and "Введите число" in refused.text
    assert "Этот момент уже прошёл" not in refused.text  # form errors first: the engine is not asked
    past = new_version(client, effective_from="2026-01-01T00:00")
    assert "Этот момент уже прошёл" in past.text
    campaign = new_campaign(client, multiplier="", ends_at="")
    assert campaign.status_code == 422 and "Заполните это поле" in campaign.text
    assert client.get("/staff/program").text.count("Программа лояльности") >= 1
    assert counts(db) == (0, 0, 0)


def test_marketing_adds_a_campaign_and_ends_it(
    client: TestClient, staff: dict[str, str], db: Engine, clock: FakeClock, settings: Settings
) -> None:
    log_in(client, "marketing")
    added = new_campaign(
        client, weekdays=["thu", "sat"], hours_from="10:00", hours_to="14:00", categories="paint, tools"
    )
    assert added.status_code == 303, added.text
    page = client.get("/staff/program")
    assert "Campaign thu-x3 saved" in page.text
    campaign = row(page.text, "campaigns", "code", "thu-x3")
    assert "×3" in campaign and "Thu, Sat" in campaign and "10:00–14:00" in campaign
    assert "Categories: paint, tools" in campaign and "running" in campaign
    assert 'data-state="running"' in page.text

    clock.advance(timedelta(minutes=20))  # within the staff session
    page = client.get("/staff/program")
    end = form_fields(page.text, "end-1")
    unexplained = client.post("/staff/program/campaigns/end", data={**end, "reason": ""})
    assert (
        unexplained.status_code == 422 and 'id="end-error" data-error="reason_required"' in unexplained.text
    )
    ended = client.post("/staff/program/campaigns/end", data={**end, "reason": "stock ran out"})
    assert ended.status_code == 303, ended.text
    assert (
        client.post("/staff/program/campaigns/end", data={**end, "reason": "stock ran out"}).status_code
        == 303
    )
    page = client.get("/staff/program")
    assert "already sent" in page.text
    assert 'data-state="ended"' in page.text and "end-campaign-form" not in page.text
    with db.connect() as conn:
        [stored] = points_store.load(conn, settings).campaigns
        entries = audit.entries(conn, action_prefix="program.campaign")
    assert stored.ends_at == clock()
    assert [e.action for e in entries] == ["program.campaign.end", "program.campaign.add"]
    assert entries[0].actor == "staff:marketing" and entries[0].reason == "stock ran out"
    assert "campaign ended early" in row(page.text, "program-audit", "audit-id", entries[0].id)
    assert counts(db) == (0, 1, 2)


def test_a_scheduled_campaign_is_cancelled(client: TestClient, staff: dict[str, str], db: Engine) -> None:
    log_in(client, "admin")
    assert (
        new_campaign(
            client, code="spring", starts_at="2026-03-01T00:00", ends_at="2026-03-08T00:00"
        ).status_code
        == 303
    )
    page = client.get("/staff/program")
    assert 'data-state="scheduled"' in page.text and "Cancel the campaign" in page.text
    answer = client.post(
        "/staff/program/campaigns/end", data={**form_fields(page.text, "end-1"), "reason": "off"}
    )
    assert answer.status_code == 303
    page = client.get("/staff/program")
    assert "Campaign spring cancelled" in page.text and 'id="campaigns"' not in page.text
    assert "cancelled before it started" in page.text  # the audit keeps it
    assert counts(db) == (0, 0, 2)


def test_campaign_refusals_are_shown_and_write_nothing(
    client: TestClient, staff: dict[str, str], db: Engine
) -> None:
    log_in(client, "marketing")
    assert new_campaign(client, weekdays=["thu"]).status_code == 303
    clash = new_campaign(client, code="thu-x2", multiplier="2", weekdays=["thu"])
    assert clash.status_code == 422 and "contradicts an existing one" in clash.text
    taken = new_campaign(client, multiplier="4", categories="paint")
    assert taken.status_code == 422 and 'id="error-code" data-error="err_code_taken"' in taken.text
    bad = new_campaign(client, code="x", multiplier="1.5.0", hours_from="10:00", ends_at="2026-01-10T00:00")
    assert bad.status_code == 422
    assert 'id="error-multiplier" data-error="err_number"' in bad.text
    assert 'id="error-hours" data-error="err_hours"' in bad.text
    backwards = new_campaign(client, code="x", ends_at="2026-01-10T00:00")
    assert backwards.status_code == 422 and 'id="error-ends_at" data-error="err_refused"' in backwards.text
    assert counts(db) == (0, 1, 1)


def test_ending_a_campaign_that_ended_meanwhile_or_does_not_exist(
    client: TestClient, staff: dict[str, str], db: Engine, clock: FakeClock
) -> None:
    log_in(client, "marketing")
    assert new_campaign(client, code="flash", ends_at="2026-01-15T13:10").status_code == 303  # 10 minutes
    end = form_fields(client.get("/staff/program").text, "end-1")
    clock.advance(timedelta(minutes=15))
    late = client.post("/staff/program/campaigns/end", data={**end, "reason": "too late"})
    assert late.status_code == 422 and 'data-error="program_already_ended"' in late.text
    gone = client.post("/staff/program/campaigns/end", data={**end, "code": "nope", "reason": "x"})
    assert gone.status_code == 404 and 'data-error="program_unknown_campaign"' in gone.text
    assert counts(db) == (0, 1, 1)


def test_forms_without_the_csrf_token_are_refused(
    client: TestClient, staff: dict[str, str], db: Engine
) -> None:
    log_in(client, "marketing")
    page = client.get("/staff/program/versions/new")
    data = {**form_fields(page.text, "version-form"), "effective_from": "", "reason": "x"}
    del data["csrf_token"]
    assert client.post("/staff/program/versions", data=data).status_code == 403
    forged = client.post("/staff/program/versions", data={**data, "csrf_token": "forged"})
    assert forged.status_code == 403 and "form has expired" in forged.text
    assert client.post("/staff/program/campaigns/end", data={"code": "x", "reason": "x"}).status_code == 403
    assert counts(db) == (0, 0, 0)


def test_a_setting_missing_from_the_post_is_an_error_not_a_default(
    client: TestClient, staff: dict[str, str], db: Engine
) -> None:
    log_in(client, "marketing")
    page = client.get("/staff/program/versions/new")
    data = {**form_fields(page.text, "version-form"), "effective_from": "", "reason": "x"}
    del data["partial_spending"]
    refused = client.post("/staff/program/versions", data=data)
    assert (
        refused.status_code == 422 and 'id="error-partial_spending" data-error="err_required"' in refused.text
    )
    assert counts(db) == (0, 0, 0)


def test_the_page_shows_versions_with_their_changes(
    client: TestClient, staff: dict[str, str], db: Engine, settings: Settings, clock: FakeClock
) -> None:
    with db.begin() as conn:
        for days, threshold in ((1, "100"), (2, "250")):
            raw = {
                "effective_from": (clock() + timedelta(days=days)).isoformat(),
                "spend_threshold": threshold,
            }
            editing.add_version(
                conn, settings, raw, now=clock(), actor="cli-mia", reason=f"threshold {threshold}"
            )
    log_in(client, "viewer")
    page = client.get("/staff/program").text
    assert 'id="program-none-in-force"' in page  # the first stored version takes effect tomorrow
    second = re.findall(r'<tr data-version-id="(\d+)"', page)[0]  # newest first
    changes = row(page, "versions", "version-id", second)
    assert "Spend threshold, points: 100 → 250" in changes and "threshold 250" in changes


#: What a staff member may type as a version's note or an audit reason: a customer's name, phone,
#: e-mail and card number.
TOLD = "по жалобе Петрова Мария, +7 916 123-45-67, maria.petrova@example.ru, карта 2000000000035"
HIDDEN = ("Петрова", "Мария", "916 123-45-67", "maria.petrova", "2000000000035")


def test_a_viewer_reads_notes_and_audit_reasons_with_personal_data_masked(
    client: TestClient, staff: dict[str, str], db: Engine, settings: Settings, clock: FakeClock
) -> None:
    with db.begin() as conn:
        raw = {"effective_from": (clock() + timedelta(days=1)).isoformat(), "spend_threshold": "150"}
        editing.add_version(conn, settings, raw, now=clock(), actor="cli-mia", reason=TOLD)
    log_in(client, "viewer")
    page = client.get("/staff/program").text
    [version] = re.findall(r'<tr data-version-id="(\d+)"', page)
    note = row(page, "versions", "version-id", version).split('class="reason">', 1)[1].split("</td>")[0]
    with db.connect() as conn:
        [entry] = audit.entries(conn, action_prefix=editing.PROGRAM_ACTIONS)
    reason = row(page, "program-audit", "audit-id", entry.id).split('class="reason">', 1)[1].split("</td>")[0]
    for shown in (note, reason):
        for secret in HIDDEN:
            assert secret not in shown, (secret, shown)
        assert "П*** М***" in shown and "+7***67" in shown and "m***@example.ru" in shown
        assert "•••••••••0035" in shown and shown.startswith("по жалобе ")

    client.cookies.clear()
    log_in(client, "admin")  # the admin reads what was written
    page = client.get("/staff/program").text
    assert html.escape(TOLD) in row(page, "versions", "version-id", version)
    assert html.escape(TOLD) in row(page, "program-audit", "audit-id", entry.id)


def test_masking_keeps_the_words_around_and_leaves_a_lone_capitalised_word() -> None:
    from web_cabinet.staff.pages import mask_personal_data_in

    assert mask_personal_data_in("Порог поднят по просьбе маркетинга") == "Порог поднят по просьбе маркетинга"
    assert mask_personal_data_in("звонил Anna-Maria O'Neil") == "звонил A*** O***"
    assert mask_personal_data_in("Иванов Иван Иванович просил") == "И*** И*** И*** просил"
    assert mask_personal_data_in("с 2026-01-15 по 2026-02-15") == "с 2026-01-15 по 2026-02-15"
    assert mask_personal_data_in(None) is None and mask_personal_data_in("") == ""
