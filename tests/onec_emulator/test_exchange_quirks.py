"""Two exchange-plan quirks observed on real bases: objects in the plan but not published in OData
are silently skipped by SelectChanges and stay queued; one control character in the data fails the
whole SelectChanges batch with 400 and numbers nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from connectors.onec.emulator.app import create_app
from connectors.onec.emulator.schema import CONFIG_DIR, ConfigError, load_config
from tests.onec_emulator.test_exchange import SITE_NODE, keys, notify, point, select_changes, write
from tests.onec_live import CARD_1, PARTNER_IVANOV, SITE, Base, ServerThread, odata_query

CARDS = "Catalog_ИнформационныеКарты"


@pytest.fixture(scope="module")
def unpublished_cards() -> Iterator[Base]:
    """Retail where the cards catalog is in the exchange plan but not published in OData."""
    config = load_config("retail")
    assert config.exchange_plan is not None
    config.exchange_plan.unpublished = [CARDS]
    with ServerThread(create_app(config, fixtures="demo")) as server:
        yield Base(server, "retail")


def registered(base: Base) -> list[tuple[str, str, int | None]]:
    with base.admin() as admin:
        rows = admin.get("/_admin/registrations", params={"node": "САЙТ"}).json()
    return [(r["entity_set"], r["key"], r["message_no"]) for r in rows]


def test_unpublished_objects_are_skipped_and_stay_queued(unpublished_cards: Base) -> None:
    base = unpublished_cards
    base.reset()
    with base.client() as c:
        card = c.patch(f"{CARDS}(guid'{CARD_1}')?$format=json", json={"Штрихкод": "2000000000011"})
    assert card.status_code == 200
    write(base, "виден")
    assert keys(select_changes(base, 1)) == [("Catalog_Партнеры", PARTNER_IVANOV)]
    assert (CARDS, CARD_1, None) in registered(base)  # neither returned nor numbered
    notify(base, 1)
    assert registered(base) == [(CARDS, CARD_1, None)]  # the acknowledgment does not delete it
    assert select_changes(base, 2) == []


def test_unpublished_must_be_in_the_plan(tmp_path: Path) -> None:
    raw = yaml.safe_load((CONFIG_DIR / "retail.yaml").read_text(encoding="utf-8"))
    raw["exchange_plan"]["unpublished"] = [CARDS]
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    plan = load_config(good).exchange_plan
    assert plan is not None and plan.unpublished == [CARDS]
    raw["exchange_plan"]["unpublished"] = ["Catalog_ВидыКонтактнойИнформации"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="unpublished"):
        load_config(bad)


def test_a_control_character_fails_the_whole_batch(retail: Base) -> None:
    write(retail, "чисто", ref="10000000-0000-4000-8000-000000000002")
    write(retail, "звонок\x07")
    with retail.client(SITE) as c:
        query = odata_query(DataExchangePoint=point(retail), MessageNo=1, format="json")
        failed = c.post("SelectChanges" + query)
    assert failed.status_code == 400
    assert failed.json()["odata.error"]["message"]["value"]
    assert {number for _, _, number in registered(retail)} == {None}  # nothing was numbered
    assert retail.get_json(f"ExchangePlan_ОбменССайтом(guid'{SITE_NODE}')")["SentNo"] == "0"
    write(retail, "табуляция\tи\r\nперевод строки разрешены")
    assert len(select_changes(retail, 1)) == 2
