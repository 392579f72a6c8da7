"""The staff login: roles, one answer for unknown logins and wrong passwords, rate limits per login
and per IP, CSRF, session rotation, cookie flags, and the wall between customers' and staff's
sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bonusbridge.models import StaffLoginAttempt, StaffUser
from bonusbridge.settings import Settings, get_settings
from tests.conftest import FakeClock
from tests.web_cabinet.conftest import PHONE, World, log_in
from tests.web_cabinet.staff.conftest import PASSWORD, csrf_of, staff_log_in
from web_cabinet.staff.auth import Role, check_password, create_user, disable_user, hash_password, list_users
from web_cabinet.staff.cli import app as cli


def test_passwords_are_salted_scrypt() -> None:
    first, second = hash_password("same password!"), hash_password("same password!")
    assert first.startswith("scrypt$16384$8$1$") and first != second  # a salt per hash
    assert check_password("same password!", first) and not check_password("other password", first)
    assert not check_password("same password!", "garbage")


def test_a_viewer_logs_in_and_sees_the_progress_page(
    client: TestClient, staff: dict[str, str], db: Engine
) -> None:
    answer = staff_log_in(client, "viewer")
    assert answer.status_code == 303 and answer.headers["location"] == "/staff/progress"
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("bb_staff=")
    )
    flags = cookie.lower()
    assert "path=/staff" in flags and "httponly" in flags and "secure" in flags and "samesite=strict" in flags
    page = client.get("/staff/progress")
    assert page.status_code == 200
    assert 'id="signed-in-as"' in page.text and "viewer" in page.text
    with Session(db) as session:
        user = session.scalars(select(StaffUser).where(StaffUser.login == "viewer")).one()
        assert user.last_login_at is not None


def test_unknown_login_and_wrong_password_get_the_same_answer(
    client: TestClient, staff: dict[str, str]
) -> None:
    wrong = staff_log_in(client, "viewer", "not the password")
    unknown = staff_log_in(client, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401

    def strip(text: str) -> str:
        return text.replace(csrf_of(text), "").replace("nobody-here", "X").replace("viewer", "X")

    assert strip(wrong.text) == strip(unknown.text)
    assert client.get("/staff/progress").headers["location"] == "/staff/login"


def test_a_disabled_user_cannot_log_in_and_is_logged_out(
    client: TestClient, staff: dict[str, str], db: Engine
) -> None:
    assert staff_log_in(client, "admin").status_code == 303
    assert client.get("/staff/imports").status_code == 200
    disable_user(db, "admin")
    assert client.get("/staff/imports").headers["location"] == "/staff/login"
    assert staff_log_in(client, "admin").status_code == 401
    assert [u.disabled for u in list_users(db) if u.login == "admin"] == [True]


def test_failures_per_login_pause_that_login_even_with_the_right_password(
    client: TestClient, staff: dict[str, str], clock: FakeClock, settings: Settings
) -> None:
    for _ in range(settings.staff_login_max_failures):
        assert staff_log_in(client, "viewer", "wrong password").status_code == 401
    paused = staff_log_in(client, "viewer", PASSWORD)
    assert paused.status_code == 429 and "staff_id" not in paused.text
    assert staff_log_in(client, "migration").status_code == 303  # another login is not paused
    clock.advance(timedelta(seconds=settings.staff_login_window_seconds + 1))
    assert staff_log_in(client, "viewer").status_code == 303


def test_failures_per_ip_pause_every_login_from_it(
    client: TestClient, staff: dict[str, str], settings: Settings, db: Engine
) -> None:
    for n in range(settings.staff_login_max_failures_per_ip):
        assert staff_log_in(client, f"guess{n}", "wrong password").status_code == 401
    assert staff_log_in(client, "admin").status_code == 429
    with Session(db) as session:
        ips = set(session.scalars(select(StaffLoginAttempt.ip)))
    assert ips == {"testclient"}


def test_every_form_needs_the_csrf_token(client: TestClient, staff: dict[str, str]) -> None:
    client.get("/staff/login")
    refused = client.post("/staff/login", data={"login": "viewer", "password": PASSWORD})
    assert refused.status_code == 403
    forged = client.post(
        "/staff/login", data={"login": "viewer", "password": PASSWORD, "csrf_token": "x" * 43}
    )
    assert forged.status_code == 403
    assert staff_log_in(client, "viewer").status_code == 303
    assert client.post("/staff/logout", data={}).status_code == 403
    assert client.get("/staff/progress").status_code == 200  # still logged in


def test_login_rotates_the_session_and_logout_ends_it(client: TestClient, staff: dict[str, str]) -> None:
    before = csrf_of(client.get("/staff/login").text)
    assert staff_log_in(client, "viewer").status_code == 303
    after = csrf_of(client.get("/staff/progress").text)
    assert after != before
    # the pre-login token is worthless now
    assert client.post("/staff/logout", data={"csrf_token": before}).status_code == 403
    out = client.post("/staff/logout", data={"csrf_token": after})
    assert out.status_code == 303 and out.headers["location"] == "/staff/login"
    assert client.get("/staff/progress").headers["location"] == "/staff/login"


def test_an_idle_session_expires(client: TestClient, staff: dict[str, str], clock: FakeClock) -> None:
    assert staff_log_in(client, "viewer").status_code == 303
    clock.advance(timedelta(minutes=29))
    assert client.get("/staff/progress").status_code == 200  # sliding
    clock.advance(timedelta(minutes=31))
    expired = client.get("/staff/progress")
    assert expired.status_code == 303 and expired.headers["location"] == "/staff/login"
    assert "Сеанс истёк" in client.get("/staff/login").text


def test_a_customer_session_never_opens_staff_pages_and_vice_versa(
    client: TestClient, staff: dict[str, str], world: World, settings: Settings
) -> None:
    customer = world.customer(phone_e164=PHONE)
    world.card("2000000000011", phone=PHONE, customer_id=customer, primary=True)
    log_in(client, settings)
    assert client.get("/").status_code in (200, 303)
    assert client.get("/staff/progress").headers["location"] == "/staff/login"
    # the customer's cookie put where the staff cookie goes is not a staff session either
    customer_cookie = client.cookies.get("bb_session")
    assert customer_cookie
    client.cookies.set("bb_staff", customer_cookie, domain="cabinet.test", path="/staff")
    assert client.get("/staff/progress").headers["location"] == "/staff/login"

    staff_only = TestClient(client.app, base_url="https://cabinet.test", follow_redirects=False)
    assert staff_log_in(staff_only, "admin").status_code == 303
    assert staff_only.get("/staff/progress").status_code == 200
    assert staff_only.get("/").headers["location"] == "/login"  # no customer behind a staff session


def test_the_staff_cli_creates_lists_and_disables(db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(cli, ["create", "Anna.K", "--role", "migration,viewer", "--password", PASSWORD])
        assert made.exit_code == 0, made.output
        assert runner.invoke(cli, ["create", "anna.k", "-r", "viewer", "--password", PASSWORD]).exit_code == 2
        assert runner.invoke(cli, ["create", "bob", "-r", "boss", "--password", PASSWORD]).exit_code == 2
        assert runner.invoke(cli, ["create", "bob", "-r", "viewer", "--password", "short"]).exit_code == 2
        listed = runner.invoke(cli, ["list"])
        assert "anna.k" in listed.output and "migration,viewer" in listed.output and "active" in listed.output
        assert runner.invoke(cli, ["disable", "anna.k"]).exit_code == 0
        assert "disabled" in runner.invoke(cli, ["list"]).output
        assert runner.invoke(cli, ["disable", "nobody"]).exit_code == 2
    finally:
        get_settings.cache_clear()
    user = next(u for u in list_users(db) if u.login == "anna.k")
    assert user.roles == "migration,viewer" and PASSWORD not in user.password_hash
    assert check_password(PASSWORD, user.password_hash)
    assert create_user(db, "carl", PASSWORD, [Role.ADMIN]).roles == "admin"
