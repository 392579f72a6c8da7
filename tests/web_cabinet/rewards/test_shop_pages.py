"""The rewards shop's member pages and supplier pages (issue 21 items 2-4), through HTTP on the test
database: the catalog shows only what the member may see (gated items with the reason), the cart
adds, changes and removes, shows the totals and — over budget — the exact suggestion, applied with
one click; checkout holds the points through the domain with the profile's address; the order's
state; cancel; a supplier logs in by the signed link (expired or tampered: refused), sees only their
own orders (another supplier's id: 404), marks one processed and it leaves the feed, the member sees
it fulfilled with the tier cashback. Every refusal in the page's language, nothing half-done."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bonusbridge.models import CardTier, Hold, HoldStatus
from bonusbridge.rewards import catalog, images
from bonusbridge.rewards.models import Reward, RewardCartItem, RewardOrder
from bonusbridge.settings import Settings
from tests.conftest import FakeClock
from tests.web_cabinet.conftest import PHONE, World, csrf, form_id, log_in
from web_cabinet.app import create_app
from web_cabinet.rewards.common import supplier_token


@pytest.fixture
def settings(settings: Settings) -> Settings:  # type: ignore[override]
    return settings.model_copy(update={"rewards_cashback_percent": "gold=10,silver=2"})


@pytest.fixture
def shop(world: World, clock: FakeClock) -> dict[str, Any]:
    """Two suppliers and a small catalog: two gifts, a gold-only one, one for France only."""
    engine = world.hub.engine
    ids: dict[str, Any] = {}
    with engine.begin() as conn:
        ids["gifts"] = catalog.create_supplier(
            conn, name="Gifts Ltd", email="orders@gifts.test", locale="en", actor="staff:t", now=clock()
        )
        ids["other"] = catalog.create_supplier(
            conn, name="Other Co", email="orders@other.test", locale="ru", actor="staff:t", now=clock()
        )

        def reward(code: str, price: str, supplier: int, **extra: str) -> int:
            form = {
                "code": code, "kind": "physical", "category": "home", "name_ru": f"Подарок {code}",
                "name_en": f"Gift {code}", "points_price": price, "supplier_id": str(supplier), **extra,
            }  # fmt: skip
            return catalog.create_reward(
                conn, catalog.parse_draft(form), actor="staff:t", reason=None, now=clock()
            )

        ids["mug"] = reward("MUG", "300.00", ids["gifts"], stock="5")
        ids["lamp"] = reward("LAMP", "500.00", ids["gifts"], cash_price="120.00", vat_rate="20")
        ids["kettle"] = reward("KETTLE", "400.00", ids["other"])
        ids["vip"] = reward("VIP", "100.00", ids["gifts"], min_lifetime_points="100000.00")
        ids["fr"] = reward("FRONLY", "100.00", ids["gifts"], countries="FR")
        png = io.BytesIO()
        Image.new("RGB", (32, 32), (0, 90, 170)).save(png, format="PNG")
        images.add_image(conn, ids["mug"], png.getvalue(), actor="staff:t", now=clock())
    return ids


@pytest.fixture
def member(world: World, clock: FakeClock) -> dict[str, int]:
    customer = world.customer(
        phone_e164=PHONE, last_name="Иванова", first_name="Анна", birth_date=date(1990, 5, 1), city="Тверь"
    )
    card = world.card("2000-0000-0042", phone=PHONE, customer_id=customer, primary=True)
    world.accrue(card, "1000.00", key="seed")
    with world.hub.engine.begin() as conn:
        conn.execute(
            CardTier.__table__.insert().values(
                card_id=card, tier="gold", spend_12m=Decimal("0"), qualified_at=clock(), reviewed_at=clock(),
                changed_at=clock(),
            )
        )  # fmt: skip
    return {"customer": customer, "card": card}


def add(client: TestClient, reward_id: int) -> Any:
    page = client.get("/shop")
    return client.post("/shop/cart/add", data={"csrf_token": csrf(page.text), "reward_id": str(reward_id)})


def count(world: World, table: Any) -> int:
    with world.hub.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_catalog_cart_suggestion_checkout_and_cancel(
    client: TestClient, settings: Settings, world: World, shop: dict[str, Any], member: dict[str, int]
) -> None:
    client.cookies.set("bb_lang", "en")
    log_in(client, settings)
    page = client.get("/shop")
    assert page.status_code == 200
    assert 'data-reward="MUG"' in page.text and 'data-reward="FRONLY"' not in page.text  # not shown in RU
    picture = r'<img class="reward-img" src="/media/rewards/\d+-[0-9a-f]{16}\.png" alt="Gift MUG"'
    assert re.search(picture, page.text)
    vip = re.search(r'data-reward="VIP" data-orderable="(\w+)"', page.text)
    assert vip and vip.group(1) == "false"
    assert "at least 100000.00 points earned in total are required" in page.text
    refused = add(client, shop["vip"])  # a gated item cannot be added by a crafted POST either
    assert refused.status_code == 303 and count(world, RewardCartItem) == 0
    assert "not available to you yet" in client.get("/shop").text

    for reward_id in (shop["mug"], shop["mug"], shop["lamp"], shop["kettle"]):
        assert add(client, reward_id).status_code == 303
    cart = client.get("/shop/cart")
    # 2 × 300 + 500 + 400 = 1 500 points for 1 000: over budget by 500
    assert 'id="cart-points">1,500.00<' in cart.text and 'id="cart-left" class="minus">-500.00<' in cart.text
    assert 'id="cart-cash">120.00 <small>(incl. VAT 20.00)' in cart.text
    assert "The cart costs 1,500.00 points and you can spend 1,000.00: 500.00 short." in cart.text
    # exact: mug×2 + kettle = 1 000 (greedy by price would take lamp + kettle = 900)
    assert "1,000.00 points, 0.00 left" in cart.text
    assert 'id="to-checkout"' not in cart.text
    assert "built-in method" not in cart.text  # every text is a text, not a dict's method
    token = csrf(cart.text)
    # change a quantity, a bad one refused with its message, then restore
    bad = client.post("/shop/cart/set", data={"csrf_token": token, "reward_id": shop["mug"], "quantity": "x"})
    assert bad.status_code == 303
    assert "The quantity is a whole number from 0 to 10." in client.get("/shop/cart").text
    client.post("/shop/cart/set", data={"csrf_token": token, "reward_id": shop["mug"], "quantity": "3"})
    client.post("/shop/cart/set", data={"csrf_token": token, "reward_id": shop["mug"], "quantity": "2"})
    assert client.post("/shop/cart/suggestion", data={"csrf_token": token}).status_code == 303
    cart = client.get("/shop/cart")
    assert "The cart now holds the suggested selection: 1,000.00 points." in cart.text
    assert 'data-reward="LAMP"' not in cart.text and 'id="cart-left" class="">0.00<' in cart.text
    checkout = client.get("/shop/checkout")
    assert "Иванова Анна\nТверь</textarea>" in checkout.text  # prefilled from the profile
    placed = client.post(
        "/shop/checkout",
        data={"csrf_token": token, "form_id": form_id(checkout.text), "address": "Тверь, ул. Советская, 1"},
    )
    assert placed.status_code == 303
    order_url = placed.headers["location"]
    order_page = client.get(order_url)
    assert "With the supplier" in order_page.text and 'id="cancel-order"' in order_page.text
    pdf = client.get(order_url + "/invoice.pdf")  # no cash part in this order: no invoice
    assert pdf.status_code == 404
    assert world.hub.ledger.balance(member["card"]).available == Decimal("0.00")
    assert count(world, RewardCartItem) == 0
    # the same form again: the same order, nothing more held
    again = client.post(
        "/shop/checkout",
        data={"csrf_token": token, "form_id": form_id(checkout.text), "address": "Тверь, ул. Советская, 1"},
    )
    assert again.headers["location"] == order_url and count(world, RewardOrder) == 1
    # in Russian, then cancel: the points come back, the stock too
    client.cookies.set("bb_lang", "ru")
    assert "Передан поставщику" in client.get("/shop/orders").text
    cancelled = client.post(f"{order_url}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303
    assert "отменён, баллы возвращены" in client.get(order_url).text
    assert world.hub.ledger.balance(member["card"]).available == Decimal("1000.00")
    with world.hub.engine.connect() as conn:
        assert conn.execute(select(Reward.stock).where(Reward.id == shop["mug"])).scalar_one() == 5


def test_refusals_leave_nothing_half_done(
    client: TestClient, settings: Settings, world: World, shop: dict[str, Any], member: dict[str, int]
) -> None:
    client.cookies.set("bb_lang", "ru")
    log_in(client, settings)
    add(client, shop["mug"])
    checkout = client.get("/shop/checkout")
    token = csrf(checkout.text)
    # the price changes after the member filled the cart: shown, never charged silently
    with world.hub.engine.begin() as conn:
        conn.execute(Reward.__table__.update().where(Reward.id == shop["mug"]).values(points_price=350))
    refused = client.post(
        "/shop/checkout", data={"csrf_token": token, "form_id": form_id(checkout.text), "address": "Тверь"}
    )
    assert refused.status_code == 409
    assert "Цена «Подарок MUG» изменилась: теперь 350.00 баллов" in refused.text
    assert count(world, RewardOrder) == 0 and count(world, Hold) == 0
    assert world.hub.ledger.balance(member["card"]).available == Decimal("1000.00")
    assert client.post("/shop/cart/accept-prices", data={"csrf_token": token}).status_code == 303
    # a shipped gift needs an address
    checkout = client.get("/shop/checkout")
    refused = client.post(
        "/shop/checkout", data={"csrf_token": token, "form_id": form_id(checkout.text), "address": " "}
    )
    assert refused.status_code == 409 and "Укажите адрес доставки" in refused.text
    assert count(world, RewardOrder) == 0
    # sold out meanwhile: its own message, nothing held
    with world.hub.engine.begin() as conn:
        conn.execute(Reward.__table__.update().where(Reward.id == shop["mug"]).values(stock=0))
    refused = client.post(
        "/shop/checkout", data={"csrf_token": token, "form_id": form_id(checkout.text), "address": "Тверь"}
    )
    assert refused.status_code == 409 and "«Подарок MUG»: осталось 0 шт., заказано 1." in refused.text
    assert count(world, RewardOrder) == 0 and count(world, Hold) == 0
    # someone else's order id is not found
    assert client.get("/shop/orders/999").status_code == 404


def test_supplier_link_feed_isolation_and_fulfilment(
    client: TestClient,
    settings: Settings,
    world: World,
    shop: dict[str, Any],
    member: dict[str, int],
    clock: FakeClock,
) -> None:
    client.cookies.set("bb_lang", "en")
    log_in(client, settings)
    for reward_id in (shop["mug"], shop["kettle"]):
        add(client, reward_id)
    checkout = client.get("/shop/checkout")
    placed = client.post(
        "/shop/checkout",
        data={"csrf_token": csrf(checkout.text), "form_id": form_id(checkout.text), "address": "Tver"},
    )
    order_id = int(placed.headers["location"].rsplit("/", 1)[1])

    supplier = TestClient(client.app, base_url="https://cabinet.test", follow_redirects=False)
    supplier.cookies.set("bb_lang", "en")
    assert supplier.get("/suppliers/orders").status_code == 401  # no session: the link is the way in
    token = token_for_gifts = supplier_token(settings, shop["gifts"], clock)
    tampered = supplier.get(f"/suppliers/login?token={token[:-2]}xx")
    assert tampered.status_code == 403 and "The link has expired or is not valid" in tampered.text
    assert supplier.get(f"/suppliers/login?token={token}").headers["location"] == "/suppliers/orders"
    feed = supplier.get("/suppliers/orders")
    assert f'data-order="{order_id}"' in feed.text and "Gift MUG × 1" in feed.text
    assert "Gift KETTLE" not in feed.text  # the other supplier's line of the same order
    details = supplier.get(f"/suppliers/orders/{order_id}")
    assert details.status_code == 200 and "Tver" in details.text and "Gift KETTLE" not in details.text
    assert "built-in method" not in details.text and "Items</h2>" in details.text

    # another supplier's order: 404, not data
    other = TestClient(client.app, base_url="https://cabinet.test", follow_redirects=False)
    other.get(f"/suppliers/login?token={supplier_token(settings, shop['other'], clock)}")
    assert other.get(f"/suppliers/orders/{order_id}").status_code == 200  # the kettle is theirs
    # an order with no line of "other": member orders only the mug
    add(client, shop["mug"])
    checkout = client.get("/shop/checkout")
    second = client.post(
        "/shop/checkout",
        data={"csrf_token": csrf(checkout.text), "form_id": form_id(checkout.text), "address": "Tver"},
    )
    mug_only = int(second.headers["location"].rsplit("/", 1)[1])
    assert other.get(f"/suppliers/orders/{mug_only}").status_code == 404
    other_csrf = csrf(other.get("/suppliers/orders").text)
    refused = other.post(f"/suppliers/orders/{mug_only}/processed", data={"csrf_token": other_csrf})
    assert refused.status_code == 404 and "Gift MUG" not in refused.text

    # gifts marks the first order shipped: it leaves their feed; the order waits for "other"
    token = csrf(feed.text)
    done = supplier.post(
        f"/suppliers/orders/{order_id}/processed", data={"csrf_token": token, "tracking": "RR123456789RU"}
    )
    assert done.status_code == 303
    feed = supplier.get("/suppliers/orders")
    assert f'data-order="{order_id}"' not in feed.text and f'data-order="{mug_only}"' in feed.text
    assert "marked shipped, tracking RR123456789RU" in feed.text
    assert "shipped, tracking RR123456789RU" in client.get(f"/shop/orders/{order_id}").text
    other.post(f"/suppliers/orders/{order_id}/processed", data={"csrf_token": other_csrf})
    page = client.get(f"/shop/orders/{order_id}")
    # fulfilled; gold's 10 % of 700 points credited back, once
    assert 'data-state="fulfilled"' in page.text and "Cashback for the order: +70.00 points" in page.text
    assert 'id="cancel-order"' not in page.text
    assert world.hub.ledger.balance(member["card"]).total == Decimal("1000.00") - 700 - 300 + 70
    with world.hub.engine.connect() as conn:
        assert conn.execute(select(Hold.status)).scalars().all() == [HoldStatus.CAPTURED] * 2

    # a week later the same link no longer opens (ru and en), and an unknown supplier's neither
    clock.advance(timedelta(seconds=settings.supplier_link_max_age_seconds + 1))
    late = TestClient(client.app, base_url="https://cabinet.test", follow_redirects=False)
    late.cookies.set("bb_lang", "ru")
    expired = late.get(f"/suppliers/login?token={token_for_gifts}")
    assert expired.status_code == 403 and "Ссылка устарела или неверна" in expired.text
    assert late.get("/suppliers/orders").status_code == 401
    ghost = late.get(f"/suppliers/login?token={supplier_token(settings, 999_999, clock)}")
    assert ghost.status_code == 403


def test_the_invoice_of_a_cash_order_is_linked(
    client: TestClient, settings: Settings, world: World, shop: dict[str, Any], member: dict[str, int]
) -> None:
    client.cookies.set("bb_lang", "en")
    log_in(client, settings)
    add(client, shop["lamp"])  # 500 points + 120.00 with 20 % VAT: the embedded default pays at once
    checkout = client.get("/shop/checkout")
    placed = client.post(
        "/shop/checkout",
        data={"csrf_token": csrf(checkout.text), "form_id": form_id(checkout.text), "address": "Tver"},
    )
    order_url = placed.headers["location"]
    page = client.get(order_url)
    link = re.search(r'href="(/shop/orders/\d+/invoice\.pdf)"[^>]*>Invoice (\d{4}-\d{6}) \(PDF\)', page.text)
    assert link, page.text
    pdf = client.get(link.group(1))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and pdf.headers["cache-control"] == "private, no-store"
    assert client.get(link.group(1).replace("/orders/", "/orders/9")).status_code == 404


def test_an_unpaid_cash_part_is_explained_and_cancel_voids_the_hold(
    settings: Settings, world: World, shop: dict[str, Any], member: dict[str, int], clock: FakeClock
) -> None:
    manual = settings.model_copy(update={"rewards_payments": "manual"})
    app = create_app(manual, hub=world.hub, clock=clock)
    client = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
    client.cookies.set("bb_lang", "ru")
    log_in(client, manual)
    add(client, shop["lamp"])
    checkout = client.get("/shop/checkout")
    token = csrf(checkout.text)
    placed = client.post(
        "/shop/checkout", data={"csrf_token": token, "form_id": form_id(checkout.text), "address": "Тверь"}
    )
    page = client.get(placed.headers["location"])
    assert 'data-state="awaiting_payment"' in page.text
    assert "Доплата 120.00 RUB по счёту 2026-000001 ещё не оплачена" in page.text
    assert world.hub.ledger.balance(member["card"]).held == Decimal("500.00")
    client.post(placed.headers["location"] + "/cancel", data={"csrf_token": token})
    balance = world.hub.ledger.balance(member["card"])
    assert balance.held == Decimal("0.00") and balance.available == Decimal("1000.00")
    with world.hub.engine.connect() as conn:
        assert conn.execute(select(Hold.status)).scalar_one() is HoldStatus.VOIDED
