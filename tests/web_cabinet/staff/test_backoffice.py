"""The back office (issue 8, item 7; seed 003): finding a customer by phone or card number, the
customer's page (balance, points missing to the threshold, active lots, used points, history,
masking by role) and the manual adjustment (admin only, with a reason, audited, idempotent per
form, every refusal shown)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from bonusbridge.models import CardStatus, Movement, MovementKind, Origin
from bonusbridge.points import store as points_store
from bonusbridge.settings import Settings
from tests.conftest import FakeClock
from tests.web_cabinet.conftest import World
from tests.web_cabinet.staff.conftest import csrf_of, staff_log_in

VERIFIED = datetime(2026, 1, 1, tzinfo=UTC)
PHONE = "+79161234567"
FORM_ID = re.compile(r'name="form_id" value="([0-9a-f]{32})"')


def row(page: str, table: str, attr: str, value: object) -> str:
    """The HTML of one row (``<tr data-ATTR="VALUE">``) of table ``#TABLE``."""
    section = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    match = re.search(rf'<tr data-{attr}="{value}"[^>]*>(.*?)</tr>', section, re.S)
    assert match, f"no row {attr}={value} in #{table}"
    return match.group(1)


def cell(html: str, css: str) -> str:
    match = re.search(rf'class="{css}"[^>]*>([^<]*)<', html)
    assert match, css
    return match.group(1).strip()


def threshold(db: Engine, settings: Settings, clock: FakeClock, points: str = "200") -> None:
    with db.begin() as conn:
        points_store.add_version(
            conn,
            settings,
            {"effective_from": clock().isoformat(), "spend_threshold": points, "point_value": "0.10"},
            now=clock(),
            actor="test",
        )


class Story:
    """Seed 003's customer: two cards, lots with and without expiry, a pending accrual, an expired
    lot, a till redemption, a checkout capture with a document, and a refund of part of it."""

    def __init__(self, world: World, clock: FakeClock) -> None:
        self.customer = world.customer(
            phone_e164=PHONE, phone_verified_at=VERIFIED, last_name="Bertrand", first_name="Pierre"
        )
        self.card = world.card("2000000000011", customer_id=self.customer, phone=PHONE, primary=True)
        self.legacy = world.card("7700 0000 0077", program="sad_club", customer_id=self.customer)
        ledger = world.hub.ledger
        now = clock()
        # spendable: 130 expiring in 60 days, 40 never expiring; 15 pending for 14 days; 5 expired
        world.accrue(self.card, "130", key="a1", expires_at=now + timedelta(days=60), document="CHK-1")
        world.accrue(self.card, "40", key="a2", document="CHK-2")
        world.accrue(
            self.card,
            "15",
            key="a3",
            available_from=now + timedelta(days=14),
            expires_at=now + timedelta(days=400),
        )
        world.accrue(
            self.legacy,
            "5",
            key="a4",
            occurred_at=now - timedelta(days=10),
            expires_at=now + timedelta(days=1),
        )
        clock.advance(timedelta(hours=1))
        self.till = ledger.redeem(self.card, "30", key="r1", origin=Origin.ONEC, document="ЧекККМ 00017")
        hold = ledger.hold(self.card, "20", key="h1", origin=Origin.WEBSITE, document="order-555")
        self.capture = ledger.capture(hold.id, key="c1", origin=Origin.WEBSITE)
        ledger.reverse(self.capture.id, "5", key="refund-1", origin=Origin.WEBSITE, reason="returned line")
        clock.advance(timedelta(days=2))  # the legacy card's 5 points are now expired, not yet swept


@pytest.fixture(autouse=True)
def english(client: TestClient) -> None:
    client.cookies.set("bb_lang", "en")


@pytest.fixture
def story(world: World, clock: FakeClock) -> Story:
    return Story(world, clock)


def open_customer(client: TestClient, login: str, customer_id: int) -> str:
    assert staff_log_in(client, login).status_code == 303
    page = client.get(f"/staff/customers/{customer_id}")
    assert page.status_code == 200, page.text
    return page.text


def adjust(client: TestClient, page: str, url: str, **data: object) -> object:
    fields = {"csrf_token": csrf_of(page), **data}
    if "form_id" not in fields:
        match = FORM_ID.search(page)
        assert match, "the adjustment form carries its form id"
        fields["form_id"] = match.group(1)
    return client.post(url, data=fields)


def adjustments(db: Engine) -> list[Movement]:
    with Session(db) as session:
        return list(session.scalars(select(Movement).where(Movement.kind == MovementKind.ADJUSTMENT)))


# --- search ----------------------------------------------------------------------------------------


def test_search_by_phone_or_card_number_never_puts_either_in_a_url(
    client: TestClient, staff: dict[str, str], story: Story, world: World
) -> None:
    staff_log_in(client, "viewer")
    page = client.get("/staff/customers")
    assert page.status_code == 200 and 'id="customer-search-form"' in page.text
    assert 'method="post"' in page.text
    token = csrf_of(page.text)
    # a phone as typed by a person, a card number with spaces and dashes: one customer → its page
    for data in ({"phone": "8 (916) 123-45-67"}, {"card": "7700-0000 0077"}, {"card": "2000 0000 0001 1"}):
        found = client.post("/staff/customers", data={"csrf_token": token, **data})
        assert found.status_code == 303, found.text
        assert found.headers["location"] == f"/staff/customers/{story.customer}"
    # a card that belongs to nobody has its own page, by row id
    lone = world.card("5555000011112222", phone="+79169998877")
    found = client.post("/staff/customers", data={"csrf_token": token, "card": "5555 0000 1111 2222"})
    assert found.headers["location"] == f"/staff/cards/{lone}"
    # two hits (a customer and an unowned card on one phone) are listed, masked for viewer
    world.card("5555000033334444", phone=PHONE)
    both = client.post("/staff/customers", data={"csrf_token": token, "phone": PHONE})
    assert both.status_code == 200 and 'id="search-results"' in both.text
    assert f'href="/staff/customers/{story.customer}"' in both.text
    results = both.text.split('id="search-results"', 1)[1]
    assert PHONE not in results and "+7***67" in results and "Bertrand" not in results
    # a customer's owned card found by number goes to the customer, never to the card page
    assert (
        client.get(f"/staff/cards/{story.card}").headers["location"] == f"/staff/customers/{story.customer}"
    )


@pytest.mark.parametrize(
    ("data", "error", "status"),
    [
        ({}, "Give a phone or a card number.", 422),
        ({"phone": "12"}, "This is not a phone number.", 422),
        ({"card": "№!?"}, "This is not a card number.", 422),
        ({"phone": "+79160000000"}, "Nobody found.", 404),
        ({"card": "9999"}, "Nobody found.", 404),
    ],
)
def test_search_refusals_are_shown(
    client: TestClient, staff: dict[str, str], story: Story, data: dict[str, str], error: str, status: int
) -> None:
    staff_log_in(client, "viewer")
    page = client.get("/staff/customers")
    answer = client.post("/staff/customers", data={"csrf_token": csrf_of(page.text), **data})
    assert answer.status_code == status
    assert 'id="search-error"' in answer.text and error in answer.text


def test_pages_need_a_login_and_forms_need_the_csrf_token(
    client: TestClient, staff: dict[str, str], story: Story
) -> None:
    assert client.get(f"/staff/customers/{story.customer}").headers["location"] == "/staff/login"
    assert client.get("/staff/customers").headers["location"] == "/staff/login"
    staff_log_in(client, "admin")
    assert client.post("/staff/customers", data={"phone": PHONE}).status_code == 403
    url = f"/staff/customers/{story.customer}/adjust"
    forged = client.post(
        url,
        data={"card_id": story.card, "amount": "10", "reason": "x", "form_id": "a" * 32, "csrf_token": "no"},
    )
    assert forged.status_code == 403 and "reload the page" in forged.text
    assert client.get("/staff/customers/999999").status_code == 404
    assert client.get("/staff/cards/999999").status_code == 404


# --- the customer's page -------------------------------------------------------------------------


def test_the_page_shows_balance_missing_points_lots_used_points_and_history(
    client: TestClient, staff: dict[str, str], story: Story, db: Engine, settings: Settings, clock: FakeClock
) -> None:
    threshold(db, settings, clock, "200")
    page = open_customer(client, "admin", story.customer)
    # balance of the main card: 130 + 40 + 15 - 30 - 20 + 5 = 140; 15 still pending → 125 available
    main = row(page, "cards", "card-id", story.card)
    assert cell(main, "available") == "125.00"
    assert cell(main, "pending") == "15.00"
    assert cell(main, "held") == "0.00"
    assert cell(main, "total") == "140.00"
    assert cell(main, "missing") == "75.00"  # 200 - 125: points missing to reach the threshold
    assert 'data-status="active"' in main
    legacy = row(page, "cards", "card-id", story.legacy)
    assert cell(legacy, "available") == "0.00" and cell(legacy, "expired-unswept") == "5.00"
    assert cell(legacy, "missing") == "200.00"  # expired points never count
    assert "Spend threshold: 200 points; 1 point = 0.10." in page
    # active lots: the expired one is not shown (its points are in expired-unswept above)
    lots = page.split('id="lots"', 1)[1].split("</table>", 1)[0]
    assert sorted(re.findall(r'class="remaining">([^<]+)<', lots)) == ["15.00", "40.00", "5.00", "80.00"]
    # used points: the till's receipt and the checkout, each with its date and document, and what came back
    till = row(page, "used", "movement-id", story.till.id)
    assert cell(till, "spent") == "30.00" and cell(till, "document") == "ЧекККМ 00017"
    checkout = row(page, "used", "movement-id", story.capture.id)
    assert cell(checkout, "spent") == "20.00" and cell(checkout, "document") == "order-555"
    assert cell(checkout, "given-back") == "5.00"
    assert "2026-01-15" in till  # the date it happened (en: ISO dates)
    # the full history: every movement of both cards with its origin, the expired lot's accrual too
    history = page.split('id="history"', 1)[1].split("</table>", 1)[0]
    assert history.count("<tr data-movement-id") == 7
    assert 'data-kind="reversal" data-origin="website"' in history
    assert history.count('data-origin="onec"') == 5
    # the admin sees the name and phone in full, and the card numbers
    assert "Bertrand Pierre" in page and PHONE in page and "2000000000011" in page


def test_the_lots_table_orders_by_expiry(client: TestClient, staff: dict[str, str], story: Story) -> None:
    page = open_customer(client, "viewer", story.customer)
    lots = page.split('id="lots"', 1)[1].split("</table>", 1)[0]
    # 130 earned with a 60-day expiry, 30 + 20 spent from it first; the 5 refunded came back as a
    # lot of their own with the same expiry; then the pending 15 (400 days), never-expiring last
    assert re.findall(r'class="remaining">([^<]+)<', lots) == ["80.00", "5.00", "15.00", "40.00"]
    assert re.findall(r'class="amount">([^<]+)<', lots) == ["130.00", "5.00", "15.00", "40.00"]
    assert re.findall(r'class="expires">([^<]+)<', lots)[-1] == "never"


def test_no_threshold_means_nothing_missing(client: TestClient, staff: dict[str, str], story: Story) -> None:
    page = open_customer(client, "viewer", story.customer)
    assert cell(row(page, "cards", "card-id", story.card), "missing") == "0.00"  # default rules: 0


def test_masking_by_role(client: TestClient, staff: dict[str, str], story: Story) -> None:
    viewer = open_customer(client, "viewer", story.customer)
    assert "Bertrand" not in viewer and PHONE not in viewer and "B*** P***" in viewer and "+7***67" in viewer
    assert "2000000000011" not in viewer and "•••••••••0011" in viewer
    assert 'id="adjust-form"' not in viewer and 'id="adjust-not-allowed"' in viewer
    client.post("/staff/logout", data={"csrf_token": csrf_of(viewer)})
    migration = open_customer(client, "migration", story.customer)
    assert "Bertrand" not in migration and PHONE not in migration
    assert "2000000000011" in migration  # card numbers in full, as on import issues
    assert 'id="adjust-form"' not in migration


def test_a_card_status_and_its_reason_are_shown(
    client: TestClient, staff: dict[str, str], world: World, db: Engine
) -> None:
    customer = world.customer(phone_e164=PHONE, phone_verified_at=VERIFIED)
    card = world.card("100001", customer_id=customer, status=CardStatus.ACCUMULATION_ONLY)
    from bonusbridge.models import Card

    with Session(db) as session:
        row_ = session.get(Card, card)
        assert row_ is not None
        row_.status_reason = "profile incomplete"
        session.commit()
    page = open_customer(client, "viewer", customer)
    main = row(page, "cards", "card-id", card)
    assert 'data-status="accumulation_only"' in main and "accumulation only" in main
    assert "profile incomplete" in main


# --- manual adjustment ----------------------------------------------------------------------------


def test_admin_adjusts_with_a_reason_and_the_movement_is_the_audit_record(
    client: TestClient, staff: dict[str, str], story: Story, db: Engine, world: World
) -> None:
    page = open_customer(client, "admin", story.customer)
    url = f"/staff/customers/{story.customer}/adjust"
    done = adjust(client, page, url, card_id=story.card, amount="+50", reason="goodwill: late delivery")
    assert done.status_code == 303 and done.headers["location"] == f"/staff/customers/{story.customer}"
    after = client.get(done.headers["location"]).text
    assert "Adjustment of +50.00 on card 2000000000011 recorded." in after
    assert world.total(story.card) == Decimal("190.00")
    (movement,) = adjustments(db)
    assert movement.amount == Decimal("50.00") and movement.origin is Origin.ADMIN
    assert movement.actor == "staff:admin" and movement.reason == "goodwill: late delivery"
    listed = row(after, "adjustments", "movement-id", movement.id)
    assert cell(listed, "actor") == "staff:admin" and cell(listed, "reason") == "goodwill: late delivery"
    assert cell(row(after, "cards", "card-id", story.card), "available") == "175.00"
    # a negative one, typed with a typographic minus and a decimal comma
    done = adjust(client, after, url, card_id=story.card, amount="−12,5", reason="double accrual")
    assert done.status_code == 303
    assert world.total(story.card) == Decimal("177.50")
    assert sorted(m.amount for m in adjustments(db)) == [Decimal("-12.50"), Decimal("50.00")]


def test_a_double_submission_records_one_adjustment(
    client: TestClient, staff: dict[str, str], story: Story, db: Engine, world: World
) -> None:
    page = open_customer(client, "admin", story.customer)
    url = f"/staff/customers/{story.customer}/adjust"
    first = adjust(client, page, url, card_id=story.card, amount="10", reason="gesture")
    second = adjust(client, page, url, card_id=story.card, amount="10", reason="gesture")
    assert first.status_code == second.status_code == 303
    assert "already sent" in client.get(second.headers["location"]).text
    assert len(adjustments(db)) == 1 and world.total(story.card) == Decimal("150.00")
    # the same form reused with other values is refused, and a fresh form is offered
    reused = adjust(client, page, url, card_id=story.card, amount="99", reason="gesture")
    assert reused.status_code == 409 and "already used for another adjustment" in reused.text
    assert FORM_ID.search(reused.text).group(1) != FORM_ID.search(page).group(1)  # type: ignore[union-attr]
    assert len(adjustments(db)) == 1


@pytest.mark.parametrize(
    ("login", "status", "message"),
    [("viewer", 403, "Your role may not do this."), ("migration", 403, "Your role may not do this.")],
)
def test_only_admin_may_adjust(
    client: TestClient, staff: dict[str, str], story: Story, db: Engine, login: str, status: int, message: str
) -> None:
    page = open_customer(client, login, story.customer)
    answer = adjust(
        client, page, f"/staff/customers/{story.customer}/adjust",
        card_id=story.card, amount="10", reason="r", form_id="b" * 32,
    )  # fmt: skip
    assert answer.status_code == status and message in answer.text
    assert adjustments(db) == []


@pytest.mark.parametrize(
    ("amount", "reason", "card", "message"),
    [
        ("10", "   ", "main", "Please give a reason."),
        ("0", "r", "main", "Give a number of points: not zero, at most two decimals."),
        ("1.005", "r", "main", "Give a number of points: not zero, at most two decimals."),
        ("ten", "r", "main", "Give a number of points: not zero, at most two decimals."),
        ("-126", "r", "main", "the balance would go negative (125.00 available)"),
        ("10", "r", "other", "Choose one of this customer&#39;s cards."),
    ],
)
def test_adjustment_refusals_are_shown_and_write_nothing(
    client: TestClient,
    staff: dict[str, str],
    story: Story,
    world: World,
    db: Engine,
    amount: str,
    reason: str,
    card: str,
    message: str,
) -> None:
    other = world.card("300000", customer_id=world.customer(phone_e164="+79160000009"))
    page = open_customer(client, "admin", story.customer)
    target = story.card if card == "main" else other
    answer = adjust(
        client,
        page,
        f"/staff/customers/{story.customer}/adjust",
        card_id=target,
        amount=amount,
        reason=reason,
    )
    assert answer.status_code == 422
    assert 'id="adjust-error"' in answer.text and message in answer.text
    assert adjustments(db) == [] and world.total(story.card) == Decimal("140.00")
    # the form keeps what was typed and its form id, so the corrected form goes through once
    assert FORM_ID.search(answer.text).group(1) == FORM_ID.search(page).group(1)  # type: ignore[union-attr]


def test_a_blocked_card_takes_no_adjustment(
    client: TestClient, staff: dict[str, str], world: World, db: Engine
) -> None:
    customer = world.customer(phone_e164=PHONE, phone_verified_at=VERIFIED)
    card = world.card("100005", customer_id=customer, status=CardStatus.BLOCKED)
    page = open_customer(client, "admin", customer)
    answer = adjust(client, page, f"/staff/customers/{customer}/adjust", card_id=card, amount="5", reason="r")
    assert answer.status_code == 422 and "The card is blocked: it takes no adjustment." in answer.text
    assert adjustments(db) == []


def test_a_refused_form_can_be_corrected_and_sent_again(
    client: TestClient, staff: dict[str, str], story: Story, db: Engine, world: World
) -> None:
    page = open_customer(client, "admin", story.customer)
    url = f"/staff/customers/{story.customer}/adjust"
    refused = adjust(client, page, url, card_id=story.card, amount="-500", reason="closing")
    assert refused.status_code == 422
    fixed = adjust(client, refused.text, url, card_id=story.card, amount="-125", reason="closing")
    assert fixed.status_code == 303
    assert world.total(story.card) == Decimal("15.00")  # the pending 15 stay
    with Session(db) as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Movement).where(Movement.kind == MovementKind.ADJUSTMENT)
            )
            == 1
        )


def test_an_unowned_card_page_and_its_adjustment(
    client: TestClient, staff: dict[str, str], world: World, db: Engine
) -> None:
    card = world.card("5555000011112222", phone="+79169998877")
    world.accrue(card, "12", key="lone-1")
    assert staff_log_in(client, "admin").status_code == 303
    page = client.get(f"/staff/cards/{card}")
    assert page.status_code == 200 and "Card #" in page.text
    assert cell(row(page.text, "cards", "card-id", card), "available") == "12.00"
    done = adjust(
        client, page.text, f"/staff/cards/{card}/adjust", card_id=card, amount="3", reason="found receipt"
    )
    assert done.status_code == 303 and done.headers["location"] == f"/staff/cards/{card}"
    assert world.total(card) == Decimal("15.00")
    assert adjustments(db)[0].actor == "staff:admin"


def test_the_page_in_russian(client: TestClient, staff: dict[str, str], story: Story) -> None:
    client.cookies.set("bb_lang", "ru")
    page = open_customer(client, "viewer", story.customer)
    assert "Не хватает до порога" in page and "Использованные баллы" in page and "Вся история" in page
    assert 'id="nav-customers"' in page
