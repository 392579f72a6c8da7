"""Unmerge through the staff page on the real merge engine (``reconciliation.merges``): the log
shows the merge masked, an admin undoes it with a reason, the cards and points come back, and the
log records who did it and why. Drift reports on the real engine's (empty) list render too."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from bonusbridge.actors import Actor, Permission
from bonusbridge.models import Card, CardStatus
from bonusbridge.unit_of_work import UnitOfWork
from tests.web_cabinet.conftest import World
from tests.web_cabinet.staff.conftest import csrf_of, staff_log_in

merges = pytest.importorskip("reconciliation.merges")
PHONE = "+79165550101"


def test_an_admin_unmerges_through_the_page(client: TestClient, staff: dict[str, str], world: World) -> None:
    customer = world.customer(phone_e164=PHONE, last_name="Иванова", first_name="Анна")
    first = world.card("2100000000001", phone=PHONE, customer_id=customer, primary=True)
    second = world.card("2100000000002", phone=PHONE, customer_id=customer)
    world.accrue(second, "25.50", key="acc-2")
    with UnitOfWork(world.hub.engine, clock=world.clock) as uow:
        merged = merges.merge_cards(
            uow,
            customer,
            first,
            [second],
            actor=Actor("olga", frozenset({Permission.MERGE})),
            reason="duplicate",
            key="merge-1",
        )
        uow.commit()
    with UnitOfWork(world.hub.engine) as uow:
        assert uow.session.get(Card, second).status == CardStatus.BLOCKED

    staff_log_in(client, "admin")
    log = client.get("/staff/merges").text
    assert f'href="/staff/merges/{merged.merge_id}/unmerge"' in log
    assert "2100000000002" not in log and "0002" in log and PHONE not in log and "Иванова" not in log
    form = client.get(f"/staff/merges/{merged.merge_id}/unmerge").text
    form_id = re.search(r'name="form_id" value="([0-9a-f]{32})"', form)
    assert form_id
    done = client.post(
        f"/staff/merges/{merged.merge_id}/unmerge",
        data={"csrf_token": csrf_of(form), "form_id": form_id.group(1), "reason": "customer asked"},
    )
    assert done.status_code == 303
    log = client.get("/staff/merges").text
    assert 'id="flash"' in log and f'href="/staff/merges/{merged.merge_id}/unmerge"' not in log
    assert "staff:admin" in log and "customer asked" in log
    with UnitOfWork(world.hub.engine) as uow:
        assert uow.session.get(Card, second).status != CardStatus.BLOCKED
    assert world.hub.ledger.balance(second).total == Decimal("25.50")
    # the same form again: the engine's idempotency, no second unmerge
    again = client.post(
        f"/staff/merges/{merged.merge_id}/unmerge",
        data={"csrf_token": csrf_of(form), "form_id": form_id.group(1), "reason": "customer asked"},
    )
    assert again.status_code == 303


def test_the_drift_pages_on_the_real_engine(client: TestClient, staff: dict[str, str]) -> None:
    pytest.importorskip("reconciliation.drift")
    staff_log_in(client, "viewer")
    page = client.get("/staff/drift")
    assert page.status_code == 200 and 'id="not-available"' not in page.text
    assert client.get("/staff/drift/12345").status_code == 404
