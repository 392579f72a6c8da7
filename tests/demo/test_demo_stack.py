"""``make run``'s demo: every branch of seed 004's flow is there, reached through the real pages.

The demo is started as ``bonusbridge run-demo`` starts it (emulated 1C, initial load, seeding,
sync, SMS and the cabinet, on free ports); each test logs a demo phone in over HTTP with the code
the console gateway wrote, as a customer would, and checks what the cabinet offers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import select

from bonusbridge.models import Card, Customer
from demo.seed import (
    BOUND_CARD,
    BOUND_ELSEWHERE,
    CLAIMABLE_CARD,
    CLAIMABLE_RECEIPT_POINTS,
    NO_CARD,
    ONE_CARD,
    THREE_CARDS,
    TWO_CARDS_FROM_1C,
    e164,
)
from demo.stack import DemoStack, running_demo
from sms.gateways.console import read_console_outbox

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with running_demo(tmp_path_factory.mktemp("demo") / "var") as stack:
        yield stack


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def newest_code(demo: DemoStack, phone: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for message in read_console_outbox(demo.settings.sms_console_file):  # newest first
            found = re.search(r"\b(\d{6})\b", str(message.get("text", "")))
            if message.get("phone") == phone and found:
                return found.group(1)
        time.sleep(0.1)
    pytest.fail(f"no code was sent to {phone}")


@contextmanager
def logged_in(demo: DemoStack, phone: str) -> Iterator[tuple[httpx.Client, httpx.Response]]:
    """A browser-like client logged in with ``phone``, and the page the login landed on."""
    with httpx.Client(base_url=demo.cabinet_url, follow_redirects=True, timeout=10) as client:
        yield client, _log_in(client, demo, phone)


def _log_in(client: httpx.Client, demo: DemoStack, phone: str) -> httpx.Response:
    page = client.post("/login/phone", data={"phone": phone, "csrf_token": csrf(client.get("/login").text)})
    assert page.status_code == 200 and 'id="code"' in page.text
    landing = client.post(
        "/login/code", data={"code": newest_code(demo, e164(phone)), "csrf_token": csrf(page.text)}
    )
    assert landing.status_code == 200
    return landing


def test_the_banner_names_the_url_and_every_demo_phone(demo: DemoStack) -> None:
    banner = demo.banner()
    assert demo.cabinet_url in banner and f"{demo.cabinet_url}/dev/sms" in banner
    for phone in (ONE_CARD, THREE_CARDS, NO_CARD, BOUND_ELSEWHERE, TWO_CARDS_FROM_1C):
        assert phone.phone in banner


def test_one_card_goes_straight_to_the_cabinet(demo: DemoStack) -> None:
    with logged_in(demo, ONE_CARD.phone) as (client, landing):
        assert 'id="choose-form"' not in landing.text
        home = client.get("/")
        assert "0059" in home.text  # 2000000000059, from 1C
        assert re.sub(r"\D", "", re.search(r'id="balance-available">([^<]+)<', home.text).group(1)) == "30000"  # type: ignore[union-attr]


def test_three_legacy_cards_and_two_cards_from_1c_ask_for_the_primary_one(demo: DemoStack) -> None:
    for phone, count in ((THREE_CARDS, 3), (TWO_CARDS_FROM_1C, 2)):
        with logged_in(demo, phone.phone) as (client, _):
            choose = client.get("/cards/choose")
            assert 'id="choose-form"' in choose.text
            assert choose.text.count('class="card-choice"') == count


def test_no_card_binds_one_by_the_points_of_its_last_receipt_but_never_a_card_bound_elsewhere(
    demo: DemoStack,
) -> None:
    with logged_in(demo, NO_CARD.phone) as (client, _):
        form = client.get("/cards/add")
        assert 'id="add-card-form"' in form.text
        refused = client.post(
            "/cards/add",
            data={"card_number": BOUND_CARD, "receipt_points": "1200", "csrf_token": csrf(form.text)},
        )
        assert 'role="alert"' in refused.text or 'aria-invalid="true"' in refused.text
        with demo.hub.engine.connect() as conn:
            owner_phone = conn.execute(
                select(Customer.phone_e164)
                .join(Card, Card.customer_id == Customer.id)
                .where(Card.number == BOUND_CARD)
            ).scalar_one()
        assert owner_phone == e164(BOUND_ELSEWHERE.phone)  # still the first owner's

        form = client.get("/cards/add")
        typed = CLAIMABLE_CARD.replace(" ", "-")  # as a customer might type it
        bound = client.post(
            "/cards/add",
            data={
                "card_number": typed,
                "receipt_points": f"{CLAIMABLE_RECEIPT_POINTS}",
                "csrf_token": csrf(form.text),
            },
        )
        assert bound.status_code == 200
        home = client.get("/")
        assert "0077" in home.text and 'id="balance-available"' in home.text
