"""The JSON/YAML seed loader and the admin endpoints that reset and seed a running base."""

from __future__ import annotations

import json

import pytest

from connectors.onec.emulator.fixtures import FixtureError, load_fixtures, parse_fixtures
from connectors.onec.emulator.schema import load_config
from connectors.onec.emulator.store import Store
from tests.onec_live import Base

NEW_PARTNER = "10000000-0000-4000-8000-0000000000aa"


def test_yaml_and_json_load_through_post_rules() -> None:
    config = load_config("ut11")
    store = Store()
    yaml_text = f"""
Catalog_Партнеры:
  - Ref_Key: {NEW_PARTNER}
    Description: Из YAML
    ДатаРегистрации: 2024-05-01T10:00:00
"""
    report = load_fixtures(store, config, parse_fixtures(yaml_text))
    assert report.created == {"Catalog_Партнеры": 1}
    with store.begin() as tx:
        doc = tx.get("Catalog_Партнеры", NEW_PARTNER)
    assert doc is not None and doc["ДатаРегистрации"] == "2024-05-01T10:00:00" and doc["Code"] == "000000001"
    again = load_fixtures(
        store, config, parse_fixtures(json.dumps({"Catalog_Партнеры": [{"Ref_Key": NEW_PARTNER}]}))
    )
    assert again.skipped == 1 and again.created == {}  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "Catalog_НетТакого: [{Description: x}]",
        "[1, 2]",
        "Catalog_Партнеры: [{ДатаРегистрации: 'не дата'}]",
        "Catalog_Партнеры: [{Description: x",
    ],
)
def test_bad_fixtures_are_refused_whole(text: str) -> None:
    store = Store()
    with pytest.raises(FixtureError):
        load_fixtures(store, load_config("retail"), parse_fixtures(text))
    with store.begin() as tx:
        assert tx.all("Catalog_Партнеры") == []


def test_admin_reset_and_fixture_endpoints(retail: Base) -> None:
    with retail.admin() as admin:
        assert admin.post("/_admin/reset").json() == {"reset": True, "fixtures": None}
        assert retail.get_json("Catalog_Партнеры")["value"] == []
        assert len(retail.get_json("ExchangePlan_ОбменССайтом")["value"]) == 2  # nodes survive a reset
        loaded = admin.post("/_admin/fixtures", params={"name": "demo"}).json()
        assert loaded["created"]["Catalog_Партнеры"] == 4 and loaded["posted"] == 3
        body = json.dumps({"Catalog_Партнеры": [{"Ref_Key": NEW_PARTNER, "Description": "Через API"}]})
        assert admin.post("/_admin/fixtures", content=body).json()["created"] == {"Catalog_Партнеры": 1}
        assert admin.post("/_admin/fixtures", content="Catalog_X: [{}]").status_code == 400
    assert len(retail.get_json("Catalog_Партнеры")["value"]) == 5
