"""Reading over OData: the envelope, 1C's value forms, single entities, errors, $metadata, Atom."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.onec_live import CARD_1, EMPTY, PARTNER_IVANOV, Base, odata_query


def test_list_envelope_int64_strings_and_empty_values(retail: Base) -> None:
    body = retail.get_json("Catalog_Партнеры")
    assert body["odata.metadata"] == f"{retail.root}$metadata#Catalog_Партнеры"
    ivanov = next(p for p in body["value"] if p["Ref_Key"] == PARTNER_IVANOV)
    assert ivanov["DataVersion"] == "AAAAAAAAAAA="
    assert ivanov["Code"] == "000000001"
    assert ivanov["Parent_Key"] == EMPTY  # empty reference
    assert ivanov["Parent@navigationLinkUrl"] == f"Catalog_Партнеры(guid'{PARTNER_IVANOV}')/Parent"
    assert ivanov["ЮрФизЛицо"] == "ЧастноеЛицо"  # enum values are plain strings
    rows = ivanov["КонтактнаяИнформация"]
    assert [r["LineNumber"] for r in rows] == ["1", "2"]  # Edm.Int64 as strings
    assert all(r["Ref_Key"] == PARTNER_IVANOV for r in rows)
    petrova = next(p for p in body["value"] if p["Description"] == "Сидоров П.")
    assert petrova["ДатаРождения"] == "0001-01-01T00:00:00"  # empty date


def test_single_entity_envelope_and_decimal_numbers(retail: Base) -> None:
    body = retail.get_json(f"Catalog_ИнформационныеКарты(guid'{CARD_1}')")
    assert body["odata.metadata"] == f"{retail.root}$metadata#Catalog_ИнформационныеКарты/@Element"
    assert body["Ref_Key"] == CARD_1
    assert body["ВладелецКарты"] == PARTNER_IVANOV
    assert body["ВладелецКарты_Type"] == "StandardODATA.Catalog_Партнеры"  # composite type
    program = retail.get_json("Catalog_БонусныеПрограммыЛояльности")["value"][0]
    assert (
        program["КурсКонвертацииБонусовВВалюту"] == 1 and program["МаксимальныйПроцентОплатыБонусами"] == 30
    )


def test_tabular_section_is_an_entity_set_keyed_by_ref_and_line(retail: Base) -> None:
    rows = retail.get_json(
        "Catalog_Партнеры_КонтактнаяИнформация", filter=f"Ref_Key eq guid'{PARTNER_IVANOV}'"
    )
    assert [r["LineNumber"] for r in rows["value"]] == ["1", "2"]
    one = retail.get_json(
        f"Catalog_Партнеры_КонтактнаяИнформация(Ref_Key=guid'{PARTNER_IVANOV}', LineNumber=2)"
    )
    assert one["АдресЭП"] == "ivanov@example.ru"


def test_not_found_is_404_code_9(retail: Base) -> None:
    with retail.client() as c:
        response = c.get(f"Catalog_Партнеры(guid'{EMPTY[:-1]}1')?$format=json")
    assert response.status_code == 404
    assert response.json() == {
        "odata.error": {"code": "9", "message": {"lang": "ru", "value": "Экземпляр сущности не найден"}}
    }


def test_unknown_entity_set_and_unknown_method_are_400_code_6(retail: Base) -> None:
    with retail.client() as c:
        unknown_set = c.get("Catalog_НетТакого?$format=json")
        unknown_method = c.get("AccumulationRegister_БонусныеБаллы/SliceLast()?$format=json")
    for response in (unknown_set, unknown_method):
        assert response.status_code == 400 and response.json()["odata.error"]["code"] == "6"


def test_metadata_is_csdl_v3_for_the_configuration(any_base: Base) -> None:
    with any_base.client() as c:
        response = c.get("$metadata")
    assert response.status_code == 200 and "xml" in response.headers["content-type"]
    tree = ET.fromstring(response.content)
    ns = {"edm": "http://schemas.microsoft.com/ado/2009/11/edm"}
    names = {e.get("Name") for e in tree.iter("{http://schemas.microsoft.com/ado/2009/11/edm}EntitySet")}
    cards = "Catalog_ИнформационныеКарты" if any_base.config == "retail" else "Catalog_КартыЛояльности"
    assert {
        cards,
        "Catalog_Партнеры",
        "Catalog_Партнеры_КонтактнаяИнформация",
        "ExchangePlan_ОбменССайтом",
    } <= names
    assert {"AccumulationRegister_БонусныеБаллы", "AccumulationRegister_БонусныеБаллы_RecordType"} <= names
    balance = tree.find(".//edm:EntityType[@Name='AccumulationRegister_БонусныеБаллы_Balance']", ns)
    assert balance is not None
    props = {p.get("Name") for p in balance.findall("edm:Property", ns)}
    dim = "ДисконтнаяКарта_Key" if any_base.config == "retail" else "Партнер_Key"
    assert {dim, "БонуснаяПрограммаЛояльности_Key", "НачисленоBalance", "КСписаниюBalance"} <= props
    line = tree.find(".//edm:EntityType[@Name='Catalog_Партнеры_КонтактнаяИнформация']/edm:Property", ns)
    assert line is not None


def test_without_format_json_the_answer_is_atom(retail: Base) -> None:
    with retail.client() as c:
        response = c.get("Catalog_Партнеры" + odata_query(top=1))
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    assert "Иванов" in response.text


def test_accept_json_also_gives_json(retail: Base) -> None:
    with retail.client() as c:
        response = c.get("Catalog_Партнеры?$top=1", headers={"Accept": "application/json"})
    assert response.json()["value"][0]["Ref_Key"] == PARTNER_IVANOV


def test_service_document_lists_entity_sets(retail: Base) -> None:
    names = {e["name"] for e in retail.get_json("")["value"]}
    assert "Document_НачислениеИСписаниеБонусныхБаллов" in names


def test_long_query_string_gets_an_iis_html_404(retail: Base) -> None:
    ors = " or ".join(f"Ref_Key eq guid'{PARTNER_IVANOV}'" for _ in range(60))
    with retail.client() as c:
        response = c.get("Catalog_Партнеры" + odata_query(format="json", filter=ors))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html") and "404.15" in response.text
