"""Issue 16, items 10 and 11: no 1C edit is ignored, and "newer" is newer.

10. Every 1C field the mapping reads is compared: an accountant's edit of ``Description`` alone
    reaches the hub though ``НаименованиеПолное`` (read first) is unchanged; when the two disagree
    the one 1C changed last wins, and the drift report shows the disagreement.
11. "Newer" uses 1C's own time of the change where 1C gives one (the exchange message's
    ``changed_at``), not the hub's receipt time; the cabinet tells the customer whose edit lost.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bonusbridge.app import Hub
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Customer, Origin, SyncConflict
from bonusbridge.services.profiles import update_profile
from bonusbridge.settings import load_settings
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.changefeed import ONEC_CHANGED_AT, message_to_change
from connectors.sync.inbound import store_changes
from connectors.sync.pull import pull_full
from connectors.sync.runner import drain_everything
from reconciliation.compare import compare_hub_with_onec
from tests.sync.test_end_to_end import PARTNER_1
from tests.web_cabinet.conftest import BASE_URL, PHONE, log_in
from web_cabinet.app import create_app

PARTNERS = "Catalog_Партнеры"


def _customer(h) -> Customer:
    with h.ctx.session_factory() as s:
        customer = s.scalars(select(Customer).where(Customer.onec_ref == PARTNER_1)).one()
        s.expunge(customer)
        return customer


def test_a_1c_edit_of_description_alone_reaches_the_hub_and_the_customers_save_does_not_undo_it(harness):
    h = harness
    pull_full(h.ctx)
    h.sync()
    before = h.onec.get(PARTNERS, PARTNER_1)
    assert before["НаименованиеПолное"] == before["Description"] == "Иванов Иван Иванович"
    # The accountant fixes the short name only; the full name keeps the old one.
    h.onec.patch(PARTNERS, PARTNER_1, {"Description": "Иванов Пётр Иванович"})
    h.sync()
    customer = _customer(h)
    assert (customer.last_name, customer.first_name) == ("Иванов", "Пётр"), "the edit was ignored"
    # 1C's two name fields now disagree: the drift report shows it, naming the field.
    comparison = compare_hub_with_onec(h.ctx.engine, h.onec, h.ctx.profile, customer_ids=[customer.id])
    assert not comparison.ok
    fields = {d.field for d in comparison.customer_differences}
    assert "first_name (НаименованиеПолное)" in fields, comparison.summary()
    assert "Description" not in " ".join(fields), "the hub follows Description, the newer change"
    # The customer's next save (another field) keeps the accountant's name and writes it to both
    # 1C fields; no conflict, and 1C agrees with itself again.
    with UnitOfWork(h.ctx.engine) as uow:
        update_profile(uow, customer.id, {"email": "ivanov@example.com"}, origin=Origin.WEBSITE)
        uow.commit()
    h.sync()
    after = h.onec.get(PARTNERS, PARTNER_1)
    assert after["Description"] == "Иванов Пётр Иванович"
    assert _customer(h).first_name == "Пётр"
    assert compare_hub_with_onec(h.ctx.engine, h.onec, h.ctx.profile, customer_ids=[customer.id]).ok


def test_when_1cs_two_name_fields_disagree_the_one_changed_last_wins(harness):
    h = harness
    pull_full(h.ctx)
    h.sync()
    h.onec.patch(PARTNERS, PARTNER_1, {"Description": "Иванов Пётр Иванович"})
    h.sync()
    assert _customer(h).first_name == "Пётр"
    # Later the full name is edited (Description, now different, stays): the full name is newer.
    h.onec.patch(PARTNERS, PARTNER_1, {"НаименованиеПолное": "Иванов Павел Иванович"})
    h.sync()
    assert _customer(h).first_name == "Павел"
    with h.ctx.session_factory() as s:
        assert s.scalars(select(SyncConflict)).all() == []


def _edit_in_1c_before_the_customer(h, onec_minutes_before: float):
    """The customer saves a birth date in the cabinet now; 1C's edit of the same field was made
    ``onec_minutes_before`` minutes earlier but reaches the hub only afterwards (its AMQP message
    carries 1C's time)."""
    pull_full(h.ctx)
    h.sync()
    customer = _customer(h)
    with UnitOfWork(h.ctx.engine) as uow:
        update_profile(uow, customer.id, {"email": "customer@example.com"}, origin=Origin.WEBSITE)
        uow.commit()
    edited_at = _customer(h).updated_at
    partner = h.onec.patch(PARTNERS, PARTNER_1, {"ДатаРождения": "1985-07-25T00:00:00"})
    partner = h.onec.patch(PARTNERS, PARTNER_1, {"КонтактнаяИнформация": partner["КонтактнаяИнформация"]})
    onec_time = edited_at - timedelta(minutes=onec_minutes_before)
    payload = {
        "entity_set": PARTNERS,
        "key": PARTNER_1,
        "kind": "write",
        "data_version": partner["DataVersion"],
        "changed_at": onec_time.isoformat(),
        "object": {**partner, "КонтактнаяИнформация": _with_email(partner, "accountant@example.com")},
    }
    change = message_to_change(payload)
    assert change[ONEC_CHANGED_AT] == onec_time.isoformat()
    store_changes(h.ctx, [change], source="amqp")
    drain_everything(h.ctx)
    return customer.id


def _with_email(partner, email):
    rows = [dict(r) for r in partner["КонтактнаяИнформация"] if r.get("Тип") != "АдресЭлектроннойПочты"]
    rows.append({"LineNumber": str(len(rows) + 1), "Тип": "АдресЭлектроннойПочты", "АдресЭП": email})
    return rows


def test_an_edit_made_in_1c_before_the_customers_loses_though_it_arrives_later(harness):
    h = harness
    customer_id = _edit_in_1c_before_the_customer(h, onec_minutes_before=5)
    with h.ctx.session_factory() as s:
        conflict = s.scalars(select(SyncConflict).where(SyncConflict.field == "email")).one()
        customer = s.get(Customer, customer_id)
        assert conflict.winner == "website", "1C's edit is older: the customer's wins"
        assert customer is not None and customer.email == "customer@example.com"


def test_an_edit_made_in_1c_after_the_customers_wins_and_the_cabinet_says_so(harness, app_for):
    h = harness
    customer_id = _edit_in_1c_before_the_customer(h, onec_minutes_before=-5)  # 1C's is later
    with h.ctx.session_factory() as s:
        conflict = s.scalars(select(SyncConflict).where(SyncConflict.field == "email")).one()
        assert conflict.winner == "onec"
        assert s.get(Customer, customer_id).email == "accountant@example.com"
    page = app_for(h, customer_id).get("/profile")
    assert page.status_code == 200
    assert 'id="profile-lost-to-onec"' in page.text and "Эл. почта" in page.text


@pytest.fixture
def app_for(tmp_path):
    """The cabinet on the harness's database, logged in as the 1C partner's phone (+7 916 123-45-67)."""
    clients = []

    def make(h, customer_id: int) -> TestClient:
        settings = load_settings(
            broker_url="memory://",
            sms_gateway="console",
            sms_console_file=str(tmp_path / "sms.jsonl"),
            otp_secret="sync-test-otp-secret",
            cabinet_session_secret="sync-test-session-secret",
        )
        hub = Hub(settings=settings, engine=h.ctx.engine, ledger=LedgerService(h.ctx.engine))
        client = TestClient(create_app(settings, hub=hub), base_url=BASE_URL, follow_redirects=False)
        clients.append(client)
        log_in(client, settings, PHONE)
        return client

    yield make
    for client in clients:
        client.close()
