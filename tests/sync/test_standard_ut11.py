"""Issue 18 item 5: a standard УТ 11 without the chain's ``ТолькоНакопление`` extension (and a
standard Розница, which has no card status at all).

The emulator runs as the standard configuration (``create_app(extension=False)``, the CLI's
``--without-extension``): 1C answers a card status it lacks with 400 "Неверное значение
перечисления", as real 1C answers a bad literal in a body (400/1). The hub parks that delivery at
once with 1C's words (no retries), the card's other changes reach 1C at once, and ``onec ping``
names the missing value."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Engine, select

from bonusbridge.models import Card, CardStatus, Origin, OutboxMessage, SyncState
from bonusbridge.unit_of_work import UnitOfWork
from connectors.onec.cli import _status, check_mapping
from connectors.onec.emulator.app import create_app
from connectors.onec.emulator.server import ServerThread
from connectors.onec.errors import OneCQueryError, OneCValueRejected, error_from_response
from connectors.sync.pull import pull_full
from tests.onec_live import ADMIN, PARTNER_PETROVA, Base
from tests.sync.conftest import Harness

CARDS = "Catalog_КартыЛояльности"
CARD_PETROVA = "40000000-0000-4000-8000-000000000003"


@pytest.fixture(scope="module")
def standard_server() -> Iterator[Base]:
    with ServerThread(create_app("ut11", fixtures="demo", extension=False)) as server:
        yield Base(server, "ut11")


@pytest.fixture
def standard(standard_server: Base) -> Base:
    standard_server.reset()
    return standard_server


@pytest.fixture
def h(standard: Base, db: Engine) -> Iterator[Harness]:
    harness = Harness(standard, db)
    yield harness
    harness.close()


def _a_card(base: Base) -> str:
    with base.client() as c:
        body = c.get(f"{CARDS}?$format=json&$top=1&$select=Ref_Key").json()
    return str(body["value"][0]["Ref_Key"])


def test_the_standard_configuration_refuses_the_extensions_value_as_1c_does(
    standard: Base, ut11: Base
) -> None:
    ref = _a_card(standard)
    with standard.client() as c:
        refused = c.patch(f"{CARDS}(guid'{ref}')?$format=json", json={"Статус": "ТолькоНакопление"})
        allowed = c.patch(f"{CARDS}(guid'{ref}')?$format=json", json={"Статус": "НеДействует"})
    assert refused.status_code == 400
    error = refused.json()["odata.error"]
    assert error["code"] == "1" and "Неверное значение перечисления" in error["message"]["value"]
    assert allowed.status_code == 200
    typed = error_from_response(refused)
    assert isinstance(typed, OneCValueRejected) and not typed.retryable
    assert "ТолькоНакопление" in (typed.onec_message or "")
    # With the extension (the default) the same write is accepted.
    with ut11.client() as c:
        assert (
            c.patch(f"{CARDS}(guid'{ref}')?$format=json", json={"Статус": "ТолькоНакопление"}).status_code
            == 200
        )


def test_other_400s_stay_query_errors() -> None:
    request = httpx.Request("POST", "http://1c/odata/standard.odata/Catalog_X")
    duplicate = httpx.Response(
        400,
        json={
            "odata.error": {
                "code": "15",
                "message": {"lang": "ru", "value": "Запись с таким ключом существует"},
            }
        },
        request=request,
    )
    error = error_from_response(duplicate)
    assert isinstance(error, OneCQueryError) and not isinstance(error, OneCValueRejected)


def test_a_status_1c_lacks_is_parked_at_once_and_the_cards_other_changes_go_on(h: Harness) -> None:
    pull_full(h.ctx)
    h.sync()  # the load locked Петрова's card (her profile lacks a birth date): 1C refuses the status
    with h.ctx.session_factory() as s:
        card = s.scalars(select(Card).where(Card.onec_ref == CARD_PETROVA)).one()
        assert card.status == CardStatus.ACCUMULATION_ONLY
        assert card is not None
        card_id = card.id
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.key == f"card:{card_id}")).all()
    refused = [r for r in rows if r.topic == "card"]
    assert refused and all(r.state == SyncState.PARKED for r in refused), [
        (r.state, r.attempts) for r in refused
    ]
    assert all(r.attempts == 1 for r in refused)  # never retried
    assert all("Неверное значение перечисления" in (r.last_error or "") for r in refused)
    assert not [r for r in rows if r.state in (SyncState.PENDING, SyncState.DEAD)]
    # The card's other changes are not held behind it: an accrual reaches 1C at once.
    before = h.onec_balance(PARTNER_PETROVA)
    with UnitOfWork(h.ctx.engine) as uow:
        uow.ledger.accrue(card_id, Decimal("15"), key="standard-ut11-15", origin=Origin.WEBSITE)
        uow.commit()
    h.sync()
    assert h.onec_balance(PARTNER_PETROVA) == before + 15
    with h.ctx.session_factory() as s:
        movement = s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.key == f"card:{card_id}", OutboxMessage.topic == "movement"
            )
        ).all()
    assert movement and all(m.state == SyncState.DONE for m in movement)


def test_ping_names_the_card_status_1c_lacks(h: Harness, db: Engine) -> None:
    settings = h.settings.model_copy(update={"database_url": db.url.render_as_string(hide_password=False)})
    pull_full(h.ctx)
    h.sync()
    result = _status("mapping", check_mapping(settings))
    assert result.status == "FAIL", result
    assert "ТолькоНакопление" in result.detail and "extension" in result.detail
    assert "quote" in result.detail  # how the lock is enforced meanwhile


def test_ping_is_ok_with_the_extension(ut11: Base, db: Engine) -> None:
    h = Harness(ut11, db)
    try:
        settings = h.settings.model_copy(
            update={"database_url": db.url.render_as_string(hide_password=False)}
        )
        pull_full(h.ctx)
        h.sync()
        result = _status("mapping", check_mapping(settings))
    finally:
        h.close()
    assert result.status == "OK", result
    assert ADMIN[0] not in result.detail


# --- a standard Розница: no card status at all ------------------------------------------------------

RETAIL_CARDS = "Catalog_ИнформационныеКарты"


@pytest.fixture(scope="module")
def standard_retail_server() -> Iterator[Base]:
    with ServerThread(create_app("retail", fixtures="demo", extension=False)) as server:
        yield Base(server, "retail")


@pytest.fixture
def standard_retail(standard_retail_server: Base) -> Base:
    standard_retail_server.reset()
    return standard_retail_server


def test_a_standard_retail_base_has_no_card_status_and_ignores_one_written(standard_retail: Base) -> None:
    with standard_retail.client() as c:
        metadata = c.get("$metadata").text
        ref = c.get(f"{RETAIL_CARDS}?$format=json&$top=1&$select=Ref_Key").json()["value"][0]["Ref_Key"]
        written = c.patch(f"{RETAIL_CARDS}(guid'{ref}')?$format=json", json={"Статус": "ТолькоНакопление"})
    assert '<EntityType Name="Catalog_ИнформационныеКарты">' in metadata
    card_type = metadata.split('<EntityType Name="Catalog_ИнформационныеКарты">', 1)[1].split(
        "</EntityType>", 1
    )[0]
    assert 'Name="Статус"' not in card_type
    assert written.status_code == 200 and "Статус" not in written.json()  # ignored, as 1C does


def test_ping_names_the_missing_card_status_of_a_standard_retail_base(
    standard_retail: Base, db: Engine
) -> None:
    h = Harness(standard_retail, db)
    try:
        url = db.url.render_as_string(hide_password=False)
        result = _status("mapping", check_mapping(h.settings.model_copy(update={"database_url": url})))
    finally:
        h.close()
    assert result.status == "FAIL", result
    assert "Catalog_ИнформационныеКарты lacks Статус" in result.detail
