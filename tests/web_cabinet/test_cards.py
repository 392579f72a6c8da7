"""Seed 004's branches after login: one card (shown), several cards (choose the primary one: the
others blocked, their points moved with their expiry dates, all in one step that reaches 1C through
the outbox), no card (add one by number and a receipt's points). Plus what a thief or a cashier
tries: other customers' card ids and numbers, guessing the proof, resubmitting a form."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from bonusbridge.models import CardStatus, Lot, Movement, MovementKind, Origin, OutboxMessage
from bonusbridge.services.card_claims import MAX_FAILURES_PER_CUSTOMER_DAY, normalize_typed_card_number
from tests.web_cabinet.conftest import OTHER_PHONE, PHONE, csrf, form_id, log_in


def three_legacy_cards(world, clock):
    """Seed 004: three cards of three programs carry the customer's phone, with points expiring at
    different dates."""
    soon, later = clock.now + timedelta(days=10), clock.now + timedelta(days=200)
    first = world.card("1111-0000-0001", program="stroymarket", phone=PHONE)
    second = world.card("2222-0000-0002", program="dobrostroy", phone=PHONE)
    third = world.card("3333-0000-0003", program="remont_club", phone=PHONE)
    world.accrue(first, "100.00", key="a1", expires_at=soon)
    world.accrue(second, "250.50", key="a2", expires_at=later)
    world.accrue(third, "40.00", key="a3")
    return first, second, third


def test_one_card_on_the_phone_is_shown_at_once(client, settings, world):
    card = world.card("2000-0000-0042", phone=PHONE)
    world.accrue(card, "77.70", key="k1")
    answer = log_in(client, settings)
    assert answer.headers["location"] == "/profile", "one card: bound, then the profile"
    home = client.get("/")
    assert home.status_code == 200 and "77,70" in home.text
    assert "••••••••0042" in home.text and "2000000042" not in home.text, "the number is masked"
    stored = world.card_row(card)
    assert stored.customer_id == world.customer_by_phone().id and stored.is_primary
    assert stored.status is CardStatus.ACCUMULATION_ONLY


def test_several_cards_are_listed_with_program_masked_number_balance_and_last_use(
    client, settings, world, clock
):
    three_legacy_cards(world, clock)
    answer = log_in(client, settings)
    assert answer.headers["location"] == "/cards/choose"
    page = client.get("/cards/choose")
    assert page.status_code == 200
    for name, masked, balance in [
        ("Stroymarket", "••••••••0001", "100,00"),
        ("Dobrostroy", "••••••••0002", "250,50"),
        ("Remont_Club", "••••••••0003", "40,00"),
    ]:
        assert name in page.text and masked in page.text and balance in page.text
    assert "15.01.2026" in page.text, "last use"
    assert "11110000" not in page.text
    assert 'id="confirm-primary"' in page.text and 'name="card_id"' in page.text


def test_choosing_the_primary_merges_the_others_keeping_expiry_dates_and_tells_1c(
    client, settings, world, clock
):
    first, second, third = three_legacy_cards(world, clock)
    log_in(client, settings)
    page = client.get("/cards/choose")
    chosen = client.post(
        "/cards/choose",
        data={"card_id": str(second), "form_id": form_id(page.text), "csrf_token": csrf(page.text)},
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == "/profile"
    assert world.total(second) == Decimal("390.50")
    assert world.total(first) == world.total(third) == Decimal("0.00")
    for merged in (first, third):
        row = world.card_row(merged)
        assert row.status is CardStatus.BLOCKED and row.merged_into_id == second
    assert world.card_row(second).is_primary
    with world.hub.engine.connect() as conn:
        expiries = sorted(
            (str(lot.remaining), lot.expires_at)
            for lot in conn.execute(select(Lot).where(Lot.card_id == second, Lot.remaining > 0))
        )
        outbox = conn.execute(
            select(OutboxMessage.topic, OutboxMessage.entity_id, OutboxMessage.origin).where(
                OutboxMessage.topic == "card", OutboxMessage.entity_id.in_([first, third])
            )
        ).all()
    assert ("100.00", clock.now + timedelta(days=10)) in expiries, "the lot kept its expiry date"
    assert ("40.00", None) in expiries
    assert {entity for _, entity, origin in outbox if origin == "website"} == {first, third}, (
        "the blocked cards go to 1C"
    )
    profile = client.get("/profile")
    assert "Перенесено бонусов: 140,00" in profile.text
    home = client.get("/")
    assert "390,50" in home.text and "Объединение карт" in home.text
    assert "бонусы перенесены на карту ••••••••0002" in home.text
    assert "100,00" in home.text and "25.01.2026" in home.text, "what expires soon and when"


def test_a_double_submitted_choice_moves_the_points_once(client, settings, world, clock):
    first, _, _ = three_legacy_cards(world, clock)
    log_in(client, settings)
    page = client.get("/cards/choose")
    data = {"card_id": str(first), "form_id": form_id(page.text), "csrf_token": csrf(page.text)}
    assert client.post("/cards/choose", data=data).status_code == 303
    again = client.post("/cards/choose", data=data)
    assert again.status_code == 303
    assert world.total(first) == Decimal("390.50")
    with world.hub.engine.connect() as conn:
        transfers = conn.execute(
            select(Movement.id).where(Movement.kind == MovementKind.TRANSFER_IN, Movement.card_id == first)
        ).all()
    assert len(transfers) == 2


def test_choosing_nothing_or_another_customers_card_is_refused_and_changes_nothing(
    client, settings, world, clock
):
    first, _, _ = three_legacy_cards(world, clock)
    stranger = world.customer(phone_e164=OTHER_PHONE, phone_verified_at=clock.now)
    theirs = world.card("9999-0000-0009", phone=OTHER_PHONE, customer_id=stranger, primary=True)
    world.accrue(theirs, "500.00", key="t1")
    log_in(client, settings)
    page = client.get("/cards/choose")
    assert "••••••••0009" not in page.text
    none = client.post("/cards/choose", data={"form_id": form_id(page.text), "csrf_token": csrf(page.text)})
    assert none.status_code == 400 and "Выберите одну из карт" in none.text
    foreign = client.post(
        "/cards/choose",
        data={"card_id": str(theirs), "form_id": form_id(page.text), "csrf_token": csrf(page.text)},
    )
    assert foreign.status_code == 400 and "Эту карту нельзя выбрать" in foreign.text
    assert world.total(theirs) == Decimal("500.00") and world.total(first) == Decimal("100.00")
    assert world.card_row(theirs).customer_id == stranger
    assert world.card_row(first).customer_id is None, "nothing was bound"


def test_a_cashiers_card_with_the_customers_phone_is_not_offered(client, settings, world, clock):
    """A card bound to another verified customer never shows up, even with this phone recorded."""
    cashier = world.customer(phone_e164=OTHER_PHONE, phone_verified_at=clock.now)
    world.card("5555-0000-0005", phone=PHONE, customer_id=cashier, primary=True)
    answer = log_in(client, settings)
    assert answer.headers["location"] == "/cards/add"


def test_another_customers_card_page_is_not_found(client, settings, world, clock):
    mine = world.card("2000-0000-0042", phone=PHONE)
    stranger = world.customer(phone_e164=OTHER_PHONE, phone_verified_at=clock.now)
    theirs = world.card("9999-0000-0009", customer_id=stranger, primary=True)
    world.accrue(theirs, "500.00", key="t1")
    log_in(client, settings)
    assert client.get(f"/cards/{mine}").status_code == 200
    for other in (theirs, theirs + 1000):
        answer = client.get(f"/cards/{other}")
        assert (
            answer.status_code == 404 and "500,00" not in answer.text and "Страница не найдена" in answer.text
        )


def test_a_pending_checkout_hold_postpones_the_merge(client, settings, world, clock):
    first, second, _ = three_legacy_cards(world, clock)
    world.hub.ledger.hold(first, "10.00", key="h1", origin=Origin.WEBSITE)
    log_in(client, settings)
    page = client.get("/cards/choose")
    answer = client.post(
        "/cards/choose",
        data={"card_id": str(second), "form_id": form_id(page.text), "csrf_token": csrf(page.text)},
    )
    assert answer.status_code == 409 and "идёт оплата бонусами" in answer.text
    assert world.total(first) == Decimal("100.00") and world.card_row(first).customer_id is None


# --------------------------------------------------------------------------- no card on the phone


def add(client, number, points):
    page = client.get("/cards/add")
    return client.post(
        "/cards/add", data={"card_number": number, "receipt_points": points, "csrf_token": csrf(page.text)}
    )


def test_normalization_of_typed_card_numbers():
    assert normalize_typed_card_number(" 2000 0000-0042 ") == "200000000042"
    assert normalize_typed_card_number("ав-12 ек") == "AB12EK"  # Cyrillic look-alikes, lower case
    assert normalize_typed_card_number("АВЕКМНОРСТХУ") == "ABEKMHOPCTXY"
    assert normalize_typed_card_number("— –") == ""


def test_no_card_on_the_phone_asks_for_a_card_number(client, settings):
    answer = log_in(client, settings)
    assert answer.headers["location"] == "/cards/add"
    page = client.get("/cards/add")
    assert 'id="card-number" name="card_number"' in page.text and 'id="receipt-points"' in page.text
    assert client.get("/").headers["location"] == "/cards/add"


def test_a_card_typed_with_spaces_dashes_and_cyrillic_letters_is_added_with_the_receipts_points(
    client, settings, world
):
    card = world.card("BK-2000-0077")
    world.accrue(card, "45.60", key="r1")
    log_in(client, settings)
    answer = add(client, " вк 2000–0077 ", "45,60")  # Cyrillic В, К, lower case, a space, an en dash
    assert answer.status_code == 303 and answer.headers["location"] == "/profile"
    assert world.card_row(card).customer_id == world.customer_by_phone().id
    assert "Карта добавлена" in client.get("/profile").text


def test_a_spent_amount_proves_the_card_too(client, settings, world):
    card = world.card("2000-0000-0077")
    world.accrue(card, "45.60", key="r1")
    world.hub.ledger.redeem(card, "12.00", key="r2", origin=Origin.ONEC)
    log_in(client, settings)
    assert add(client, "2000 0000 0077", "12").status_code == 303
    assert world.card_row(card).customer_id is not None


def test_a_wrong_amount_and_an_unknown_number_get_the_same_answer(client, settings, world):
    card = world.card("2000-0000-0077")
    world.accrue(card, "45.60", key="r1")
    log_in(client, settings)
    wrong = add(client, "2000-0000-0077", "45.00")
    unknown = add(client, "2000-0000-9999", "45.60")
    assert wrong.status_code == unknown.status_code == 400
    message = "Номер карты или число бонусов не совпадают"
    assert message in wrong.text and message in unknown.text
    assert world.card_row(card).customer_id is None


def test_bad_input_on_the_add_form_is_tied_to_its_field(client, settings):
    log_in(client, settings)
    answer = add(client, " - ", "abc")
    assert answer.status_code == 400
    assert 'id="card-number-error"' in answer.text and 'id="receipt-points-error"' in answer.text
    assert re.search(r'aria-describedby="card-number-hint card-number-error"', answer.text)


def test_guessing_the_proof_is_rate_limited(client, settings, world):
    card = world.card("2000-0000-0077")
    world.accrue(card, "45.60", key="r1")
    log_in(client, settings)
    for guess in range(MAX_FAILURES_PER_CUSTOMER_DAY):
        assert add(client, "2000-0000-0077", f"{guess + 1}.00").status_code == 400
    limited = add(client, "2000-0000-0077", "45.60")
    assert limited.status_code == 429 and "Слишком много неудачных попыток" in limited.text
    assert int(limited.headers["retry-after"]) > 0
    assert world.card_row(card).customer_id is None, "even the right amount is not checked now"


def test_the_card_limit_holds_across_customers(client, settings, world, app, clock):
    from starlette.testclient import TestClient

    card = world.card("2000-0000-0077")
    world.accrue(card, "45.60", key="r1")
    phones = ["+79160000001", "+79160000002", "+79160000003"]
    attempts = 0
    for phone in phones:
        other = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
        log_in(other, settings, phone)
        for _ in range(2):
            attempts += 1
            answer = add(other, "2000-0000-0077", f"{attempts}.11")
            assert answer.status_code == (400 if attempts <= 5 else 429)
    assert world.card_row(card).customer_id is None


def test_another_customers_card_can_never_be_taken_from_the_cabinet(client, settings, world, clock):
    """Seed 004: a cashier knows the receipt, but the card is bound to the customer's verified phone."""
    owner = world.customer(phone_e164=OTHER_PHONE, phone_verified_at=clock.now)
    card = world.card("2000-0000-0077", customer_id=owner, primary=True)
    world.accrue(card, "45.60", key="r1")
    log_in(client, settings)
    answer = add(client, "2000-0000-0077", "45.60")
    # the same answer as a wrong proof (issue 17 item 4): no oracle for the receipt's points
    assert answer.status_code == 400 and "привязана к другому номеру" in answer.text
    assert world.card_row(card).customer_id == owner and world.total(card) == Decimal("45.60")


def test_a_card_recorded_with_another_phone_is_not_taken_either(client, settings, world):
    card = world.card("2000-0000-0077", phone=OTHER_PHONE)
    world.accrue(card, "45.60", key="r1")
    log_in(client, settings)
    answer = add(client, "2000-0000-0077", "45.60")
    assert answer.status_code == 400
    assert world.card_row(card).customer_id is None


def test_a_blocked_card_cannot_be_added(client, settings, world):
    card = world.card("2000-0000-0077")
    world.accrue(card, "45.60", key="r1")
    with world.hub.unit_of_work() as uow:
        from bonusbridge.models import Origin
        from bonusbridge.services.cards import block_card

        block_card(uow, card, reason="lost", origin=Origin.ONEC)
        uow.commit()
    log_in(client, settings)
    answer = add(client, "2000-0000-0077", "45.60")
    assert answer.status_code == 409 and "заблокирована" in answer.text


def test_adding_the_same_card_twice_changes_nothing_the_second_time(client, settings, world):
    card = world.card("2000-0000-0077")
    world.accrue(card, "45.60", key="r1")
    log_in(client, settings)
    page = client.get("/cards/add")
    data = {"card_number": "2000-0000-0077", "receipt_points": "45.60", "csrf_token": csrf(page.text)}
    assert client.post("/cards/add", data=data).status_code == 303
    updated = world.card_row(card).updated_at
    again = client.post("/cards/add", data=data)
    assert again.status_code == 303
    assert world.card_row(card).updated_at == updated
    assert "Эта карта уже ваша" in client.get(again.headers["location"]).text


def test_adding_a_second_card_leads_to_choosing_the_primary(client, settings, world):
    mine = world.card("2000-0000-0042", phone=PHONE)
    extra = world.card("2000-0000-0077")
    world.accrue(extra, "45.60", key="r1")
    log_in(client, settings)
    answer = add(client, "2000-0000-0077", "45.60")
    assert answer.headers["location"] == "/cards/choose"
    page = client.get("/cards/choose")
    assert "••••••••0042" in page.text and "••••••••0077" in page.text
    assert world.card_row(mine).is_primary
