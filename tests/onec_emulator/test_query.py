"""Query options and ``$filter`` in 1C's dialect, including what 1C refuses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.onec_live import CARD_1, CARD_2, PARTNER_IVANOV, PARTNER_PETROVA, Base, odata_query


def descriptions(base: Base, path: str = "Catalog_Партнеры", **options: Any) -> list[str]:
    return [p["Description"] for p in base.get_json(path, **options)["value"]]


def error(base: Base, path: str, **options: str) -> tuple[int, str]:
    with base.client() as c:
        response = c.get(path + odata_query(format="json", **options))
    return response.status_code, response.json()["odata.error"]["code"]


def test_select_returns_only_the_named_fields(retail: Base) -> None:
    value = retail.get_json("Catalog_Партнеры", select="Ref_Key,Description", top="1")["value"]
    assert value == [{"Ref_Key": PARTNER_IVANOV, "Description": "Иванов Иван Иванович"}]


def test_select_of_a_tabular_section(retail: Base) -> None:
    value = retail.get_json("Catalog_Партнеры", select="Code,КонтактнаяИнформация", top="1")["value"][0]
    assert set(value) == {"Code", "КонтактнаяИнформация"} and len(value["КонтактнаяИнформация"]) == 2


def test_top_skip_orderby_and_inlinecount(retail: Base) -> None:
    body = retail.get_json(
        "Catalog_Партнеры", orderby="Description desc", top="2", skip="1", inlinecount="allpages"
    )
    assert body["odata.count"] == "4"  # a string, like every Int64
    assert [p["Description"] for p in body["value"]] == ["Петрова Мария", "Кузнецова Ольга Петровна"]
    assert descriptions(retail, orderby="Code", top="1") == ["Иванов Иван Иванович"]


def test_expand_only_acts_when_the_navigation_field_is_selected(retail: Base) -> None:
    path = f"Catalog_ИнформационныеКарты(guid'{CARD_1}')"
    ignored = retail.get_json(path, expand="ВидКарты")
    assert "ВидКарты" not in ignored and ignored["ВидКарты@navigationLinkUrl"].endswith("/ВидКарты")
    expanded = retail.get_json(path, select="Description,ВидКарты", expand="ВидКарты")
    assert expanded["ВидКарты"]["Description"] == "Бонусная карта Добрострой"


def test_navigation_property_url(retail: Base) -> None:
    kind = retail.get_json(f"Catalog_ИнформационныеКарты(guid'{CARD_1}')/ВидКарты")
    assert kind["Description"] == "Бонусная карта Добрострой"


def test_filter_literals(retail: Base) -> None:
    assert descriptions(retail, filter=f"Ref_Key eq guid'{PARTNER_PETROVA}'") == ["Петрова Мария"]
    assert descriptions(retail, filter="ДатаРегистрации gt datetime'2022-01-01T00:00:00'") == [
        "Петрова Мария"
    ]
    early = (
        "ДатаРегистрации lt datetime'2022-01-01T00:00' and ДатаРегистрации gt datetime'0001-01-01T00:00:00'"
    )
    assert descriptions(retail, filter=early) == ["Иванов Иван Иванович"]
    assert len(descriptions(retail, filter="ДатаРождения eq datetime'0001-01-01T00:00:00'")) == 3
    assert descriptions(retail, filter="Code eq '000000004'") == ["Кузнецова Ольга Петровна"]
    assert len(descriptions(retail, filter="DeletionMark eq false and Клиент eq true")) == 4
    assert descriptions(retail, filter="Пол eq 'Женский'") == ["Петрова Мария"]
    assert [
        c["Description"]
        for c in retail.get_json(
            "Catalog_БонусныеПрограммыЛояльности", filter="МаксимальныйПроцентОплатыБонусами ge 30"
        )["value"]
    ] == ["Добрострой Бонус"]


def test_filter_operators_parentheses_not_and_substringof(retail: Base) -> None:
    both = f"Ref_Key eq guid'{PARTNER_IVANOV}' or Ref_Key eq guid'{PARTNER_PETROVA}'"
    assert len(descriptions(retail, filter=both)) == 2
    assert descriptions(retail, filter=f"({both}) and not (Пол eq 'Мужской')") == ["Петрова Мария"]
    assert descriptions(retail, filter="substringof('ОЛЬГА', Description)") == ["Кузнецова Ольга Петровна"]
    assert len(descriptions(retail, filter="Description ne 'Петрова Мария'")) == 3


def test_quotes_in_strings_are_doubled(retail: Base) -> None:
    with retail.client() as c:
        created = c.post("Catalog_Партнеры?$format=json", json={"Description": "ООО 'Ромашка'"})
    assert created.status_code == 201
    assert descriptions(retail, filter="Description eq 'ООО ''Ромашка'''") == ["ООО 'Ромашка'"]


def test_filter_on_register_rows_and_references(retail: Base) -> None:
    rows = retail.get_json(
        "AccumulationRegister_БонусныеБаллы_RecordType", filter=f"ДисконтнаяКарта_Key eq guid'{CARD_2}'"
    )["value"]
    assert [(r["RecordType"], r["Начислено"], r["LineNumber"]) for r in rows] == [("Receipt", 100, "2")]


@pytest.mark.parametrize(
    "query",
    [
        {"filter": f"Ref_Key in (guid'{PARTNER_IVANOV}', guid'{PARTNER_PETROVA}')"},  # no `in` in 1C
        {"filter": "ДатаРегистрации gt datetime'21-01-01T00:00:00'"},  # year must have 4 digits
        {"filter": "ДатаРегистрации gt datetime'2021-13-01T00:00:00'"},
        {"filter": f"Ref_Key gt guid'{PARTNER_IVANOV}'"},  # references cannot be ordered
        {"filter": f"Ref_Key eq '{PARTNER_IVANOV}'"},  # a guid needs guid'…'
        {"filter": "НетТакогоПоля eq 1"},
        {"filter": "Description eq 'x"},
        {"filter": "round(Description)"},  # not a function of 1C's OData
        {"orderby": "НетТакогоПоля"},
        {"top": "-1"},
        {"inlinecount": "sometimes"},
        {"unknownoption": "1"},
    ],
)
def test_query_errors_are_400_code_14(retail: Base, query: dict[str, str]) -> None:
    assert error(retail, "Catalog_Партнеры", **query) == (400, "14")


def test_plus_for_space_fails(retail: Base) -> None:
    with retail.client() as c:
        plus = c.get("Catalog_Партнеры?$format=json&$filter=Code+eq+'000000001'")
        encoded = c.get("Catalog_Партнеры?$format=json&$filter=Code%20eq%20'000000001'")
    assert plus.status_code == 400 and plus.json()["odata.error"]["code"] == "14"
    assert encoded.status_code == 200 and len(encoded.json()["value"]) == 1


def test_unknown_field_in_select_is_400_code_6(retail: Base) -> None:
    assert error(retail, "Catalog_Партнеры", select="Ref_Key,НетТакого") == (400, "6")
