"""Seed 004's story in a real browser, on the whole demo: the emulated 1C, the sync, the console SMS
gateway and the cabinet, as ``make run`` starts them.

A customer with three cards of three legacy programs logs in with the code the console gateway
printed, chooses the primary card (the other two are blocked and their points move to it, expiry
dates kept; the choice page then says it is chosen), sees the card locked to accumulation until the
profile is filled, fills it (the consent to personal-data processing required), and sees the merged
balance with the lock lifted and the history readable on a 390 px phone; shows the card's barcode
and QR code, reads the home page in English and logs out. Then the test waits for the sync to have
told 1C all of it and compares the hub with the emulator. Screenshots of each step are kept as artifacts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bonusbridge.models import Card, CardStatus, Customer
from bonusbridge.unit_of_work import normalize_card_number
from connectors.onec.odata import ODataClient
from demo.seed import LEGACY_CARDS, THREE_CARDS, e164
from demo.stack import DemoStack, running_demo
from mapping.profile import load_profile
from reconciliation.compare import compare_hub_with_onec
from sms.gateways.console import read_console_outbox

pytestmark = pytest.mark.timeout(180)

MERGED_TOTAL = sum((amount for _, _, amount, _ in LEGACY_CARDS), Decimal("0"))
PRIMARY = "SV-0042"  # the card the customer keeps: the one whose points never expire


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoStack]:
    with running_demo(tmp_path / "var") as stack:
        yield stack


def wait_for(check: Callable[[], Any], *, timeout: float = 30, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def digits(text: str) -> str:
    """'1 580,50' and '1,580.50' alike: only the digits, for comparing figures across locales."""
    return re.sub(r"\D", "", text)


def code_sent_to(demo: DemoStack, phone: str) -> str:
    """The newest code the console gateway 'sent' to ``phone``: what the customer reads on screen."""

    def newest() -> str | None:
        for message in read_console_outbox(demo.settings.sms_console_file, limit=50):  # newest first
            found = re.search(r"\b(\d{6})\b", str(message.get("text", "")))
            if message.get("phone") == phone and found:
                return found.group(1)
        return None

    code: str = wait_for(newest, what="the SMS with the code")
    return code


def test_a_customer_with_three_legacy_cards_walks_seed_004(
    browser: Any, demo: DemoStack, artifacts: Path
) -> None:
    context = browser.new_context(locale="ru-RU", viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    page.goto(f"{demo.cabinet_url}/")
    page.wait_for_url(re.compile(r"/login"))
    page.screenshot(path=str(artifacts / "01-login.png"), full_page=True)

    page.fill("#phone", THREE_CARDS.phone)
    page.click("#send-code")
    page.wait_for_selector("#code")
    page.fill("#code", code_sent_to(demo, e164(THREE_CARDS.phone)))
    page.screenshot(path=str(artifacts / "02-code.png"), full_page=True)
    page.click("#verify-code")

    page.wait_for_selector("#choose-form")
    choices = page.locator(".card-choice")
    assert choices.count() == 3
    assert sorted(digits(text) for text in page.locator(".card-balance").all_inner_texts()) == sorted(
        digits(f"{amount:.2f}") for _, _, amount, _ in LEGACY_CARDS
    )
    shown_numbers = " ".join(page.locator("[data-card-number]").all_inner_texts())
    assert "GOLD-77-001" not in shown_numbers  # masked but for the last digits
    # legacy cards: their programs' last purchase is unknown, and the import's date is none
    assert page.locator(".last-purchase").count() == 0
    page.screenshot(path=str(artifacts / "03-choose-primary.png"), full_page=True)
    page.locator(".card-choice", has_text="0042").locator("input[type=radio]").check()
    page.click("#confirm-primary")

    page.wait_for_load_state()
    page.goto(f"{demo.cabinet_url}/cards/choose")  # once chosen, the page says so
    assert "0042" in page.inner_text("#primary-chosen")
    assert page.locator("#confirm-primary").count() == 0
    page.screenshot(path=str(artifacts / "04-primary-chosen.png"), full_page=True)

    page.goto(f"{demo.cabinet_url}/")
    assert page.get_attribute("#card-status", "data-status") == CardStatus.ACCUMULATION_ONLY.value
    assert digits(page.inner_text("#balance-available")) == digits(f"{MERGED_TOTAL:.2f}")
    # the accumulation-only wording: accumulated, not "available", and why
    assert page.get_attribute("#balance-available", "data-spendable") == "false"
    assert "Накоплено" in page.inner_text(".balance") and "Можно потратить" not in page.inner_text(".balance")
    assert "когда анкета будет заполнена" in page.inner_text("#balance-locked")
    assert "Заполните анкету" in page.inner_text("#card-status-reason")
    page.screenshot(path=str(artifacts / "05-merged-accumulation-only.png"), full_page=True)

    page.goto(f"{demo.cabinet_url}/profile")
    page.fill("#last_name", "Смирнова")
    page.fill("#first_name", "Елена")
    page.fill("#birth_date", "1990-04-12")
    assert not page.is_checked("#pd_consent") and not page.is_checked("#marketing_consent")
    page.click("#save-profile")  # without the consent to personal-data processing: refused
    page.wait_for_selector("#pd_consent-error")
    page.check("#pd_consent")
    page.screenshot(path=str(artifacts / "06-profile.png"), full_page=True)
    page.click("#save-profile")

    page.wait_for_load_state()
    page.goto(f"{demo.cabinet_url}/")
    assert page.get_attribute("#card-status", "data-status") == CardStatus.ACTIVE.value
    assert digits(page.inner_text("#balance-available")) == digits(f"{MERGED_TOTAL:.2f}")
    statuses = page.locator("#cards li").evaluate_all("items => items.map(i => i.dataset.status)")
    assert sorted(statuses) == ["active", "blocked", "blocked"]
    # the history on a 390 px phone: no sideways scrolling, the points column on screen
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    points = page.locator("#history tbody tr[data-source] td.num")
    assert points.count() >= 5
    for index in range(points.count()):
        cell = points.nth(index)
        cell.scroll_into_view_if_needed()
        box = cell.bounding_box()
        assert cell.is_visible() and box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.locator("#history tr.consent").count() == 1, "the consent is in the history"
    assert page.is_visible("#footer-rules") and page.is_visible("#footer-support")
    page.screenshot(path=str(artifacts / "07-home-lock-lifted.png"), full_page=True)

    # the card to show at the till: the full number, its barcode and a QR code
    page.click("#cards li[data-status=active] a")
    page.wait_for_selector("#card-barcode svg")
    assert page.inner_text("#card-full-number") == normalize_card_number(PRIMARY)
    assert page.get_attribute("#card-barcode", "data-format") in ("code128", "ean13")
    for code in ("#card-barcode svg", "#card-qr svg"):
        box = page.locator(code).bounding_box()
        assert box is not None and box["width"] >= 150 and box["x"] + box["width"] <= 390
    # drawn, not a black box (the CSP allows no inline styles), with bars wide enough for a scanner
    bars = page.locator("#card-barcode rect[fill=black]")
    assert bars.count() >= 10 and page.locator("#card-barcode [style]").count() == 0
    first, last = bars.first.bounding_box(), bars.last.bounding_box()
    assert first is not None and last is not None
    assert last["x"] + last["width"] - first["x"] >= 200, "the bars span most of the phone's width"
    assert min(box["width"] for box in (first, last)) >= 2, "no bar thinner than two pixels"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "08-card-barcode.png"), full_page=True)

    # in English: programs and states in English
    page.click("#lang-en")
    page.wait_for_selector("html[lang=en]")
    page.goto(f"{demo.cabinet_url}/")
    assert "One of us (until 2020)" in page.inner_text("main")
    assert not re.search(r"[\u0400-\u04ff]", page.inner_text("body")), page.inner_text("body")
    page.screenshot(path=str(artifacts / "09-home-english.png"), full_page=True)

    # logging out: the home page asks to log in again
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(f"{demo.cabinet_url}/")
    page.wait_for_url(re.compile(r"/login$"))
    assert page.is_visible("#phone-form") and page.locator("#logout").count() == 0
    page.screenshot(path=str(artifacts / "10-logged-out.png"), full_page=True)
    context.close()

    assert_onec_learned_everything(demo)
    assert sorted(path.name for path in artifacts.iterdir()) == [
        "01-login.png",
        "02-code.png",
        "03-choose-primary.png",
        "04-primary-chosen.png",
        "05-merged-accumulation-only.png",
        "06-profile.png",
        "07-home-lock-lifted.png",
        "08-card-barcode.png",
        "09-home-english.png",
        "10-logged-out.png",
    ]


def assert_onec_learned_everything(demo: DemoStack) -> None:
    """The sync delivered the merge and the profile: every card of the customer exists in 1C with
    the hub's balance and status, and the partner's profile equals the hub's."""
    engine = demo.hub.engine
    with engine.connect() as conn:
        customer_id = conn.execute(
            select(Customer.id).where(Customer.phone_e164 == e164(THREE_CARDS.phone))
        ).scalar_one()

    def all_linked() -> bool:
        with engine.connect() as conn:
            refs = conn.execute(select(Card.onec_ref).where(Card.customer_id == customer_id)).scalars().all()
        return len(refs) == 3 and all(refs)

    wait_for(all_linked, timeout=60, what="the three cards to be created in 1C")
    profile = load_profile(demo.settings.onec_config, tz=demo.settings.onec_zone)
    with ODataClient.from_settings(demo.settings) as client:

        def agrees() -> Any:
            result = compare_hub_with_onec(engine, client, profile, customer_ids=[customer_id])
            return result if result.ok and result.checked_cards == 3 else None

        wait_for(agrees, timeout=60, what="1C to agree with the hub")
