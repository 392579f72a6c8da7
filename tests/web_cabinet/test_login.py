"""Logging in by SMS: phone → code → cabinet; resend with its cooldown; every refusal of the OTP
service said in ru and en on the page, never a stack trace, and never telling a known phone from
an unknown one; the session rotated at login."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

from tests.web_cabinet.conftest import (
    PHONE,
    TYPED_PHONE,
    VERSION,
    ask_code,
    csrf,
    form_id,
    last_code,
    log_in,
    sms_count,
)
from web_cabinet.sessions import SESSION_COOKIE


def test_the_login_page_asks_for_the_phone_in_russian_by_default(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="ru">' in page.text
    assert 'id="phone" name="phone"' in page.text and 'for="phone"' in page.text
    assert "Получить код" in page.text


def test_phone_then_code_logs_in_and_the_code_arrives_by_sms(client, settings, world):
    world.card("2000-00000001", phone=PHONE)
    asked = ask_code(client)
    assert asked.status_code == 303 and asked.headers["location"] == "/login/code"
    assert sms_count(settings) == 1, "the SMS was sent right away (in-process on memory://)"
    code_page = client.get("/login/code")
    assert "+7***67" in code_page.text and PHONE not in code_page.text, "the phone is shown masked"
    before = client.cookies[SESSION_COOKIE]
    answer = client.post(
        "/login/code", data={"code": last_code(settings), "csrf_token": csrf(code_page.text)}
    )
    assert answer.status_code == 303
    assert client.cookies[SESSION_COOKIE] != before
    home = client.get(answer.headers["location"])
    assert home.status_code in (200, 303)
    assert world.customer_by_phone().phone_verified_at is not None


def test_login_rotates_the_session_id_and_the_csrf_token(client, settings):
    ask_code(client)
    page = client.get("/login/code")
    old_token = csrf(page.text)
    client.post("/login/code", data={"code": last_code(settings), "csrf_token": old_token})
    after = client.get("/profile")
    assert csrf(after.text) != old_token
    # the token of the pre-login session no longer passes
    refused = client.post("/logout", data={"csrf_token": old_token})
    assert refused.status_code == 403


def test_a_wrong_code_is_refused_with_attempts_left_and_counts(client, settings):
    ask_code(client)
    page = client.get("/login/code")
    code = last_code(settings)
    wrong = "000000" if code != "000000" else "111111"
    answer = client.post("/login/code", data={"code": wrong, "csrf_token": csrf(page.text)})
    assert answer.status_code == 400
    assert "Неверный код" in answer.text and "Осталось попыток: 4" in answer.text
    assert 'aria-describedby="code-error"' in answer.text and 'aria-invalid="true"' in answer.text
    assert "Traceback" not in answer.text
    # the right code still works afterwards
    ok = client.post("/login/code", data={"code": code, "csrf_token": csrf(answer.text)})
    assert ok.status_code == 303


def test_a_wrong_code_in_english(client, settings):
    client.cookies.set("bb_lang", "en", domain="cabinet.test")
    ask_code(client)
    page = client.get("/login/code")
    answer = client.post("/login/code", data={"code": "12345", "csrf_token": csrf(page.text)})
    assert answer.status_code == 400 and "Wrong code" in answer.text and '<html lang="en">' in answer.text


def test_an_expired_code_is_refused_and_a_new_one_works(client, settings, clock):
    ask_code(client)
    code = last_code(settings)
    clock.advance(timedelta(seconds=settings.otp_ttl_seconds + 1))
    page = client.get("/login/code")
    answer = client.post("/login/code", data={"code": code, "csrf_token": csrf(page.text)})
    assert answer.status_code == 410 and "Срок действия кода истёк" in answer.text
    resent = client.post("/login/resend", data={"csrf_token": csrf(answer.text)})
    assert resent.status_code == 303
    page = client.get("/login/code")
    assert "Мы отправили новый код" in page.text
    assert (
        client.post(
            "/login/code", data={"code": last_code(settings), "csrf_token": csrf(page.text)}
        ).status_code
        == 303
    )


def test_resend_waits_for_the_cooldown(client, settings, clock):
    ask_code(client)
    page = client.get("/login/code")
    assert 'id="resend-wait"' in page.text and "60" in page.text
    too_soon = client.post("/login/resend", data={"csrf_token": csrf(page.text)})
    assert too_soon.status_code == 429 and too_soon.headers["retry-after"] == "60"
    assert "Новый код можно запросить через 60 с." in too_soon.text
    assert sms_count(settings) == 1, "no second SMS during the cooldown"
    clock.advance(timedelta(seconds=61))
    again = client.post("/login/resend", data={"csrf_token": csrf(too_soon.text)})
    assert again.status_code == 303 and sms_count(settings) == 2


def test_an_invalid_or_landline_phone_gets_its_message_and_no_sms(client, settings):
    page = client.get("/login")
    bad = client.post("/login/phone", data={"phone": "12", "csrf_token": csrf(page.text)})
    assert bad.status_code == 400 and "Проверьте номер телефона" in bad.text
    assert 'aria-describedby="phone-hint phone-error"' in bad.text
    landline = client.post("/login/phone", data={"phone": "+74951234567", "csrf_token": csrf(bad.text)})
    assert landline.status_code == 400 and "городской номер" in landline.text
    empty = client.post("/login/phone", data={"phone": "  ", "csrf_token": csrf(bad.text)})
    assert empty.status_code == 400 and "Введите номер телефона" in empty.text
    assert sms_count(settings) == 0


def test_a_known_and_an_unknown_phone_get_the_same_answer(client, settings, world):
    world.customer(phone_e164=PHONE, last_name="Иванова")
    known = ask_code(client, PHONE)
    client.cookies.clear()
    unknown = ask_code(client, "+79035556677")
    assert (known.status_code, known.headers["location"]) == (
        unknown.status_code,
        unknown.headers["location"],
    )
    assert sms_count(settings) == 2


def test_the_code_page_without_a_phone_sends_back_to_login(client):
    answer = client.get("/login/code")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert "Сначала запросите код" in client.get("/login").text


def test_an_empty_code_does_not_count_as_a_guess(client, settings):
    ask_code(client)
    page = client.get("/login/code")
    answer = client.post("/login/code", data={"code": " ", "csrf_token": csrf(page.text)})
    assert answer.status_code == 400 and "Введите код" in answer.text


def test_logging_out_ends_the_session(client, settings, world):
    world.card("2000-00000001", phone=PHONE)
    log_in(client, settings)
    home = client.get("/")
    assert home.status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "Вы вышли" in client.get("/login").text
    assert client.get("/").headers["location"] == "/login"


def test_the_phone_is_not_in_any_url(client, settings, world):
    world.card("2000-00000001", phone=PHONE)
    asked = ask_code(client, TYPED_PHONE)
    page = client.get("/login/code")
    verified = client.post("/login/code", data={"code": last_code(settings), "csrf_token": csrf(page.text)})
    for answer in (asked, verified):
        location = answer.headers["location"]
        assert "916" not in location and "%2B7" not in location and "+7" not in location


def test_too_many_wrong_codes_lock_the_code_with_its_message(client, settings):
    ask_code(client)
    page = client.get("/login/code")
    code = last_code(settings)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(settings.otp_max_checks):
        page = client.post("/login/code", data={"code": wrong, "csrf_token": csrf(page.text)})
        assert page.status_code == 400
    locked = client.post("/login/code", data={"code": code, "csrf_token": csrf(page.text)})
    assert locked.status_code == 429 and "Слишком много неверных попыток" in locked.text
    assert client.get("/").headers["location"] == "/login", "not logged in"


def test_sending_suspended_by_the_global_cap_is_said_plainly(app, client, settings, monkeypatch):
    monkeypatch.setattr(app.state.cabinet.otp.settings, "sms_global_hourly_cap", 1)
    assert ask_code(client).status_code == 303
    client.cookies.clear()
    refused = ask_code(client, "+79035556677")
    assert refused.status_code == 503 and "Отправка СМС временно приостановлена" in refused.text
    assert sms_count(settings) == 1


def test_a_returning_customer_goes_straight_home(client, settings, world, clock):
    world.card("2000-00000001", phone=PHONE)
    log_in(client, settings)
    page = client.get("/profile")
    data = {
        "last_name": "Иванова",
        "first_name": "Мария",
        "birth_date": "1985-04-12",
        "pd_consent": "yes",
        "csrf_token": csrf(page.text),
        "form_id": form_id(page.text),
        "version": VERSION.findall(page.text)[0],
    }
    assert client.post("/profile", data=data).status_code == 303
    client.cookies.clear()
    clock.advance(timedelta(minutes=5))  # past the resend cooldown
    assert log_in(client, settings).headers["location"] == "/"


def test_every_input_of_every_page_has_a_label(client, settings, world):
    world.card("2000-00000001", phone=PHONE)
    pages = [client.get("/login").text]
    ask_code(client)
    pages.append(client.get("/login/code").text)
    pages.append(
        client.post("/login/code", data={"code": last_code(settings), "csrf_token": csrf(pages[-1])}).text
    )
    for path in ("/", "/profile", "/cards/add"):
        pages.append(client.get(path).text)
    for html in pages:
        for input_id in re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html):
            assert f'for="{input_id}"' in html, input_id


def test_the_dev_page_shows_the_code_a_browser_test_reads(client, settings):
    ask_code(client)
    messages = client.get("/dev/sms?format=json").json()
    assert messages[0]["phone"] == PHONE and last_code(settings) in messages[0]["text"]


def test_with_a_real_broker_the_codes_sms_goes_to_a_celery_worker(monkeypatch, settings, hub, clock):
    """Behind RabbitMQ the page does not send in its own process: it hands the queued SMS to the
    ``bonusbridge.sms.send`` task (once, after the code is committed) and answers at once."""
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from bonusbridge.models import SmsMessage
    from sms import tasks
    from web_cabinet.app import create_app

    handed: list[int] = []
    # The module's task is replaced, not its ``delay``: ``send`` is a proxy resolved on the current
    # Celery app, and another test may have made a different app current.
    monkeypatch.setattr(tasks, "send", SimpleNamespace(delay=lambda message_id: handed.append(message_id)))
    amqp = settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:5672//"})
    client = TestClient(
        create_app(amqp, hub=hub, clock=clock), base_url="https://cabinet.test", follow_redirects=False
    )
    assert ask_code(client).status_code == 303
    with hub.engine.connect() as conn:
        queued = conn.execute(select(SmsMessage.id, SmsMessage.status)).all()
    assert [row.id for row in queued] == handed and len(handed) == 1
    assert queued[0].status == "queued" and sms_count(settings) == 0  # nothing sent in-process
