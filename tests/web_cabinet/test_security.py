"""Security of the pages: CSRF on every POST, the session cookie's flags, an expired session,
security headers on every response, no personal data in URLs, nothing of another customer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from bonusbridge.models import CardStatus
from tests.web_cabinet.conftest import PHONE, csrf, form_id, log_in
from web_cabinet.sessions import SESSION_COOKIE

POSTS = [
    "/login/phone",
    "/login/code",
    "/login/resend",
    "/cards/choose",
    "/cards/add",
    "/profile",
    "/logout",
    "/lang",
]


@pytest.mark.parametrize("path", POSTS)
def test_every_form_without_the_csrf_token_is_refused(client, settings, world, path):
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    for data in ({}, {"csrf_token": "forged"}):
        answer = client.post(path, data={"phone": "+79161234567", **data})
        assert answer.status_code == 403, path
        assert "Форма устарела" in answer.text and "Traceback" not in answer.text


def test_a_forged_cross_site_form_changes_nothing(client, settings, world):
    customer = world.customer(phone_e164=PHONE)
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    answer = client.post("/profile", data={"last_name": "Взлом", "version": "1", "form_id": "0" * 32})
    assert answer.status_code == 403
    assert world.customer_row(customer).last_name is None


def test_the_session_cookie_is_signed_httponly_lax_and_secure_on_https(client):
    answer = client.get("/login")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=")
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags


def test_the_cookie_is_not_secure_over_plain_http(app):
    plain = TestClient(app, base_url="http://cabinet.test")
    flags = plain.get("/login").headers["set-cookie"].lower()
    assert "httponly" in flags and "secure" not in flags


def test_a_tampered_session_cookie_is_ignored(client, settings, world):
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    value = client.cookies[SESSION_COOKIE]
    client.cookies.set(
        SESSION_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"), domain="cabinet.test"
    )
    answer = client.get("/")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_an_expired_session_redirects_to_login_with_a_message(client, settings, world, clock):
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    assert client.get("/").status_code == 200
    clock.advance(timedelta(seconds=settings.cabinet_session_max_age_seconds + 1))
    answer = client.get("/")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    page = client.get("/login")
    assert "Сеанс истёк" in page.text


def test_page_views_keep_the_session_alive(client, settings, world, clock):
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    for _ in range(3):
        clock.advance(timedelta(seconds=settings.cabinet_session_max_age_seconds - 60))
        assert client.get("/").status_code == 200


def test_a_form_posted_after_the_session_expired_changes_nothing(client, settings, world, clock):
    customer = world.customer(phone_e164=PHONE)
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    page = client.get("/profile")
    clock.advance(timedelta(hours=2))
    answer = client.post(
        "/profile",
        data={
            "last_name": "Иванова",
            "csrf_token": csrf(page.text),
            "form_id": form_id(page.text),
            "version": "2",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert "Сеанс истёк" in client.get("/login").text
    assert world.customer_row(customer).last_name is None


def test_pages_need_a_login(client):
    for path in ("/", "/profile", "/cards/choose", "/cards/add", "/cards/1"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path


@pytest.mark.parametrize("path", ["/login", "/", "/static/cabinet.css", "/cards/999", "/dev/sms"])
def test_security_headers_on_every_response(client, path):
    answer = client.get(path)
    headers = answer.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "default-src 'self'" in csp
    assert headers["strict-transport-security"].startswith("max-age=")


def test_the_page_has_no_inline_script_or_style(client):
    page = client.get("/login").text
    assert "<script" not in page and "style=" not in page and "<style" not in page


def test_a_customer_sees_only_their_own_cards_and_movements(client, settings, world, clock):
    mine = world.card("2000-0000-0042", phone=PHONE)
    world.accrue(mine, "10.00", key="m1")
    other = world.customer(phone_e164="+79261112233", phone_verified_at=clock.now)
    theirs = world.card("7777-0000-0777", customer_id=other, primary=True)
    world.accrue(theirs, "999.99", key="o1")
    log_in(client, settings)
    home = client.get("/")
    assert "0042" in home.text and "0777" not in home.text and "999,99" not in home.text
    assert client.get(f"/cards/{theirs}").status_code == 404
    assert world.card_row(theirs).status is CardStatus.ACTIVE


def test_the_language_switch_redirects_only_within_the_site(client):
    page = client.get("/login")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil"):
        answer = client.post("/lang", data={"lang": "en", "next": target, "csrf_token": csrf(page.text)})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
