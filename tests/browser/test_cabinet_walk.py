"""Seed 004's story in a real browser, on the whole demo: the emulated 1C, the sync, the console SMS
gateway and the cabinet, as ``make run`` starts them.

A customer with three cards of three legacy programs logs in with the code the console gateway
printed, chooses the primary card (the other two are blocked and their points move to it, expiry
dates kept), sees the card locked to accumulation until the profile is filled, fills it, and sees
the merged balance with the lock lifted. Then the test waits for the sync to have told 1C all of
it and compares the hub with the emulator. Screenshots of each step are kept as artifacts.
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
    page.screenshot(path=str(artifacts / "03-choose-primary.png"), full_page=True)
    page.locator(".card-choice", has_text="0042").locator("input[type=radio]").check()
    page.click("#confirm-primary")

    page.wait_for_load_state()
    page.goto(f"{demo.cabinet_url}/")
    assert page.get_attribute("#card-status", "data-status") == CardStatus.ACCUMULATION_ONLY.value
    assert digits(page.inner_text("#balance-available")) == digits(f"{MERGED_TOTAL:.2f}")
    page.screenshot(path=str(artifacts / "04-merged-accumulation-only.png"), full_page=True)

    page.goto(f"{demo.cabinet_url}/profile")
    page.fill("#last_name", "Смирнова")
    page.fill("#first_name", "Елена")
    page.fill("#birth_date", "1990-04-12")
    page.screenshot(path=str(artifacts / "05-profile.png"), full_page=True)
    page.click("#save-profile")

    page.wait_for_load_state()
    page.goto(f"{demo.cabinet_url}/")
    assert page.get_attribute("#card-status", "data-status") == CardStatus.ACTIVE.value
    assert digits(page.inner_text("#balance-available")) == digits(f"{MERGED_TOTAL:.2f}")
    statuses = page.locator("#cards li").evaluate_all("items => items.map(i => i.dataset.status)")
    assert sorted(statuses) == ["active", "blocked", "blocked"]
    page.screenshot(path=str(artifacts / "06-home-lock-lifted.png"), full_page=True)
    context.close()

    assert_onec_learned_everything(demo)
    assert sorted(path.name for path in artifacts.iterdir()) == [
        "01-login.png",
        "02-code.png",
        "03-choose-primary.png",
        "04-merged-accumulation-only.png",
        "05-profile.png",
        "06-home-lock-lifted.png",
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
