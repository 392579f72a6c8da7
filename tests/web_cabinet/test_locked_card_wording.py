"""A card that only accumulates shows its points as accumulated, not as spendable (issue 15, item
1): the home page must not say "Можно потратить 1 580,50" under "Только накопление"."""

from __future__ import annotations

import re

from bonusbridge.models import CardStatus, Origin
from bonusbridge.services.profiles import update_profile
from tests.services.lock_paths import BIRTH
from tests.web_cabinet.conftest import PHONE, log_in

BALANCE = re.compile(r"<dt>([^<]+)</dt><dd data-spendable=\"(true|false)\" id=\"balance-available\">([^<]+)<")


def figure(page: str) -> tuple[str, str, str]:
    """The balance's first figure: its label, whether it is spendable, the digits of the amount."""
    match = BALANCE.search(page)
    assert match, page
    label, spendable, amount = match.groups()
    return label, spendable, re.sub(r"\D", "", amount)


def test_a_locked_card_shows_its_points_as_accumulated_until_the_profile_is_complete(client, settings, world):
    # The demo's +7 916 234-56-78: phone verified and card bound before, profile incomplete.
    customer = world.customer(phone_e164=PHONE, last_name="Петрова", first_name="Мария")
    with world.hub.unit_of_work() as uow:
        uow.customers.get(customer).phone_verified_at = world.clock()
        uow.commit()
    card = world.card("2000000000035", customer_id=customer, primary=True, status=CardStatus.ACTIVE)
    world.accrue(card, "1580.50", key="r1")
    log_in(client, settings)

    home = client.get("/").text
    assert "Только накопление" in home
    assert "Можно потратить" not in home
    assert figure(home) == ("Накоплено", "false", "158050")
    assert 'id="balance-locked"' in home and "анкета будет заполнена" in home
    card_page = client.get(f"/cards/{card}").text
    assert "Можно потратить" not in card_page and figure(card_page)[:2] == ("Накоплено", "false")
    english = client.get("/", headers={"Accept-Language": "en"}).text
    assert figure(english) == ("Accumulated", "false", "158050") and "Available" not in english

    with world.hub.unit_of_work() as uow:
        update_profile(uow, customer, BIRTH, origin=Origin.WEBSITE)
        uow.commit()
    home = client.get("/").text
    assert "Только накопление" not in home and 'id="balance-locked"' not in home
    assert figure(home) == ("Можно потратить", "true", "158050")
