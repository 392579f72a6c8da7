"""The home page's figures (available, pending, reserved, expiring soon and when), the history's
sources (store, website, merge, legacy migration), statuses with their reasons, what 1C changed
showing on the next view, and the two languages (Accept-Language, the switcher's cookie)."""

from __future__ import annotations

from datetime import timedelta

from bonusbridge.models import Origin
from bonusbridge.services.profiles import update_profile
from tests.web_cabinet.conftest import PHONE, csrf, log_in
from web_cabinet.i18n import TEXTS, choose_locale


def test_home_shows_available_pending_held_and_what_expires_when(client, settings, world, clock):
    card = world.card("2000-0000-0042", phone=PHONE)
    world.accrue(card, "100.00", key="a1", expires_at=clock.now + timedelta(days=5))
    world.accrue(card, "30.00", key="a2", available_from=clock.now + timedelta(days=14))
    world.accrue(card, "20.00", key="a3", expires_at=clock.now + timedelta(days=400))
    world.hub.ledger.hold(card, "15.00", key="h1", origin=Origin.WEBSITE)
    log_in(client, settings)
    home = client.get("/")
    assert 'id="balance-available">105,00<' in home.text
    assert 'id="balance-pending">30,00<' in home.text
    assert 'id="balance-held">15,00<' in home.text
    assert "20.01.2026" in home.text, "the lot expiring within 30 days, with its date"
    assert "20.02.2027" not in home.text.split('id="expiring"')[1].split("</section>")[0]


def test_the_history_names_where_each_movement_came_from(client, settings, world):
    card = world.card("2000-0000-0042", phone=PHONE)
    world.accrue(card, "50.00", key="s1", document="ЧекККМ 0001")
    world.hub.ledger.accrue(card, "5.00", key="w1", origin=Origin.WEBSITE)
    world.hub.ledger.accrue(card, "7.00", key="l1", origin=Origin.MIGRATION)
    log_in(client, settings)
    home = client.get("/")
    history = home.text.split('id="history"')[1]
    for source in ("Магазин", "Сайт", "Перенос из старой программы"):
        assert source in history
    assert 'data-source="onec"' in history and 'data-source="migration"' in history


def test_1cs_edits_show_on_the_next_page_view(client, settings, world):
    customer = world.customer(phone_e164=PHONE, first_name="Анна")
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    assert 'value="Анна"' in client.get("/profile").text
    with world.hub.unit_of_work() as uow:
        update_profile(uow, customer, {"first_name": "Анастасия"}, origin=Origin.ONEC)
        uow.commit()
    assert 'value="Анастасия"' in client.get("/profile").text


def test_accept_language_picks_english(client):
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9,ru;q=0.5"})
    assert '<html lang="en">' in page.text and "Send the code" in page.text


def test_the_switcher_sets_a_cookie_that_beats_accept_language(client, settings, world):
    world.card("2000-0000-0042", phone=PHONE)
    log_in(client, settings)
    home = client.get("/profile", headers={"Accept-Language": "ru"})
    switched = client.post("/lang", data={"lang": "en", "next": "/profile", "csrf_token": csrf(home.text)})
    assert switched.status_code == 303 and switched.headers["location"] == "/profile"
    assert "bb_lang=en" in switched.headers["set-cookie"]
    page = client.get("/profile", headers={"Accept-Language": "ru"})
    assert '<html lang="en">' in page.text and "Your profile" in page.text
    assert 'id="lang-en" lang="en" aria-pressed="true"' in page.text
    home = client.get("/")
    assert "Earning only" in home.text and "last name, first name, date of birth" in home.text


def test_choose_locale():
    assert choose_locale(None, None) == "ru"
    assert choose_locale(None, "de-DE,en;q=0.8") == "en"
    assert choose_locale(None, "en;q=0.3,ru;q=0.9") == "ru"
    assert choose_locale("en", "ru") == "en"
    assert choose_locale("xx", "fr") == "ru"
    assert choose_locale(None, "en;q=abc") == "ru"


def test_every_text_exists_in_both_languages():
    for key, texts in TEXTS.items():
        assert set(texts) == {"ru", "en"} and all(texts.values()), key
