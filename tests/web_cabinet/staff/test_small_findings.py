"""Issue 17 item 4: the smaller security findings, each with its test.

Ids no row can have are a localized 404 everywhere; the viewer reads card numbers masked inside
reason texts; binding another phone's card answers a wrong and a right proof alike; a staff
adjustment takes plain decimals only; a merge that does not exist and a URL part that is no id are
localized 404 pages; HEAD answers as GET without a body."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from starlette.testclient import TestClient

from bonusbridge.models import Card, CardStatus
from bonusbridge.settings import Settings
from tests.web_cabinet.conftest import OTHER_PHONE, PHONE, World, csrf, log_in
from tests.web_cabinet.staff.conftest import csrf_of, staff_log_in

FORM_ID = re.compile(r'name="form_id" value="([0-9a-f]{32})"')
HUGE = [2**31, 2**63, 2**63 + 1, 2**64 + 5, 10**30]


def _customer(world: World, phone: str = PHONE) -> tuple[int, int]:
    customer = world.customer(
        phone_e164=phone,
        phone_verified_at=world.clock(),
        last_name="Петрова",
        first_name="Мария",
        birth_date=world.clock().date() - timedelta(days=40 * 365),
    )
    card = world.card("2000000000011" if phone == PHONE else "2000000000028", customer_id=customer,
                      phone=phone, primary=True)  # fmt: skip
    return customer, card


# --------------------------------------------------------------------------- ids beyond any row


@pytest.mark.parametrize("huge", HUGE)
def test_ids_no_row_can_have_are_a_localized_404_on_every_page(client, settings, world, staff, huge):
    _customer(world)
    log_in(client, settings)
    answer = client.get(f"/cards/{huge}")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
    staff_log_in(client, "admin")
    for url in (f"/staff/customers/{huge}", f"/staff/cards/{huge}", f"/staff/drift/{huge}"):
        page = client.get(url)
        assert page.status_code == 404, (url, page.status_code)
        assert "text/html" in page.headers["content-type"] and "<html" in page.text
    form = client.get("/staff/merges")
    unmerge = client.post(
        f"/staff/merges/{huge}/unmerge",
        data={"csrf_token": csrf_of(form.text), "reason": "test", "form_id": "a" * 32},
    )
    assert unmerge.status_code == 404 and "<html" in unmerge.text
    assert client.get(f"/staff/merges/{huge}/unmerge").status_code == 404


def test_a_merge_that_does_not_exist_and_a_part_that_is_no_id_are_localized_404_pages(client, staff):
    staff_log_in(client, "admin")
    missing = client.get("/staff/merges/999/unmerge")
    assert missing.status_code == 404 and 'name="reason"' not in missing.text
    for url in ("/staff/customers/abc", "/staff/cards/1x", "/staff/drift/%20", "/staff/merges/abc/unmerge"):
        page = client.get(url)
        assert page.status_code == 404, url
        assert "text/html" in page.headers["content-type"], url
        assert not page.text.lstrip().startswith("{"), url  # not FastAPI's raw JSON
    english = client.get("/staff/customers/abc", headers={"Accept-Language": "en"})
    russian = client.get("/staff/customers/abc", headers={"Accept-Language": "ru"})
    assert english.text != russian.text and 'lang="en"' in english.text and 'lang="ru"' in russian.text


# --------------------------------------------------------------------------- card numbers in reasons


def test_the_viewer_reads_card_numbers_masked_inside_reason_texts(client, staff, world, db: Engine):
    customer, _ = _customer(world)
    merged = world.card("GOLD77001", program="gold", customer_id=customer, status=CardStatus.BLOCKED)
    with db.begin() as conn:
        conn.execute(update(Card).where(Card.id == merged).values(status_reason="merged into GOLD77001"))
    staff_log_in(client, "viewer")
    page = client.get(f"/staff/customers/{customer}")
    assert page.status_code == 200
    assert "GOLD77001" not in page.text and "•7001" in page.text  # masked, its tail kept
    staff_log_in(client, "admin")
    assert "GOLD77001" in client.get(f"/staff/customers/{customer}").text  # admin decides repairs


# --------------------------------------------------------------------------- binding another phone's card


def test_binding_another_phones_card_answers_a_wrong_and_a_right_proof_alike(client, settings, world):
    _customer(world)
    other, other_card = _customer(world, OTHER_PHONE)
    world.accrue(other_card, "12.34", key="receipt")
    log_in(client, settings)
    answers = []
    for points in ("99.99", "12.34"):  # a wrong proof, then the right one
        page = client.get("/cards/add")
        answer = client.post(
            "/cards/add",
            data={"card_number": "2000000000028", "receipt_points": points, "csrf_token": csrf(page.text)},
        )
        error = re.search(r'class="error"[^>]*>(.*?)<', answer.text, re.S)
        answers.append((answer.status_code, error.group(1).strip() if error else answer.text))
    assert answers[0] == answers[1], answers
    assert world.card_row(other_card).customer_id == other


# --------------------------------------------------------------------------- plain decimals


@pytest.mark.parametrize("typed", ["1e2", "1E2", "Infinity", "NaN", "0x10", "1_000", "١٠٠"])
def test_a_staff_adjustment_takes_plain_decimals_only(client, staff, world, typed):
    customer, card = _customer(world)
    staff_log_in(client, "admin")
    url = f"/staff/customers/{customer}"
    page = client.get(url)
    answer = client.post(
        f"{url}/adjust",
        data={
            "csrf_token": csrf_of(page.text),
            "form_id": FORM_ID.search(page.text).group(1),  # type: ignore[union-attr]
            "card_id": card,
            "amount": typed,
            "reason": "goodwill",
        },
    )
    assert answer.status_code == 422, (typed, answer.status_code)
    assert world.total(card) == 0


def test_a_plain_decimal_adjustment_still_goes_through(client, staff, world):
    customer, card = _customer(world)
    staff_log_in(client, "admin")
    url = f"/staff/customers/{customer}"
    page = client.get(url)
    answer = client.post(
        f"{url}/adjust",
        data={
            "csrf_token": csrf_of(page.text),
            "form_id": FORM_ID.search(page.text).group(1),  # type: ignore[union-attr]
            "card_id": card,
            "amount": "+1 000,50",
            "reason": "goodwill",
        },
    )
    assert answer.status_code == 303, answer.text
    assert str(world.total(card)) == "1000.50"


# --------------------------------------------------------------------------- HEAD


def test_head_on_pages_answers_as_get_without_a_body(client: TestClient, settings: Settings, world, staff):
    for url in ("/login", "/staff/login"):
        got, head = client.get(url), client.head(url)
        assert head.status_code == got.status_code == 200, url
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
    _customer(world)
    log_in(client, settings)
    got, head = client.get("/"), client.head("/")
    assert head.status_code == got.status_code == 200 and head.content == b""
    assert client.head("/cards/999999").status_code == 404
