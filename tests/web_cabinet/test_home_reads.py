"""What a view of the home page costs the database (issue 17 item 7): the page is the slowest
thing a customer waits for, and each statement is a round trip and a plan on a shared server.
The counts are of the statements the page itself sends, on whichever engine it uses (the hub's,
or its read engine on PostgreSQL), with the page's content checked alongside."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import event, update

from bonusbridge.models import Card, Origin
from bonusbridge.services.cabinet import movements_of
from tests.web_cabinet.conftest import PHONE, log_in
from web_cabinet.pages.display import history_of

#: session record, customer, cards with their programs, balance, the accounts holding the cards'
#: points (twice: for the expiring lots and for the history, each asks the hub's rule), expiring
#: lots, history, consents, the cards on offer (the membership only when joining is required).
#: It was 11 before the page's reads were cut (13 with the accounts' look-ups).
HOME_SELECTS = 10


@contextmanager
def statements(hub) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()))

    engines = {hub.engine, hub.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def _customer_with_two_cards_and_a_history(world, clock) -> tuple[int, int]:
    customer = world.customer(phone_e164=PHONE, last_name="Петрова", first_name="Мария")
    first = world.card("2000-0000-0042", phone=PHONE, customer_id=customer, primary=True)
    second = world.card("7000-0000-0001", program="legacy", phone=PHONE, customer_id=customer)
    for n in range(30):
        world.accrue(first, "12.50", key=f"f{n}", expires_at=clock.now + timedelta(days=10 + n))
        world.accrue(second, "3.00", key=f"s{n}")
    return first, second


def test_the_home_page_reads_in_ten_statements_whatever_its_history(client, settings, world, clock):
    _customer_with_two_cards_and_a_history(world, clock)
    log_in(client, settings)
    client.get("/")  # the first view after login may settle what the login left
    with statements(world.hub) as seen:
        home = client.get("/")
    assert home.status_code == 200
    selects = [sql for sql in seen if sql.upper().startswith("SELECT")]
    assert len(selects) <= HOME_SELECTS, "\n".join(selects)
    assert not any("program_members" in sql for sql in selects), "membership is read only with opt-in"
    # and the page still shows what those reads found
    assert home.text.count('<tr data-source="onec">') == 50, "the newest fifty movements"
    assert 'id="balance-available">375,00<' in home.text
    assert "Legacy" in home.text, "the second card's program, read with the cards"


def test_membership_is_read_and_shown_when_the_program_requires_joining(world, clock, hub, db):
    from starlette.testclient import TestClient

    from tests.web_cabinet.conftest import BASE_URL
    from web_cabinet.app import create_app

    settings = hub.settings.model_copy(update={"points_opt_in_required": True})
    app = create_app(settings, hub=hub, clock=clock)
    client = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    _customer_with_two_cards_and_a_history(world, clock)
    log_in(client, settings)
    with statements(world.hub) as seen:
        home = client.get("/")
    assert any("program_members" in sql for sql in seen)
    assert 'id="program-member"' in home.text, "owning a card makes a member"


def test_the_pages_history_is_the_hubs_newest_movements_in_the_same_order(world, clock):
    first, second = _customer_with_two_cards_and_a_history(world, clock)
    world.hub.ledger.redeem(first, Decimal("10.00"), key="r1", origin=Origin.WEBSITE)
    # a card whose points live on an account card (ut11): the account's movements are its history
    account = world.card("3000-0000-0009", phone=PHONE)
    for n in range(3):
        world.accrue(account, "1.00", key=f"acct{n}")
    with world.hub.unit_of_work() as uow:
        uow.session.execute(update(Card).where(Card.id == second).values(account_card_id=account))
        uow.commit()
    with world.hub.unit_of_work() as uow:
        assert {row.card_id for row in history_of(uow.session, [second], limit=100)} == {second, account}
        for limit in (5, 50, 100):
            ours = history_of(uow.session, [first, second], limit=limit)
            hubs = movements_of(uow.session, [first, second], limit=limit)
            assert [(m.card_id, m.kind, m.amount, m.occurred_at) for m in hubs] == [
                (row.card_id, row.kind, row.amount, row.occurred_at) for row in ours
            ]
        assert history_of(uow.session, []) == []
