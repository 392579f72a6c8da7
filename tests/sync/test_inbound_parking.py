"""Issue 18 item 1: one 1C change the hub cannot apply must not stop the inbound feed.

An accountant gives a verified customer's phone to another verified customer, or a card the
barcode of another card. Such a change is parked with its reason (``sync status``, the staff drift
page), the rest of its batch and every later change apply, and a corrected later version of the
same object applies. Both ways a change is applied are driven: by the listener in the transaction
that stores the batch (``store_and_apply``), and by the workers (``store_changes`` + drain). Both
1C configurations.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bonusbridge.app import Hub
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, CardStatus, Customer, InboxMessage, SyncState
from bonusbridge.services.cabinet import customer_for_verified_phone
from bonusbridge.settings import get_settings
from bonusbridge.unit_of_work import UnitOfWork
from connectors.sync import cli as sync_cli
from connectors.sync.pull import pull_full
from connectors.sync.status import sync_status
from tests.onec_live import Base
from tests.sync.conftest import Harness, sync_settings
from tests.web_cabinet.staff.conftest import staff_log_in
from web_cabinet.app import create_app
from web_cabinet.staff.auth import Role, create_user

PARTNERS = "Catalog_Партнеры"
IVANOV = "10000000-0000-4000-8000-000000000001"  # +7 916 123-45-67, complete profile
PETROVA = "10000000-0000-4000-8000-000000000002"  # 8-916-234-56-78, no birth date
KUZNETSOVA = "10000000-0000-4000-8000-000000000004"  # 916 456 78 90, no birth date
CARD_1 = "40000000-0000-4000-8000-000000000001"  # 2000000000011, Иванов
CARD_2 = "40000000-0000-4000-8000-000000000002"  # 2000000000028, Иванов
CARD_5 = "40000000-0000-4000-8000-000000000005"  # 2000000000059, Кузнецова

#: "listener": the listener applies what it stores; "workers": it only stores, workers apply.
PATHS = {"listener": 100, "workers": 0}


@pytest.fixture(params=sorted(PATHS))
def h(request: pytest.FixtureRequest, any_base: Base, db: Any) -> Any:
    harness = Harness(any_base, db, sync_listener_applies_at_most=PATHS[request.param])
    yield harness
    harness.close()


def _card_set(h: Harness) -> str:
    return h.ctx.profile.card.entity_set


def _phone_section(shown: str) -> list[dict[str, Any]]:
    return [{"LineNumber": 1, "Тип": "Телефон", "Представление": shown, "НомерТелефона": shown}]


def _customer(h: Harness, ref: str) -> Customer:
    with h.ctx.session_factory() as s:
        customer = s.scalars(select(Customer).where(Customer.onec_ref == ref)).one()
        s.expunge(customer)
        return customer


def _card(h: Harness, ref: str) -> Card:
    with h.ctx.session_factory() as s:
        card = s.scalars(select(Card).where(Card.onec_ref == ref)).one()
        s.expunge(card)
        return card


def _parked(h: Harness) -> list[InboxMessage]:
    with h.ctx.session_factory() as s:
        rows = list(s.scalars(select(InboxMessage).where(InboxMessage.state == SyncState.PARKED)))
        for row in rows:
            s.expunge(row)
        return rows


def _drift_page(h: Harness, lang: str) -> str:
    """The staff drift page, as an auditor reads it."""
    settings = sync_settings(h.base, staff_session_secret="inbound-staff-secret", broker_url="memory://")
    create_user(h.ctx.engine, "auditor", "correct horse battery", [Role.VIEWER])
    hub = Hub(settings=settings, engine=h.ctx.engine, ledger=LedgerService(h.ctx.engine))
    app = create_app(settings, hub=hub)
    client = TestClient(app, base_url="https://cabinet.test", follow_redirects=False)
    assert staff_log_in(client, "auditor", "correct horse battery").status_code == 303
    client.cookies.set("bb_lang", lang)
    page = client.get("/staff/drift")
    assert page.status_code == 200, page.text
    return page.text


def _sync_status_cli(h: Harness) -> str:
    """``bonusbridge sync status`` on the test's database and 1C."""
    env = {
        "BONUSBRIDGE_DATABASE_URL": h.ctx.engine.url.render_as_string(hide_password=False),
        "BONUSBRIDGE_ONEC_CONFIG": h.base.config,
        "BONUSBRIDGE_ONEC_BASE_URL": f"{h.base.origin}/{h.base.base}",
    }
    get_settings.cache_clear()  # the command reads the environment, not the cached settings
    try:
        result = CliRunner().invoke(sync_cli.app, ["status"], env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


def _verify(h: Harness, *phones: str) -> None:
    for phone in phones:
        with UnitOfWork(h.ctx.engine) as uow:
            customer_for_verified_phone(uow, phone)
            uow.commit()
    h.sync()


def test_a_phone_verified_by_another_customer_parks_the_1c_edit_and_the_feed_goes_on(h):
    pull_full(h.ctx)
    h.sync()
    _verify(h, "+79161234567", "+79162345678")
    # The accountant types Иванов's number into Петрова's card in 1C, then fills Кузнецова's
    # birth date: both changes reach the hub in the same feed batch.
    h.onec.patch(PARTNERS, PETROVA, {"КонтактнаяИнформация": _phone_section("+7 (916) 123-45-67")})
    h.onec.patch(PARTNERS, KUZNETSOVA, {"ДатаРождения": "1990-05-05T00:00:00"})
    h.sync()

    parked = _parked(h)
    assert [(m.entity_set, m.onec_ref) for m in parked] == [(PARTNERS, PETROVA)]
    reason = parked[0].last_error or ""
    assert "verified" in reason and "keeps" in reason, reason
    assert "123-45" not in reason and "1234567" not in reason, "the reason names no phone"
    # The rule: the verified owner keeps the phone; Петрова keeps hers, still verified.
    ivanov, petrova = _customer(h, IVANOV), _customer(h, PETROVA)
    assert (ivanov.phone_e164, ivanov.phone_verified_at is not None) == ("+79161234567", True)
    assert (petrova.phone_e164, petrova.phone_verified_at is not None) == ("+79162345678", True)
    # The rest of the feed applied: Кузнецова's profile is complete, her card may spend.
    assert _customer(h, KUZNETSOVA).birth_date == date(1990, 5, 5)
    assert _card(h, CARD_5).status is CardStatus.ACTIVE
    # Staff see it.
    status = sync_status(h.ctx.engine, datetime.now(UTC))
    assert status.inbox_parked == 1 and status.inbox_pending == 0
    shown = _sync_status_cli(h)
    assert "1 parked" in shown and f"Catalog_Партнеры({PETROVA}): PhoneOfAnotherCustomer" in shown, shown
    page = _drift_page(h, "ru")
    assert 'id="unapplied"' in page and f'data-ref="{PETROVA}"' in page
    assert f"подтверждён клиентом {ivanov.id} и остаётся у него" in page
    assert "123-45" not in page

    # The accountant corrects the number: the later version of the same partner applies, and a
    # number changed in 1C is not a verified one (item 6).
    h.onec.patch(PARTNERS, PETROVA, {"КонтактнаяИнформация": _phone_section("+7 (916) 999-88-77")})
    h.sync()
    petrova = _customer(h, PETROVA)
    assert (petrova.phone_e164, petrova.phone_verified_at) == ("+79169998877", None)
    assert len(_parked(h)) == 1
    assert sync_status(h.ctx.engine, datetime.now(UTC)).inbox_pending == 0


def test_a_database_refusal_parks_the_change_and_the_rest_of_the_batch_applies(h):
    """Any change the database refuses (here 1C gives a card the barcode of another card: the
    hub's cards are unique per number) is parked with the database's reason, not retried forever."""
    pull_full(h.ctx)
    h.sync()
    h.onec.patch(_card_set(h), CARD_1, {"Штрихкод": "2000000000028"})
    h.onec.patch(PARTNERS, KUZNETSOVA, {"ДатаРождения": "1990-05-05T00:00:00"})
    h.sync()

    parked = _parked(h)
    assert [(m.entity_set, m.onec_ref) for m in parked] == [(_card_set(h), CARD_1)]
    reason = parked[0].last_error or ""
    assert reason.startswith("IntegrityError: the database refused the change"), reason
    assert "2000000000028" not in reason and "[SQL" not in reason, "no statement or values"
    assert _card(h, CARD_1).number == "2000000000011"
    assert _card(h, CARD_2).number == "2000000000028"
    assert _customer(h, KUZNETSOVA).birth_date == date(1990, 5, 5)
    assert sync_status(h.ctx.engine, datetime.now(UTC)).inbox_pending == 0

    h.onec.patch(_card_set(h), CARD_1, {"Штрихкод": "2000000000066"})
    h.sync()
    assert _card(h, CARD_1).number == "2000000000066"
    assert len(_parked(h)) == 1


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_change_that_breaks_the_apply_code_waits_alone_and_ends_in_the_dead_letters(path, any_base, db):
    """Data nobody foresaw (here a partner message without its Ref_Key, as a faulty 1C event
    subscription could publish) makes the applying code itself fail: the listener still stores and
    acknowledges the batch, the other changes apply, and the broken one is retried on its own key
    with a backoff, then dead-lettered with its reason — never a loop that stops the feed."""
    h = Harness(any_base, db, sync_listener_applies_at_most=PATHS[path], sync_max_attempts=2)
    try:
        pull_full(h.ctx)
        h.sync()
        h.onec.patch(PARTNERS, KUZNETSOVA, {"ДатаРождения": "1990-05-05T00:00:00"})
        good = {"odata.type": f"StandardODATA.{PARTNERS}", **h.onec.get(PARTNERS, KUZNETSOVA)}
        ref = "10000000-0000-4000-8000-0000000000ff"
        broken = {"odata.type": f"StandardODATA.{PARTNERS}", "Recorder": ref, "Description": "Без Ссылки"}
        # What the listener does with one AMQP batch: store, apply what may go, then acknowledge.
        h.listener._store([broken, good], "amqp", None)
        for _ in range(30):  # rounds of the workers, past the broken row's backoff
            h.sync()
            with h.ctx.session_factory() as s:
                row = s.scalars(select(InboxMessage).where(InboxMessage.onec_ref == ref)).one()
            if row.state is SyncState.DEAD:
                break
            time.sleep(0.1)
        assert _customer(h, KUZNETSOVA).birth_date == date(1990, 5, 5)
        assert row.state is SyncState.DEAD, (row.state, row.last_error)
        assert (row.attempts, row.last_error) == (2, "KeyError: 'Ref_Key'")
        assert sync_status(h.ctx.engine, datetime.now(UTC)).inbox_dead == 1
    finally:
        h.close()
