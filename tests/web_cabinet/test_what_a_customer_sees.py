"""Issue 17 item 5, what a customer sees: a legacy card's last purchase (never the day of its
import), the choice of the primary card once made, the consent to personal-data processing
(152-ФЗ) on the profile form, English pages and SMS in English, amounts and dates in SMS as the
pages write them, and a footer with the program's rules and support."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bonusbridge.models import CardStatus, Customer, Origin, PersonalDataConsent, SmsMessage
from bonusbridge.services.cards import block_card
from bonusbridge.settings import Settings, load_settings
from sms.notifications import Notifier
from tests.web_cabinet.conftest import PHONE, VERSION, csrf, form_id, log_in
from tests.web_cabinet.test_profile import FILLED, setup_one_card, submit
from web_cabinet import formats

CYRILLIC = re.compile(r"[\u0400-\u04ff]")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        broker_url="memory://",
        sms_gateway="console",
        sms_console_file=str(tmp_path / "sms-outbox.jsonl"),
        otp_secret="cabinet-test-otp-secret",
        cabinet_session_secret="cabinet-test-session-secret",
        cabinet_session_max_age_seconds=3600,
        profile_required_fields="last_name,first_name,birth_date",
        support_phone="+7 800 100-20-30",
        support_email="help@dobrostroy.example",
        program_rules_url="https://dobrostroy.example/bonus-rules",
    )


def choice_of(page: str, number_tail: str) -> str:
    """The text of the choice (an ``li.card-choice``) showing the card ending in ``number_tail``."""
    found = [item for item in page.split('<li class="card-choice">')[1:] if number_tail in item]
    assert len(found) == 1, page
    return found[0].split("</li>")[0]


def consent_box(page: str) -> str:
    """The consent's checkbox: its ``<input …>`` tag."""
    found = re.search(r'<input type="checkbox" id="pd_consent"[^>]*>', page)
    assert found, page
    return found.group(0)


def rename(world, code: str, name: str, name_en: str | None = None) -> None:
    with world.hub.unit_of_work() as uow:
        program = uow.programs.get_or_create(code, code)
        program.name, program.name_en = name, name_en
        uow.commit()


# --------------------------------------------------------------------------- the last purchase


def test_a_legacy_card_shows_its_last_purchase_or_nothing_never_the_day_of_its_import(
    client, settings, world, clock
):
    imported_on = clock.now - timedelta(days=3)
    never_used = world.card("1111-0000-0001", program="legacy_gold", phone=PHONE)
    used_since = world.card("2222-0000-0002", program="legacy_club", phone=PHONE)
    world.card("3333-0000-0003", program="dobrostroy", phone=PHONE)
    for card in (never_used, used_since):
        world.hub.ledger.accrue(
            card, "100.00", key=f"open/{card}", origin=Origin.MIGRATION, occurred_at=imported_on
        )
    world.accrue(used_since, "5.00", key="till", occurred_at=clock.now - timedelta(days=1))
    log_in(client, settings)
    page = client.get("/cards/choose").text
    assert "12.01.2026" not in page, "the migration's date is no purchase"
    assert "Последняя покупка" not in choice_of(page, "0001"), "nothing known: nothing said"
    assert "Последняя покупка: 14.01.2026" in choice_of(page, "0002"), "used at a till since"
    assert "Последняя покупка: нет" in choice_of(page, "0003"), "a card of the program, never used"


# --------------------------------------------------------------------------- the primary card, once chosen


def test_once_the_primary_card_is_chosen_the_choice_page_says_so_instead_of_asking_again(
    client, settings, world, clock
):
    first = world.card("1111-0000-0001", program="legacy_gold", phone=PHONE)
    second = world.card("2222-0000-0002", program="legacy_club", phone=PHONE)
    world.accrue(first, "10.00", key="a1")
    log_in(client, settings)
    page = client.get("/cards/choose")
    chosen = client.post(
        "/cards/choose",
        data={"card_id": str(second), "form_id": form_id(page.text), "csrf_token": csrf(page.text)},
    )
    assert chosen.status_code == 303
    again = client.get("/cards/choose")
    assert again.status_code == 200
    assert 'id="primary-chosen"' in again.text and f'data-card-id="{second}"' in again.text
    assert "Основная карта выбрана" in again.text and "••••••••0002" in again.text
    assert 'id="confirm-primary"' not in again.text and 'name="card_id"' not in again.text
    assert "Подтвердите, что это ваша карта" not in again.text


# --------------------------------------------------------------------------- consent to personal data


def consents(world) -> list[tuple[int, str, object, Origin]]:
    with world.hub.engine.connect() as conn:
        rows = conn.execute(
            select(
                PersonalDataConsent.customer_id,
                PersonalDataConsent.text_version,
                PersonalDataConsent.given_at,
                PersonalDataConsent.origin,
            ).order_by(PersonalDataConsent.id)
        ).all()
    return [tuple(row) for row in rows]


def test_the_profile_is_not_saved_without_consent_to_personal_data_processing(client, settings, world):
    customer, card = setup_one_card(world)
    log_in(client, settings)
    page = client.get("/profile")
    assert " required" in consent_box(page.text) and " checked" not in consent_box(page.text)
    assert f'href="{settings.personal_data_consent_url}"' in page.text
    answer = submit(client, page, pd_consent="", marketing_consent="yes")
    assert answer.status_code == 400
    assert 'id="pd_consent-error"' in answer.text and "Без согласия на обработку" in answer.text
    row = world.customer_row(customer)
    assert row.last_name is None and not row.marketing_consent, "nothing saved"
    assert consents(world) == []
    assert world.card_row(card).status is CardStatus.ACCUMULATION_ONLY


def test_the_consent_is_recorded_with_its_texts_version_and_time_once_and_shown_in_the_history(
    client, settings, world, clock
):
    customer, card = setup_one_card(world)
    world.accrue(card, "10.00", key="a1")
    log_in(client, settings)
    clock.advance(timedelta(minutes=3))
    assert submit(client, client.get("/profile")).status_code == 303
    given = [(customer, settings.personal_data_consent_version, clock.now, Origin.WEBSITE)]
    assert consents(world) == given
    assert not world.customer_row(customer).marketing_consent, "separate from marketing consent"
    page = client.get("/profile")
    assert " checked" in consent_box(page.text)
    clock.advance(timedelta(minutes=1))
    assert submit(client, page, city="Тула").status_code == 303
    assert consents(world) == given, "the same version is not recorded twice"
    home = client.get("/")
    history = home.text.split('id="history"')[1].split("</table>")[0]
    row = history.split(f'data-consent="{settings.personal_data_consent_version}"')[1].split("</tr>")[0]
    assert "Согласие на обработку персональных данных" in row
    assert formats.moment(given[0][2], "ru", ZoneInfo(settings.sms_default_time_zone)) in row


def test_marketing_consent_alone_is_not_consent_to_processing_and_a_new_text_is_asked_anew(
    client, settings, world, clock, app
):
    customer, _ = setup_one_card(world)
    log_in(client, settings)
    assert submit(client, client.get("/profile"), pd_consent="", marketing_consent="yes").status_code == 400
    assert submit(client, client.get("/profile"), marketing_consent="yes").status_code == 303
    assert world.customer_row(customer).marketing_consent
    app.state.cabinet.settings = settings.model_copy(update={"personal_data_consent_version": "2027-03"})
    page = client.get("/profile")
    assert " checked" not in consent_box(page.text), "the new text is not agreed to yet"
    clock.advance(timedelta(minutes=1))
    assert submit(client, page).status_code == 303
    assert [version for _, version, _, _ in consents(world)] == ["2026-12", "2027-03"]


def test_the_consent_text_and_the_rules_are_readable_without_logging_in(client):
    for lang, words in (("ru", "152-ФЗ"), ("en", "152-FZ")):
        client.cookies.set("bb_lang", lang)
        text = client.get("/consent")
        assert text.status_code == 200 and words in text.text and "2026-12" in text.text
        assert client.get("/rules").status_code == 200


# --------------------------------------------------------------------------- English


def test_the_english_pages_name_programs_and_states_in_english(client, settings, world):
    customer = world.customer(phone_e164=PHONE)
    lost = world.card("4444-0000-0004", customer_id=customer)
    with world.hub.unit_of_work() as uow:  # staff blocked it, with a reason in their words
        block_card(uow, lost, reason="Утеряна, заявление клиента", origin=Origin.ADMIN)
        uow.commit()
    named = world.card("1111-0000-0001", program="legacy_gold", phone=PHONE)
    world.card("2222-0000-0002", program="legacy_club", phone=PHONE)
    world.card("3333-0000-0003", program="dobrostroy", phone=PHONE)
    rename(world, "legacy_gold", "Золотая карта (до 2019)", "Gold card (until 2019)")
    rename(world, "legacy_club", "Клуб «Свой человек»")
    rename(world, "dobrostroy", "Добрострой Бонус")
    world.accrue(named, "10.00", key="a1")
    client.cookies.set("bb_lang", "en")
    log_in(client, settings)
    page = client.get("/cards/choose")
    assert "Gold card (until 2019)" in page.text and "A former loyalty program" in page.text
    assert "Dobrostroy bonus program" in page.text
    assert not CYRILLIC.search(page.text), CYRILLIC.findall(page.text)
    client.post(
        "/cards/choose",
        data={"card_id": str(named), "form_id": form_id(page.text), "csrf_token": csrf(page.text)},
    )
    for path in ("/", f"/cards/{named}", f"/cards/{lost}", "/cards/choose", "/profile", "/rules", "/consent"):
        shown = client.get(path)
        assert shown.status_code == 200, path
        assert not CYRILLIC.search(shown.text), (path, CYRILLIC.findall(shown.text))
    home = client.get("/").text
    assert "the card can neither earn nor spend points" in home and "points moved to card" in home
    client.cookies.set("bb_lang", "ru")
    assert "Золотая карта (до 2019)" in client.get("/").text, "the Russian page keeps the Russian name"


# --------------------------------------------------------------------------- SMS in the customer's language


def notifier(world, settings: Settings, clock) -> Notifier:
    return Notifier(sessionmaker(world.hub.engine, expire_on_commit=False), settings, clock)


def sms_bodies(world) -> list[tuple[str | None, str | None]]:
    with world.hub.engine.connect() as conn:
        rows = conn.execute(select(SmsMessage.locale, SmsMessage.body).order_by(SmsMessage.id)).all()
    return [(locale, body) for locale, body in rows]


def test_a_customer_who_uses_the_cabinet_in_english_gets_sms_in_english_with_english_figures(
    client, settings, world, clock
):
    customer, card = setup_one_card(world, last_name="Smith")  # from 1C: no language known
    assert world.customer_row(customer).locale is None
    client.cookies.set("bb_lang", "en")
    log_in(client, settings)
    row = world.customer_row(customer)
    assert row.locale == "en"
    notices = notifier(world, settings, clock)
    notices.scan_movements()  # the cursor starts here
    world.accrue(card, "1234.5", key="till")
    world.accrue(card, "80.5", key="till2", expires_at=clock.now + timedelta(days=3))
    assert notices.scan_movements() == 2
    with world.hub.unit_of_work() as uow:
        uow.customers.get(customer).marketing_consent = True  # type: ignore[union-attr]
        uow.commit()
    assert notices.scan_expiring() == 1
    bodies = sms_bodies(world)[-3:]
    assert all(locale == "en" and body and not CYRILLIC.search(body) for locale, body in bodies), bodies
    assert "1,234.50 bonus points added" in (bodies[0][1] or "")
    assert "Balance: 1,315.00" in (bodies[1][1] or "")
    assert "80.50 bonus points" in (bodies[2][1] or "") and "2026-01-18" in (bodies[2][1] or "")


def test_switching_the_language_while_logged_in_switches_the_sms_and_keeps_the_profile_form_valid(
    client, settings, world
):
    customer, _ = setup_one_card(world)
    log_in(client, settings)
    assert world.customer_row(customer).locale == "ru"
    page = client.get("/profile")
    before = world.customer_row(customer)
    client.post("/lang", data={"lang": "en", "next": "/profile", "csrf_token": csrf(page.text)})
    after = world.customer_row(customer)
    assert after.locale == "en"
    assert (after.version, after.updated_at) == (before.version, before.updated_at), "no profile change"
    assert VERSION.search(page.text)
    assert submit(client, page).status_code == 303, "the form rendered before is still current"


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_sms_amounts_and_dates_read_as_on_the_pages(lang, world, settings, clock, make_card):
    from bonusbridge.unit_of_work import UnitOfWork

    card = make_card()
    with UnitOfWork(world.hub.engine, clock=clock) as uow:
        customer = uow.customers.add(
            Customer(
                phone_e164=PHONE,
                phone_verified_at=clock.now,
                locale=lang,
                marketing_consent=True,
                changed_by=Origin.ONEC,
            )
        )
        uow.session.flush()
        uow.cards.get(card).customer_id = customer.id  # type: ignore[union-attr]
        uow.commit()
    expires = clock.now + timedelta(days=2)
    notices = notifier(world, settings, clock)
    notices.scan_movements()
    world.accrue(card, "300", key="r1", expires_at=expires)
    world.accrue(card, "80.5", key="r2")
    notices.scan_movements()
    notices.scan_expiring()
    text = " ".join(body or "" for _, body in sms_bodies(world))
    for amount in ("300", "80.5", "380.5"):
        assert formats.points(Decimal(amount), lang) in text, (amount, text)
    assert formats.day(expires, lang, ZoneInfo(settings.sms_default_time_zone)) in text
    assert "80.5 " not in text.replace("80.50", "") and " 300 " not in text


# --------------------------------------------------------------------------- the footer


def test_every_page_has_a_footer_with_the_rules_and_support_from_the_settings(client, settings, world):
    world.card("2000-0000-0042", phone=PHONE)
    pages = [client.get("/login")]
    log_in(client, settings)
    pages += [client.get(path) for path in ("/", "/profile", "/cards/add", "/rules", "/consent")]
    for page in pages:
        footer = page.text.split('<footer class="foot" id="footer">')[1].split("</footer>")[0]
        assert 'href="https://dobrostroy.example/bonus-rules"' in footer and "Правила программы" in footer
        assert 'href="tel:+78001002030"' in footer and "+7 800 100-20-30" in footer
        assert 'href="mailto:help@dobrostroy.example"' in footer


def test_without_a_support_contact_the_footer_sends_to_the_service_desk(tmp_path, world, clock):
    from starlette.testclient import TestClient

    from web_cabinet.app import create_app

    plain = load_settings(sms_gateway="console", sms_console_file=str(tmp_path / "sms.jsonl"))
    client = TestClient(create_app(plain, hub=world.hub, clock=clock), base_url="https://cabinet.test")
    page = client.get("/login")
    footer = page.text.split('id="footer">')[1].split("</footer>")[0]
    assert 'href="/rules"' in footer and "сервисная стойка любого магазина" in footer
    assert FILLED  # the profile helper's data stay those of the profile tests


@pytest.mark.parametrize("number", ["SV0042", "2000000000035"])
def test_the_card_codes_svg_draws_under_the_pages_csp_and_scales_to_the_screen(number):
    from web_cabinet.pages.barcodes import barcode_svg

    _, svg = barcode_svg(number)
    assert "style=" not in svg, "the CSP allows no inline styles: a styled bar would be painted black"
    assert 'fill="white"' in svg and 'fill="black"' in svg
    assert re.search(r'<svg[^>]* viewBox="0 0 [\d.]+ [\d.]+"', svg) and 'width="' not in svg.split(">")[0]
