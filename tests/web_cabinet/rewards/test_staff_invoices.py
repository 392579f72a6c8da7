"""``/staff/rewards/invoices``: an order whose cash part waits (manual payments) is listed; admin
marks it paid — the held points are captured, the order goes to its supplier, the act is audited —
and a second click changes nothing; marketing and viewer read, migration gets 403."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from bonusbridge.models import StaffAudit
from bonusbridge.rewards import catalog, orders
from bonusbridge.rewards.models import MailMessage, OrderState
from bonusbridge.rewards.payments import ManualPayments
from tests.conftest import FakeClock
from tests.web_cabinet.conftest import World
from tests.web_cabinet.staff import conftest as staff_fixtures
from tests.web_cabinet.staff.conftest import csrf_of, staff_log_in

settings = staff_fixtures.settings
staff = staff_fixtures.staff


def unpaid_order(world: World, clock: FakeClock) -> tuple[int, int]:
    customer = world.customer(phone_e164="+79160000001", last_name="Петрова", email="p@example.test")
    card = world.card("2000-0000-0077", customer_id=customer, primary=True)
    world.accrue(card, "500.00", key="seed")
    with world.hub.engine.begin() as conn:
        supplier = catalog.create_supplier(
            conn, name="Tools", email="tools@example.test", locale="en", actor="staff:t", now=clock()
        )
        form = {
            "code": "DRILL", "kind": "physical", "category": "tools", "name_en": "Drill", "name_ru": "Дрель",
            "points_price": "200.00", "cash_price": "1200.00", "vat_rate": "20", "supplier_id": str(supplier),
        }  # fmt: skip
        drill = catalog.create_reward(
            conn, catalog.parse_draft(form), actor="staff:t", reason=None, now=clock()
        )
    placed = world.hub.ledger.run(
        lambda book: orders.place(
            book, customer, [orders.Wanted(drill, 1)], key="t1", address="Tver", payments=ManualPayments()
        )
    )
    assert placed.state is OrderState.AWAITING_PAYMENT
    return placed.id, card


def test_admin_marks_an_invoice_paid(
    client: TestClient, db: Engine, staff: dict[str, str], world: World, clock: FakeClock
) -> None:
    order_id, card = unpaid_order(world, clock)
    assert world.hub.ledger.balance(card).held == Decimal("200.00")
    client.cookies.set("bb_lang", "en")
    staff_log_in(client, "marketing")
    page = client.get("/staff/rewards/invoices")
    assert page.status_code == 200 and f'data-order="{order_id}"' in page.text and "2026-000001" in page.text
    assert f'id="paid-{order_id}"' not in page.text  # marketing reads, does not confirm money
    refused = client.post(f"/staff/rewards/invoices/{order_id}/paid", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403
    client.post("/staff/logout", data={"csrf_token": csrf_of(page.text)})

    staff_log_in(client, "admin")
    page = client.get("/staff/rewards/invoices")
    token = csrf_of(page.text)
    paid = client.post(f"/staff/rewards/invoices/{order_id}/paid", data={"csrf_token": token})
    assert paid.status_code == 200 and "Invoice 2026-000001 is paid" in paid.text
    balance = world.hub.ledger.balance(card)
    assert balance.held == Decimal("0.00") and balance.total == Decimal("300.00")
    with db.connect() as conn:
        assert conn.execute(
            select(StaffAudit.action).where(StaffAudit.action == "rewards.invoice.paid")
        ).all()
        assert "order_to_fulfil" in set(conn.execute(select(MailMessage.template)).scalars())
        assert orders.read_order(conn, order_id).state is OrderState.PAID
    again = client.post(f"/staff/rewards/invoices/{order_id}/paid", data={"csrf_token": token})
    assert again.status_code == 303 and world.hub.ledger.balance(card).total == Decimal("300.00")
    with db.connect() as conn:
        audits = conn.execute(select(StaffAudit.id).where(StaffAudit.action == "rewards.invoice.paid")).all()
    assert len(audits) == 1
    assert client.post("/staff/rewards/invoices/999999/paid", data={"csrf_token": token}).status_code == 404
    client.post("/staff/logout", data={"csrf_token": token})
    staff_log_in(client, "migration")
    assert client.get("/staff/rewards/invoices").status_code == 403
