"""Sessions end when they should (issue 17, item 2): a logged-in cabinet or staff session is a
server-side record (the database by default, Redis when configured) that logout, disabling a staff
user and a password change delete, with an absolute lifetime besides the sliding one. Every test
replays the old cookie afterwards and finds it logged out."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.testclient import TestClient

from bonusbridge.app import Hub
from bonusbridge.settings import Settings, load_settings
from tests.conftest import FakeClock, require_service
from tests.web_cabinet.conftest import BASE_URL, PHONE, World, csrf, log_in
from tests.web_cabinet.staff.conftest import PASSWORD, csrf_of, staff_log_in
from web_cabinet.app import create_app
from web_cabinet.session_store import DatabaseSessionStore, RedisSessionStore, SessionStore
from web_cabinet.staff.auth import Role, create_user, disable_user, set_password

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return load_settings(
        broker_url="memory://",
        sms_gateway="console",
        sms_console_file=str(tmp_path / "sms-outbox.jsonl"),
        otp_secret="cabinet-test-otp-secret",
        cabinet_session_secret="cabinet-test-session-secret",
        cabinet_session_max_age_seconds=3600,
        cabinet_session_absolute_seconds=12 * 3600,
        staff_session_secret="staff-test-session-secret",
        staff_session_max_age_seconds=1800,
        staff_session_absolute_seconds=8 * 3600,
        profile_required_fields="last_name,first_name,birth_date",
    )


@pytest.fixture(params=["database", "redis"])
def store(request: pytest.FixtureRequest, db: Engine) -> Iterator[SessionStore]:
    if request.param == "database":
        yield DatabaseSessionStore(db)
        return
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        require_service("Redis", f"no Redis at {REDIS_URL}")
    found = RedisSessionStore(REDIS_URL, prefix=f"bb-test-{secrets.token_hex(6)}")
    yield found
    for key in found.client.scan_iter(f"{found.prefix}*"):
        found.client.delete(key)


@pytest.fixture
def app(settings: Settings, hub: Hub, clock: FakeClock, store: SessionStore) -> FastAPI:
    return create_app(settings, hub=hub, clock=clock, sessions=store)


def replay(app: FastAPI, cookie: str, value: str, path: str) -> Any:
    """The old cookie, sent by a fresh client (an attacker who copied it, or the browser's back button)."""
    fresh = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    return fresh.get(path, headers={"Cookie": f"{cookie}={value}"})


def customer_with_card(world: World) -> int:
    customer = world.customer(
        phone_e164=PHONE,
        phone_verified_at=world.clock(),
        last_name="Петрова",
        first_name="Мария",
        birth_date=world.clock().date() - timedelta(days=30 * 365),
    )
    world.card("2000000000011", customer_id=customer, phone=PHONE, primary=True)
    return customer


# --------------------------------------------------------------------------- the cabinet


def test_after_logout_the_old_cabinet_cookie_opens_nothing(app, client, settings, world, store):
    customer_with_card(world)
    log_in(client, settings)
    old = client.cookies["bb_session"]
    assert replay(app, "bb_session", old, "/cards/add").status_code == 200  # the cookie works
    page = client.get("/")
    assert client.post("/logout", data={"csrf_token": csrf(page.text)}).status_code == 303
    replayed = replay(app, "bb_session", old, "/cards/add")
    assert replayed.status_code == 303 and replayed.headers["location"] == "/login"
    assert replay(app, "bb_session", old, "/").headers["location"] == "/login"


def test_a_cabinet_login_ends_after_its_absolute_lifetime_however_active(app, client, settings, world, clock):
    customer_with_card(world)
    log_in(client, settings)
    old = client.cookies["bb_session"]
    for _ in range(11 * 2):  # a page view every 30 minutes for 11 hours: the sliding end never comes
        clock.advance(timedelta(minutes=30))
        assert client.get("/cards/add").status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))  # 12 hours after the login
    ended = client.get("/cards/add")
    assert ended.status_code == 303 and ended.headers["location"] == "/login"
    assert "Сеанс истёк" in client.get("/login").text  # the customer is told, not silently dropped
    assert replay(app, "bb_session", old, "/cards/add").headers["location"] == "/login"


# --------------------------------------------------------------------------- staff


@pytest.fixture
def admin(db: Engine) -> str:
    create_user(db, "admin", PASSWORD, [Role.ADMIN])
    return "admin"


def _customer_page_is_open(app: FastAPI, value: str, customer: int) -> bool:
    answer = replay(app, "bb_staff", value, f"/staff/customers/{customer}")
    return answer.status_code == 200 and 'name="amount"' in answer.text


def test_after_staff_logout_the_old_cookie_opens_no_customer_page(app, client, world, admin):
    customer = customer_with_card(world)
    assert staff_log_in(client, admin).status_code == 303
    old = client.cookies["bb_staff"]
    assert _customer_page_is_open(app, old, customer)
    page = client.get("/staff/imports")
    assert client.post("/staff/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    assert not _customer_page_is_open(app, old, customer)
    assert replay(app, "bb_staff", old, f"/staff/customers/{customer}").headers["location"] == "/staff/login"


def test_disabling_a_staff_user_ends_their_sessions(app, client, world, admin, db, store):
    customer = customer_with_card(world)
    assert staff_log_in(client, admin).status_code == 303
    old = client.cookies["bb_staff"]
    assert _customer_page_is_open(app, old, customer)
    assert disable_user(db, admin, store) == 1
    assert not _customer_page_is_open(app, old, customer)


def test_a_password_change_ends_the_staff_users_sessions(app, client, world, admin, db, store):
    customer = customer_with_card(world)
    assert staff_log_in(client, admin).status_code == 303
    other = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    assert staff_log_in(other, admin).status_code == 303
    old, old_other = client.cookies["bb_staff"], other.cookies["bb_staff"]
    assert set_password(db, admin, "a brand new passphrase", store) == 2
    assert not _customer_page_is_open(app, old, customer)
    assert not _customer_page_is_open(app, old_other, customer)
    assert staff_log_in(client, admin).status_code == 401  # the old password no longer opens
    assert staff_log_in(client, admin, "a brand new passphrase").status_code == 303


def test_a_staff_login_ends_after_its_absolute_lifetime_however_active(app, client, world, admin, clock):
    customer = customer_with_card(world)
    assert staff_log_in(client, admin).status_code == 303
    old = client.cookies["bb_staff"]
    for _ in range(7 * 4):  # a page every 15 minutes for 7 hours
        clock.advance(timedelta(minutes=15))
        assert client.get(f"/staff/customers/{customer}").status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    ended = client.get(f"/staff/customers/{customer}")
    assert ended.status_code == 303 and ended.headers["location"] == "/staff/login"
    assert not _customer_page_is_open(app, old, customer)
