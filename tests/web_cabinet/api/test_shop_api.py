"""The rewards shop through ``/api/v1/shop``: the catalog with the member's eligibility and its
reasons, the cart's quote with the exact suggestion, orders placed once per key, a changed price
refused with the new one, every bad input typed in the caller's language writing nothing, cancel,
the invoice PDF, and the endpoints in the OpenAPI document."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from pypdf import PdfReader
from sqlalchemy import Engine, func, insert, select

from bonusbridge.app import Hub
from bonusbridge.models import Card, CardTier, Customer, Origin
from bonusbridge.rewards import catalog, orders
from bonusbridge.rewards.models import Reward, RewardOrder
from bonusbridge.settings import Settings
from bonusbridge.unit_of_work import UnitOfWork
from tests.conftest import FakeClock
from tests.rewards.factories import Reward as RewardFactory
from tests.rewards.factories import make_supplier, reward_maker
from tests.web_cabinet.api.conftest import Api, MakeApi

PROBLEM = "application/problem+json"
SHOP = "/shop/customers/{customer_id}"
RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}

Member = Callable[..., tuple[int, int, str]]


@pytest.fixture
def member(db: Engine, clock: FakeClock, hub: Hub, settings: Settings) -> Member:
    """``member("1000.00", tier=None, phone=None)`` → (customer row id, card row id, public customer id)."""
    counter = iter(range(1, 100_000))
    secret = settings.api_id_secret.get_secret_value().encode()

    def make(
        points: str = "1000.00", *, tier: str | None = None, phone: str | None = None, locale: str = "en"
    ) -> tuple[int, int, str]:
        from web_cabinet.api import ids

        n = next(counter)
        with UnitOfWork(db, clock=clock) as uow:
            program = uow.programs.get_or_create("dobrostroy", "Dobrostroy")
            customer = uow.customers.add(
                Customer(
                    phone_e164=phone or f"+7916{n:07d}",
                    email=f"member{n}@example.test",
                    locale=locale,
                    last_name="Иванова",
                    first_name="Анна",
                )
            )
            card = uow.cards.add(
                Card(program_id=program.id, number=f"7700-{n:08d}", customer_id=customer.id, is_primary=True)
            )
            uow.commit()
            customer_id, card_id = customer.id, card.id
        if Decimal(points) > 0:
            hub.ledger.accrue(card_id, Decimal(points), key=f"seed:{card_id}", origin=Origin.ADMIN)
        if tier:
            with db.begin() as conn:
                conn.execute(
                    insert(CardTier).values(
                        card_id=card_id,
                        tier=tier,
                        spend_12m=Decimal("0.00"),
                        qualified_at=clock(),
                        reviewed_at=clock(),
                        changed_at=clock(),
                    )
                )
        return customer_id, card_id, ids.encode("customer", customer_id, secret)

    return make


@pytest.fixture
def supplier(db: Engine, clock: FakeClock) -> int:
    return make_supplier(db, clock)


@pytest.fixture
def reward(db: Engine, clock: FakeClock, supplier: int) -> RewardFactory:
    return reward_maker(db, clock, supplier)


def get(api: Api, path: str, headers: dict[str, str] | None = None) -> Any:
    return api.http.get(f"/api/v1{path}", headers={**api.headers(), **(headers or {})})


def post(
    api: Api, path: str, body: Any, *, key: str | None = "auto", headers: dict[str, str] | None = None
) -> Any:
    idem = None if key is None else (f"k-{next(api.keys)}" if key == "auto" else key)
    return api.http.post(f"/api/v1{path}", json=body, headers={**api.headers(idem), **(headers or {})})


def line(reward_id: int, quantity: int = 1, points: str = "100.00", cash: str = "0.00") -> dict[str, Any]:
    return {"reward_id": reward_id, "quantity": quantity, "points_price": points, "cash_price": cash}


def order_count(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RewardOrder)).scalar_one())


def stock(db: Engine, reward_id: int) -> int | None:
    with db.connect() as conn:
        return conn.execute(select(Reward.stock).where(Reward.id == reward_id)).scalar_one()


# --- catalog ------------------------------------------------------------------------------------------


def test_catalog_says_per_reward_whether_the_member_may_order_it_and_why_not(
    api: Api, hub: Hub, db: Engine, clock: FakeClock, member: Member, reward: RewardFactory
) -> None:
    customer, _, public = member("500.00", tier="silver")
    plain = reward(code="plain", points_price="100.00", stock=3)
    reward(code="gold", points_price="50.00", min_tier="gold")
    reward(code="rich", points_price="10.00", min_balance="10000.00")
    reward(code="gone", points_price="10.00", stock=0)
    once = reward(code="once", points_price="10.00", per_member_limit=1)
    reward(code="dear", points_price="900.00")
    reward(code="later", points_price="10.00", active_from=(clock() + timedelta(days=3)).isoformat())
    french = reward(code="french", points_price="10.00", countries="FR")
    hub.ledger.run(lambda book: orders.place(book, customer, [orders.Wanted(once, 1)], key="earlier"))

    answer = get(api, f"/shop/customers/{public}/catalog", EN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-language"] == "en"
    body = answer.json()
    assert body["available"] == "490.00" and body["tier"] == "silver"
    items = {item["code"]: item for item in body["items"]}
    assert "french" not in items  # reserved to France: not listed
    assert items["plain"]["orderable"] is True and items["plain"]["reason"] is None
    assert items["plain"]["stock"] == 3 and items["plain"]["points_price"] == "100.00"
    reasons = {code: (items[code]["reason"], items[code]["threshold"]) for code in items if code != "plain"}
    assert reasons == {
        "gold": ("below_tier", "gold"),
        "rich": ("below_balance", "10000.00"),
        "gone": ("out_of_stock", ""),
        "once": ("member_limit_reached", "1"),
        "dear": ("insufficient_balance", "900.00"),
        "later": ("not_active", ""),
    }
    assert (
        items["gold"]["message"]
        == "“Thermos” is not available to you yet: tier “gold” or higher is required."
    )
    assert items["dear"]["message"] == "Not enough points: 900.00 needed, 490.00 available."

    russian = get(api, f"/shop/customers/{public}/catalog", RU).json()
    words = {item["code"]: item["message"] for item in russian["items"]}
    assert words["gold"] == "«Термос» вам пока недоступен: нужен статус «gold» или выше."
    assert words["once"] == "«Термос»: не больше 1 шт. на участника, вы уже заказали 1."
    assert russian["language"] == "ru"

    one = get(api, f"/shop/customers/{public}/catalog/{french}", EN).json()
    assert one["orderable"] is False and one["reason"] == "country"
    assert one["message"] == "“Thermos” is not available to you yet: not offered in your country."
    assert get(api, f"/shop/customers/{public}/catalog/{plain}").json()["orderable"] is True
    missing = get(api, f"/shop/customers/{public}/catalog/999999", RU)
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_reward"
    assert missing.json()["detail"] == "Такого подарка нет."


# --- quote --------------------------------------------------------------------------------------------


def test_quote_totals_cash_with_vat_and_suggests_the_exact_fit(
    api: Api, member: Member, reward: RewardFactory
) -> None:
    _, _, public = member("1000.00")
    big = reward(points_price="600.00", name_en="Kettle")
    pair = reward(points_price="500.00", cash_price="120.00", vat_rate="20", name_en="Lamp")
    answer = post(
        api,
        f"/shop/customers/{public}/quote",
        {"lines": [line(big, 1, "600.00"), line(pair, 2, "500.00", "120.00")]},
        key=None,
        headers=EN,
    )
    assert answer.status_code == 200, answer.text
    quote = answer.json()
    assert quote["points_total"] == "1600.00" and quote["available"] == "1000.00"
    assert quote["balance_left"] == "-600.00" and quote["over_budget"] is True and quote["orderable"] is False
    assert quote["cash_total"] == "240.00" and quote["vat_total"] == "40.00"
    # greedy (dearest first) would keep the kettle alone (600); the exact fit is the two lamps (1000)
    suggestion = quote["suggestion"]
    assert {row["reward_id"]: row["quantity"] for row in suggestion["lines"]} == {big: 0, pair: 2}
    assert suggestion["points_total"] == "1000.00" and suggestion["balance_left"] == "0.00"
    assert suggestion["explanation"] == (
        "The cart costs 1600.00 points and 1000.00 are available. "
        "This selection uses 1000.00 points: Lamp × 2."
    )

    within = post(api, f"/shop/customers/{public}/quote", {"lines": [line(big, 1, "600.00")]}, key=None)
    assert within.json()["suggestion"] is None and within.json()["orderable"] is True
    assert within.json()["balance_left"] == "400.00"


def test_quote_flags_a_changed_price(
    api: Api, db: Engine, clock: FakeClock, member: Member, reward: RewardFactory
) -> None:
    _, _, public = member("1000.00")
    lamp = reward(points_price="100.00")
    _reprice(db, clock, lamp, "150.00")
    quote = post(api, f"/shop/customers/{public}/quote", {"lines": [line(lamp, 1, "100.00")]}, key=None)
    row = quote.json()["lines"][0]
    assert row["price_changed"] is True and row["unit_points"] == "150.00" and row["seen_points"] == "100.00"
    assert quote.json()["orderable"] is False


def _reprice(db: Engine, clock: FakeClock, reward_id: int, points: str) -> None:
    with db.begin() as conn:
        row = conn.execute(select(Reward).where(Reward.id == reward_id)).one()
        form = {
            "code": row.code, "kind": row.kind.value, "category": row.category, "name_ru": "Термос",
            "name_en": "Thermos", "points_price": points, "supplier_id": str(row.supplier_id or ""),
            "stock": "" if row.stock is None else str(row.stock),
        }  # fmt: skip
        catalog.update_reward(
            conn, reward_id, catalog.parse_draft(form), expected_version=row.version, actor="staff:mk",
            reason="price", now=clock(),
        )  # fmt: skip


# --- orders -------------------------------------------------------------------------------------------


def test_order_holds_points_reserves_stock_once_per_key(
    api: Api, hub: Hub, db: Engine, member: Member, reward: RewardFactory
) -> None:
    _, card, public = member("1000.00")
    thermos = reward(points_price="300.00", stock=5)
    body = {"lines": [line(thermos, 2, "300.00")], "address": "Москва, ул. Ленина, 1"}
    orders_path = f"/shop/customers/{public}/orders"
    first = post(api, orders_path, body, key="order-1")
    assert first.status_code == 201, first.text
    assert first.headers["idempotent-replayed"] == "false"
    order = first.json()
    assert (
        order["state"] == "paid"
        and order["points_total"] == "600.00"
        and order["order_id"].startswith("rwo_")
    )
    assert order["invoice_number"] is None and order["payment_due"] is None
    assert hub.ledger.balance(card).available == Decimal("400.00") and stock(db, thermos) == 3

    again = post(api, orders_path, body, key="order-1")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["order_id"] == order["order_id"]
    assert hub.ledger.balance(card).available == Decimal("400.00") and stock(db, thermos) == 3
    assert order_count(db) == 1

    other = post(api, orders_path, {**body, "address": "elsewhere"}, key="order-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"

    status = get(api, f"{orders_path}/{order['order_id']}")
    assert status.status_code == 200 and status.json()["state"] == "paid"
    assert status.json()["lines"][0]["state"] == "open"
    listed = get(api, orders_path).json()["orders"]
    assert [row["order_id"] for row in listed] == [order["order_id"]]


def test_a_changed_price_is_refused_with_the_new_one_and_charges_nothing(
    api: Api, hub: Hub, db: Engine, clock: FakeClock, member: Member, reward: RewardFactory
) -> None:
    _, card, public = member("1000.00")
    lamp = reward(points_price="100.00", stock=4)
    _reprice(db, clock, lamp, "150.00")
    body = {"lines": [line(lamp, 1, "100.00")]}
    refused = post(api, f"/shop/customers/{public}/orders", body, headers=RU)
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
    problem = refused.json()
    assert problem["code"] == "price_changed" and problem["type"] == "urn:bonusbridge:problem:price_changed"
    assert problem["params"] == {
        "reward_id": str(lamp),
        "points_price": "150.00",
        "cash_price": "0.00",
        "points": "150.00",
    }
    assert problem["detail"].startswith("Цена «Термос» изменилась: теперь 150.00 баллов.")
    assert refused.headers["content-language"] == "ru"
    assert hub.ledger.balance(card).available == Decimal("1000.00") and hub.ledger.balance(card).held == 0
    assert stock(db, lamp) == 4 and order_count(db) == 0

    accepted = post(api, f"/shop/customers/{public}/orders", {"lines": [line(lamp, 1, "150.00")]})
    assert accepted.status_code == 201 and accepted.json()["points_total"] == "150.00"


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_bad_input_is_its_own_problem_in_the_callers_language_and_writes_nothing(
    lang: str, api: Api, hub: Hub, db: Engine, clock: FakeClock, member: Member, reward: RewardFactory
) -> None:
    customer, card, public = member("1000.00", tier="silver")
    _, _, broke = member("50.00")
    last = reward(points_price="100.00", stock=1)
    once = reward(points_price="10.00", per_member_limit=1)
    gold = reward(points_price="10.00", min_tier="gold")
    hidden = reward(points_price="10.00", visible_until=(clock() + timedelta(hours=1)).isoformat())
    later = reward(points_price="10.00", active_from=(clock() + timedelta(days=1)).isoformat())
    hub.ledger.run(lambda book: orders.place(book, customer, [orders.Wanted(once, 1)], key="before"))
    clock.advance(timedelta(hours=2))  # ``hidden`` is no longer shown
    balance, orders_before = hub.ledger.balance(card), order_count(db)
    headers = {"Accept-Language": lang}
    cases: list[tuple[str, dict[str, Any], int, str, str]] = [
        (public, {"lines": [line(last, 2)]}, 409, "out_of_stock",
         {"ru": "«Термос»: осталось 1 шт., заказано 2.", "en": "“Thermos”: 1 left, 2 ordered."}[lang]),
        (public, {"lines": [line(once, 1, "10.00")]}, 409, "member_limit_reached",
         {"ru": "не больше 1 шт. на участника", "en": "at most 1 per member"}[lang]),
        (public, {"lines": [line(gold, 1, "10.00")]}, 409, "not_eligible",
         {"ru": "нужен статус «gold» или выше", "en": "tier “gold” or higher is required"}[lang]),
        (public, {"lines": [line(hidden, 1, "10.00")]}, 409, "reward_not_visible",
         {"ru": "больше не показывается в каталоге", "en": "is no longer shown in the catalog"}[lang]),
        (public, {"lines": [line(later, 1, "10.00")]}, 409, "reward_not_active",
         {"ru": "сейчас нельзя заказать", "en": "cannot be ordered at the moment"}[lang]),
        (public, {"lines": [line(last, 11)]}, 422, "cart_too_large",
         {"ru": "не больше 20 позиций и 10 шт.", "en": "at most 20 lines and 10 of each"}[lang]),
        (public, {"lines": [line(999_999)]}, 404, "unknown_reward",
         {"ru": "Такого подарка нет.", "en": "No such reward."}[lang]),
        (broke, {"lines": [line(last, 1)]}, 409, "insufficient_balance",
         {"ru": "Не хватает баллов: нужно 100.00, доступно 50.00.",
          "en": "Not enough points: 100.00 needed, 50.00 available."}[lang]),
    ]  # fmt: skip
    for who, body, status, code, words in cases:
        answer = post(api, f"/shop/customers/{who}/orders", body, headers=headers)
        assert answer.status_code == status, (code, answer.text)
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["code"] == code and words in answer.json()["detail"], (code, answer.json())
    gated = post(api, f"/shop/customers/{public}/orders", cases[2][1], headers=headers).json()
    assert gated["params"] == {"reason": "below_tier"}
    short = post(api, f"/shop/customers/{public}/orders", cases[0][1], headers=headers).json()
    assert short["params"] == {"left": "1", "wanted": "2"}
    assert hub.ledger.balance(card) == balance and order_count(db) == orders_before and stock(db, last) == 1

    twice = post(api, f"/shop/customers/{public}/orders", {"lines": [line(last), line(last)]})
    assert twice.status_code == 422 and twice.json()["code"] == "validation_error"
    nobody = post(api, f"/shop/customers/{public[:-4]}AAAA/orders", {"lines": [line(last)]})
    assert nobody.status_code == 404 and nobody.json()["code"] == "unknown_customer"


def test_two_members_racing_for_the_last_unit_only_one_gets_it(
    api: Api, db: Engine, member: Member, reward: RewardFactory
) -> None:
    last = reward(points_price="100.00", stock=1)
    publics = [member("500.00")[2] for _ in range(4)]
    answers: list[Any] = [None] * len(publics)
    start = threading.Barrier(len(publics))

    def buy(index: int) -> None:
        start.wait()
        answers[index] = post(api, f"/shop/customers/{publics[index]}/orders", {"lines": [line(last)]})

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(len(publics))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201, 409, 409, 409], [answer.text for answer in answers]
    assert {answer.json()["code"] for answer in answers if answer.status_code == 409} == {"out_of_stock"}
    assert stock(db, last) == 0 and order_count(db) == 1


def test_cancel_gives_points_and_stock_back_and_refuses_once_processed(
    api: Api, hub: Hub, db: Engine, member: Member, reward: RewardFactory, supplier: int
) -> None:
    _, card, public = member("1000.00")
    _, _, stranger = member("10.00")
    lamp = reward(points_price="200.00", stock=2)
    placed = post(api, f"/shop/customers/{public}/orders", {"lines": [line(lamp, 1, "200.00")]}).json()
    assert hub.ledger.balance(card).available == Decimal("800.00") and stock(db, lamp) == 1
    path = f"/shop/customers/{public}/orders/{placed['order_id']}"
    elsewhere = f"/shop/customers/{stranger}/orders/{placed['order_id']}"
    foreign = post(api, f"{elsewhere}/cancel", {}, headers=EN)
    assert foreign.status_code == 404 and foreign.json()["code"] == "unknown_reward_order"
    assert get(api, elsewhere).status_code == 404
    cancelled = post(api, f"{path}/cancel", {"reason": "changed my mind"}, key="c-1")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert hub.ledger.balance(card).available == Decimal("1000.00") and stock(db, lamp) == 2
    assert (
        post(api, f"{path}/cancel", {"reason": "changed my mind"}, key="c-1").headers["idempotent-replayed"]
        == "true"
    )

    second = post(api, f"/shop/customers/{public}/orders", {"lines": [line(lamp, 1, "200.00")]}).json()
    order_row = int(hub.ledger.run(lambda book: _order_row(book.conn, card)))
    hub.ledger.run(lambda book: orders.mark_processed(book, supplier, order_row))
    refused = post(api, f"/shop/customers/{public}/orders/{second['order_id']}/cancel", {}, headers=RU)
    assert refused.status_code == 409 and refused.json()["code"] == "order_not_cancellable"
    assert refused.json()["detail"] == "Заказ уже выполнен: отменить его нельзя."
    fulfilled = get(api, f"/shop/customers/{public}/orders/{second['order_id']}").json()
    assert fulfilled["state"] == "fulfilled" and fulfilled["lines"][0]["state"] == "processed"


def _order_row(conn: Any, card: int) -> int:
    return int(conn.execute(select(func.max(RewardOrder.id)).where(RewardOrder.card_id == card)).scalar_one())


# --- invoice ------------------------------------------------------------------------------------------


def test_unpaid_cash_part_and_the_invoice_pdf(
    api: Api, app: FastAPI, hub: Hub, db: Engine, settings: Settings, member: Member, reward: RewardFactory
) -> None:
    app.state.settings = settings.model_copy(
        update={
            "rewards_payments": "manual",
            "invoice_seller_name": "ООО «Доброcтрой»",
            "invoice_seller_tax_id": "7701234567",
            "invoice_seller_address": "Москва, Тверская, 1",
        }
    )
    _, card, public = member("1000.00", locale="ru")
    _, _, stranger = member("10.00")
    bike = reward(points_price="200.00", cash_price="1200.00", vat_rate="20", name_ru="Велосипед")
    kettle = reward(points_price="100.00", cash_price="99.99", vat_rate="10", name_ru="Чайник")
    body = {
        "lines": [line(bike, 1, "200.00", "1200.00"), line(kettle, 2, "100.00", "99.99")],
        "address": "Москва, ул. Ленина, 1",
    }
    placed = post(api, f"/shop/customers/{public}/orders", body, headers=RU)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["state"] == "awaiting_payment" and order["invoice_number"].endswith("-000001")
    assert order["cash_total"] == "1399.98" and order["vat_total"] == "218.18"  # 200.00 + 18.18
    assert order["payment_due"] == {
        "invoice_number": order["invoice_number"],
        "amount": "1399.98",
        "message": f"Доплата 1399.98 по счёту {order['invoice_number']} ещё не оплачена: "
        "заказ будет передан поставщику после оплаты.",
    }
    assert hub.ledger.balance(card).held == Decimal("400.00")

    pdf = api.http.get(order["invoice_url"], headers={**api.headers(), **RU})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    flat = " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())
    assert f"Счёт № {order['invoice_number']}" in flat
    assert "ООО «Доброcтрой»" in flat and "ИНН 7701234567" in flat and "Иванова Анна" in flat
    assert "Велосипед" in flat and "Чайник" in flat
    assert "Всего к оплате: 1 399,98 ₽" in flat and "Итого НДС: 218,18 ₽" in flat  # Babel's ru
    assert "Итого без НДС: 1 181,80 ₽" in flat and "Оплачено баллами: 400,00" in flat
    assert "В том числе НДС 20% с суммы 1 200,00 ₽: 200,00 ₽" in flat
    assert "В том числе НДС 10% с суммы 199,98 ₽: 18,18 ₽" in flat
    assert "Ожидает оплаты" in flat

    english = api.http.get(order["invoice_url"], headers={**api.headers(), **EN})
    english_text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(english.content)).pages)
    assert f"Invoice No. {order['invoice_number']}" in english_text and "Total due" in english_text

    foreign = get(api, f"/shop/customers/{stranger}/orders/{order['order_id']}/invoice")
    assert foreign.status_code == 404 and foreign.json()["code"] == "unknown_reward_order"
    points_only = post(api, f"/shop/customers/{public}/orders", {"lines": [line(reward(), 1)]}).json()
    none = get(api, f"/shop/customers/{public}/orders/{points_only['order_id']}/invoice", EN)
    assert none.status_code == 404 and none.json()["code"] == "no_invoice"
    assert none.json()["detail"] == "This order has no cash part, so it has no invoice."


# --- the document -------------------------------------------------------------------------------------


def test_the_shop_is_in_the_openapi_document(api: Api, make_api: MakeApi) -> None:
    document = api.http.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    assert {
        f"{SHOP}/catalog": {"get"},
        f"{SHOP}/catalog/{{reward_id}}": {"get"},
        f"{SHOP}/quote": {"post"},
        f"{SHOP}/orders": {"get", "post"},
        f"{SHOP}/orders/{{order_id}}": {"get"},
        f"{SHOP}/orders/{{order_id}}/cancel": {"post"},
        f"{SHOP}/orders/{{order_id}}/invoice": {"get"},
    }.items() <= {path: set(ops) for path, ops in paths.items()}.items()
    place = paths[f"{SHOP}/orders"]["post"]
    conflicts = place["responses"]["409"]["description"]
    for code in (
        "price_changed",
        "out_of_stock",
        "member_limit_reached",
        "not_eligible",
        "reward_not_visible",
    ):
        assert code in conflicts
    assert place["responses"]["409"]["content"] == {
        PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in place["parameters"])
    invoice = paths[f"{SHOP}/orders/{{order_id}}/invoice"]["get"]["responses"]["200"]["content"]
    assert "application/pdf" in invoice
    assert "params" in document["components"]["schemas"]["Problem"]["properties"]

    reader = make_api("read")
    refused = post(reader, f"/shop/customers/cus_{'A' * 24}/orders", {"lines": [line(1)]})
    assert refused.status_code == 403 and refused.json()["code"] == "missing_scope"


def test_tiers_are_ranked_by_the_programs_order(
    api: Api, db: Engine, clock: FakeClock, settings: Settings, member: Member, reward: RewardFactory
) -> None:
    from bonusbridge.points import store

    tiers = [
        {"name": "silver", "min_spend": "100", "earn_rate": "0.02"},
        {"name": "gold", "min_spend": "500", "earn_rate": "0.03"},
        {"name": "platinum", "min_spend": "900", "earn_rate": "0.05"},
    ]
    with db.begin() as conn:
        store.add_version(
            conn, settings, {"effective_from": (clock() + timedelta(minutes=1)).isoformat(), "tiers": tiers},
            now=clock(), actor="staff:mk",
        )  # fmt: skip
    clock.advance(timedelta(minutes=2))
    _, _, gold_member = member("1000.00", tier="gold")
    _, _, silver_member = member("1000.00", tier="silver")
    for_silver = reward(code="for-silver", points_price="10.00", min_tier="silver")
    for_gold = reward(code="for-gold", points_price="10.00", min_tier="gold")
    for_platinum = reward(code="for-platinum", points_price="10.00", min_tier="platinum")

    def reasons(public: str) -> dict[int, str | None]:
        items = get(api, f"/shop/customers/{public}/catalog", EN).json()["items"]
        return {item["reward_id"]: item["reason"] for item in items}

    assert reasons(gold_member) == {for_silver: None, for_gold: None, for_platinum: "below_tier"}
    assert reasons(silver_member) == {for_silver: None, for_gold: "below_tier", for_platinum: "below_tier"}
    ordered = post(api, f"/shop/customers/{gold_member}/orders", {"lines": [line(for_silver, 1, "10.00")]})
    assert ordered.status_code == 201, ordered.text
    refused = post(api, f"/shop/customers/{silver_member}/orders", {"lines": [line(for_gold, 1, "10.00")]})
    assert refused.status_code == 409 and refused.json()["params"] == {"reason": "below_tier"}


def test_global_limit_a_card_that_may_not_spend_and_no_card_are_each_refused_as_such(
    api: Api, hub: Hub, db: Engine, member: Member, reward: RewardFactory
) -> None:
    from sqlalchemy import update

    from bonusbridge.models import CardStatus

    _, _, first = member("1000.00")
    _, _, second = member("1000.00")
    offer = reward(points_price="10.00", global_limit=1)
    assert (
        post(api, f"/shop/customers/{first}/orders", {"lines": [line(offer, 1, "10.00")]}).status_code == 201
    )
    taken = post(api, f"/shop/customers/{second}/orders", {"lines": [line(offer, 1, "10.00")]}, headers=RU)
    assert taken.status_code == 409 and taken.json()["code"] == "global_limit_reached"
    assert taken.json()["detail"] == "«Термос»: все подарки этой акции уже разобраны."
    listed = get(api, f"/shop/customers/{second}/catalog", EN).json()["items"]
    assert [(item["reason"], item["stock"]) for item in listed if item["reward_id"] == offer] == [
        ("out_of_stock", 0)
    ]

    lamp = reward(points_price="10.00")
    _, locked_card, locked = member("1000.00")
    with db.begin() as conn:
        conn.execute(update(Card).where(Card.id == locked_card).values(status=CardStatus.ACCUMULATION_ONLY))
    refused = post(api, f"/shop/customers/{locked}/orders", {"lines": [line(lamp, 1, "10.00")]}, headers=EN)
    assert refused.status_code == 409 and refused.json()["code"] == "card_cannot_spend"
    assert refused.json()["detail"].startswith("The card cannot spend points now")
    assert hub.ledger.balance(locked_card).held == 0 and order_count(db) == 1

    _, blocked_card, cardless = member("0")
    with db.begin() as conn:
        conn.execute(update(Card).where(Card.id == blocked_card).values(status=CardStatus.BLOCKED))
    none = post(api, f"/shop/customers/{cardless}/orders", {"lines": [line(lamp, 1, "10.00")]}, headers=RU)
    assert none.status_code == 409 and none.json()["code"] == "no_card"
    assert none.json()["detail"] == "У вас нет активной карты, с которой можно списать баллы."


def test_quote_of_a_line_beyond_its_stock_suggests_what_is_left(
    api: Api, member: Member, reward: RewardFactory
) -> None:
    _, _, public = member("1000.00")
    few = reward(points_price="100.00", stock=1)
    answer = post(api, f"/shop/customers/{public}/quote", {"lines": [line(few, 3)]}, key=None, headers=RU)
    quote = answer.json()
    assert quote["over_budget"] is False and quote["orderable"] is False
    assert quote["lines"][0]["most"] == 1
    assert quote["lines"][0]["problem"] == "«Термос»: осталось 1 шт., заказано 3."
    assert quote["suggestion"]["lines"] == [{"reward_id": few, "quantity": 1}]
    assert quote["suggestion"]["explanation"] == (
        "Часть позиций нельзя заказать в таком количестве. Можно заказать на 100.00 баллов: Термос × 1."
    )


def test_every_refusal_of_the_rewards_shop_has_a_catalogued_code_and_both_languages() -> None:
    import inspect

    from bonusbridge.rewards import errors as shop_errors
    from bonusbridge.rewards import invoice
    from web_cabinet.api.problems import CATALOG

    found = [
        cls
        for module in (shop_errors, invoice)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, shop_errors.RewardsError)
    ]
    assert len(found) > 20
    for cls in found:
        assert cls.code in CATALOG, f"{cls.__name__} ({cls.code}) has no entry in the API's catalog"
        assert CATALOG[cls.code].status == cls.http_status, cls.__name__
        assert set(cls.messages) >= {"ru", "en"}, cls.__name__
