"""Issue 19 item 1: the OData an integrator's own tools send, over real HTTP — every ``$filter``
function and operator, ``any``/``all`` over a tabular section, ``$select=*`` and ``____Presentation``
fields, the ``Turnovers`` / ``BalanceAndTurnovers`` virtual tables and ``Condition`` quoting, Atom/XML
answers and ``<m:error>`` errors without ``$format=json``, the service document in both formats,
PUT vs PATCH, and ``--echo-suppression off``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.onec.emulator.app import create_app
from connectors.onec.emulator.server import ServerThread
from tests.onec_live import CARD_1, PARTNER_IVANOV, SITE, Base, odata_query

PARTNERS = "Catalog_Партнеры"
CARDS = "Catalog_ИнформационныеКарты"
REGISTER = "AccumulationRegister_БонусныеБаллы"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"


def names(base: Base, expr: str, path: str = PARTNERS) -> list[str]:
    return sorted(p["Description"] for p in base.get_json(path, filter=expr)["value"])


ALL = ["Иванов Иван Иванович", "Кузнецова Ольга Петровна", "Петрова Мария", "Сидоров П."]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("startswith(Description, 'пЕТ')", ["Петрова Мария"]),
        ("endswith(Description, 'петровна')", ["Кузнецова Ольга Петровна"]),
        ("substringof('ольга', Description)", ["Кузнецова Ольга Петровна"]),
        ("tolower(Description) eq 'петрова мария'", ["Петрова Мария"]),
        ("toupper(Description) eq 'ПЕТРОВА МАРИЯ'", ["Петрова Мария"]),
        ("length(Description) eq 10", ["Сидоров П."]),
        ("indexof(Description, 'Мария') eq 8", ["Петрова Мария"]),
        ("substring(Description, 8) eq 'Мария'", ["Петрова Мария"]),
        ("substring(Description, 0, 7) eq 'Петрова'", ["Петрова Мария"]),
        ("trim(concat(' ', Description)) eq 'Сидоров П.'", ["Сидоров П."]),
        ("concat(Code, Description) eq '000000001Иванов Иван Иванович'", ["Иванов Иван Иванович"]),
        ("year(ДатаРегистрации) ge 2022", ["Петрова Мария"]),
        ("year(ДатаРегистрации) eq 1", ["Кузнецова Ольга Петровна", "Сидоров П."]),  # the empty date
        (
            "month(ДатаРегистрации) add day(ДатаРегистрации) gt 0 and year(ДатаРегистрации) ge 2022",
            ["Петрова Мария"],
        ),
        (
            "hour(ДатаРегистрации) eq 12 and minute(ДатаРегистрации) eq 30 and second(ДатаРегистрации) eq 0",
            ["Иванов Иван Иванович"],
        ),
        ("length(Description) sub 10 eq 0", ["Сидоров П."]),
        ("length(Description) mul 2 eq 20", ["Сидоров П."]),
        ("length(Description) div 5 eq 2", ["Сидоров П."]),
        ("length(Description) mod 3 eq 1", ["Петрова Мария", "Сидоров П."]),
        (
            "not startswith(Description, 'П') and (Пол eq 'Женский' or Code eq '000000004')",
            ["Кузнецова Ольга Петровна"],
        ),
        ("isof(Parent_Key, 'Edm.Guid')", ALL),
        ("cast(Code, 'Edm.String') eq '000000001'", ["Иванов Иван Иванович"]),
        (
            "КонтактнаяИнформация/any(d: d/Тип eq 'АдресЭлектроннойПочты')",
            ["Иванов Иван Иванович", "Кузнецова Ольга Петровна"],
        ),
        (
            "КонтактнаяИнформация/all(d: d/Тип eq 'Телефон')",
            ["Петрова Мария", "Сидоров П."],
        ),
        ("not КонтактнаяИнформация/any()", []),
    ],
)
def test_filter_functions_and_operators(retail: Base, expr: str, expected: list[str]) -> None:
    assert names(retail, expr) == expected


def test_isof_and_cast_on_a_composite_field(retail: Base) -> None:
    owned = names(retail, "isof(ВладелецКарты, 'StandardODATA.Catalog_Партнеры')", CARDS)
    assert len(owned) == len(retail.get_json(CARDS)["value"])
    assert names(retail, "isof(ВладелецКарты, 'StandardODATA.Catalog_ВидыИнформационныхКарт')", CARDS) == []
    cast = f"cast(ВладелецКарты, 'StandardODATA.Catalog_Партнеры') eq guid'{PARTNER_IVANOV}'"
    assert CARD_1 in {c["Ref_Key"] for c in retail.get_json(CARDS, filter=cast)["value"]}


@pytest.mark.parametrize(
    "expr",
    ["round(Description) eq 1", "length(Code) add 'x' eq 1", "startswith(Code)", "Nope/any(d: d/Тип eq 'x')"],
)
def test_what_1c_does_not_have_is_400_code_14(retail: Base, expr: str) -> None:
    with retail.client() as c:
        response = c.get(PARTNERS + odata_query(format="json", filter=expr))
    assert response.status_code == 400 and response.json()["odata.error"]["code"] == "14"


def test_select_star_and_presentations(retail: Base) -> None:
    path = f"{CARDS}(guid'{CARD_1}')"
    plain = retail.get_json(path)
    star = retail.get_json(path, select="*")
    assert star == plain and not any(k.endswith("____Presentation") for k in star)
    with_owner = retail.get_json(path, select="*,ВладелецКарты____Presentation,ВидКарты____Presentation")
    assert with_owner["ВладелецКарты____Presentation"] == "Иванов Иван Иванович"
    assert with_owner["ВидКарты____Presentation"] == "Бонусная карта Добрострой"
    assert with_owner["Штрихкод"] == plain["Штрихкод"]
    only = retail.get_json(path, select="Description,*____Presentation")
    assert set(only) - {"odata.metadata"} == {
        "Description",
        "ВладелецКарты____Presentation",
        "ВидКарты____Presentation",
        "Статус____Presentation",
    }
    assert only["Статус____Presentation"] == "Действует"
    with retail.client() as c:
        bad = c.get(path + odata_query(format="json", select="Штрихкод____Presentation"))
    assert bad.status_code == 400 and bad.json()["odata.error"]["code"] == "6"


def _records(base: Base, card: str) -> list[dict[str, Any]]:
    rows = base.get_json(f"{REGISTER}_RecordType", filter=f"ДисконтнаяКарта_Key eq guid'{card}'")["value"]
    return list(rows)


def _sums(rows: list[dict[str, Any]], start: str = "", end: str = "9999") -> tuple[Decimal, Decimal, Decimal]:
    receipt = sum(
        (
            Decimal(str(r["Начислено"]))
            for r in rows
            if r["RecordType"] == "Receipt" and start <= r["Period"] <= end
        ),
        Decimal(0),
    )
    expense = sum(
        (
            Decimal(str(r["Начислено"]))
            for r in rows
            if r["RecordType"] == "Expense" and start <= r["Period"] <= end
        ),
        Decimal(0),
    )
    before = sum(
        (
            Decimal(str(r["Начислено"])) * (1 if r["RecordType"] == "Receipt" else -1)
            for r in rows
            if r["Period"] < start
        ),
        Decimal(0),
    )
    return receipt, expense, before


@pytest.mark.parametrize("quoting", ["undoubled", "doubled"])
def test_turnovers_and_balance_and_turnovers(retail: Base, quoting: str) -> None:
    rows = _records(retail, CARD_1)
    periods = sorted(r["Period"] for r in rows)
    assert len(periods) >= 2
    start = periods[-1]  # the last movement's instant: earlier ones are the opening balance
    guid = f"guid'{CARD_1}'" if quoting == "undoubled" else f"guid''{CARD_1}''"
    condition = f"Condition='ДисконтнаяКарта_Key eq {guid}'"
    turnovers = retail.get_json(f"{REGISTER}/Turnovers({condition})")
    assert turnovers["odata.metadata"].endswith(f"#{REGISTER}_Turnover")
    [row] = turnovers["value"]
    receipt, expense, _ = _sums(rows)
    assert (Decimal(str(row["НачисленоReceipt"])), Decimal(str(row["НачисленоExpense"]))) == (
        receipt,
        expense,
    )
    assert Decimal(str(row["НачисленоTurnover"])) == receipt - expense

    period = f"StartPeriod=datetime'{start}',EndPeriod=datetime'2100-01-01T00:00:00'"
    [both] = retail.get_json(f"{REGISTER}/BalanceAndTurnovers({period},{condition})")["value"]
    receipt, expense, opening = _sums(rows, start)
    assert Decimal(str(both["НачисленоOpeningBalance"])) == opening
    assert Decimal(str(both["НачисленоClosingBalance"])) == opening + receipt - expense
    [balance] = retail.get_json(f"{REGISTER}/Balance({condition})")["value"]
    assert Decimal(str(balance["НачисленоBalance"])) == Decimal(str(both["НачисленоClosingBalance"]))

    by_card = retail.get_json(f"{REGISTER}/Turnovers(Dimensions='ДисконтнаяКарта')")["value"]
    assert all("БонуснаяПрограммаЛояльности_Key" not in r for r in by_card)
    empty = retail.get_json(f"{REGISTER}/Turnovers(EndPeriod=datetime'2000-01-01T00:00:00')")["value"]
    assert empty == []


def test_virtual_table_errors(retail: Base) -> None:
    with retail.client() as c:
        bad_param = c.get(f"{REGISTER}/Turnovers(Period=datetime'2024-01-01T00:00:00')?$format=json")
        bad_date = c.get(f"{REGISTER}/Turnovers(StartPeriod='2024')?$format=json")
    assert bad_param.status_code == 400 and bad_param.json()["odata.error"]["code"] == "14"
    assert bad_date.status_code == 400 and bad_date.json()["odata.error"]["code"] == "14"


def test_metadata_declares_the_virtual_tables(retail: Base) -> None:
    with retail.client() as c:
        text = c.get("$metadata").text
    for function in ("Balance", "Turnovers", "BalanceAndTurnovers"):
        assert f'FunctionImport Name="{function}"' in text
    assert f'EntityType Name="{REGISTER}_BalanceAndTurnover"' in text


def test_without_format_json_errors_are_m_error_xml(retail: Base) -> None:
    with retail.client() as c:
        missing = c.get(f"{PARTNERS}(guid'{PARTNER_IVANOV[:-1]}9')")
        bad_query = c.get(f"{PARTNERS}?$filter=round(Code)")
        as_json = c.get(f"{PARTNERS}(guid'{PARTNER_IVANOV[:-1]}9')?$format=json")
    for response, status, code in ((missing, 404, "9"), (bad_query, 400, "14")):
        assert response.status_code == status and response.headers["content-type"].startswith(
            "application/xml"
        )
        root = ET.fromstring(response.content)
        assert root.tag == f"{M}error" and root.find(f"{M}code").text == code  # type: ignore[union-attr]
        assert root.find(f"{M}message").text  # type: ignore[union-attr]
    assert as_json.json()["odata.error"]["code"] == "9"


def test_answers_without_format_json_are_atom(retail: Base) -> None:
    with retail.client() as c:
        feed = c.get(f"{REGISTER}/Turnovers()")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/atom+xml")
    assert ET.fromstring(feed.content).tag == "{http://www.w3.org/2005/Atom}feed"


def test_service_document_in_both_formats(retail: Base) -> None:
    with retail.client() as c:
        xml = c.get("")
        as_json = c.get("?$format=json")
    assert xml.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "{http://www.w3.org/2007/app}service"
    hrefs = {e.get("href") for e in root.iter("{http://www.w3.org/2007/app}collection")}
    assert PARTNERS in hrefs and {v["name"] for v in as_json.json()["value"]} == hrefs


def test_put_replaces_the_object_and_patch_changes_what_it_names(retail: Base) -> None:
    path = f"{PARTNERS}(guid'{PARTNER_IVANOV}')?$format=json"
    before = retail.get_json(f"{PARTNERS}(guid'{PARTNER_IVANOV}')")
    with retail.client() as c:
        patched = c.patch(path, json={"Комментарий": "через PATCH"}).json()
        assert patched["Description"] == before["Description"] and patched["КонтактнаяИнформация"]
        put = c.put(path, json={"Description": "Иванов И. И."})
    assert put.status_code == 200
    body = put.json()
    assert body["Description"] == "Иванов И. И." and body["Code"] == before["Code"]
    assert body["Комментарий"] == "" and body["НаименованиеПолное"] == ""  # left out: cleared
    assert body["КонтактнаяИнформация"] == [] and body["Ref_Key"] == PARTNER_IVANOV


def test_echo_suppression_off_registers_the_website_users_own_writes() -> None:
    plan, node = "ExchangePlan_ОбменССайтом", "8b1f2a60-0c0e-11ef-9a40-0050569f0002"
    for suppression, echoed in ((True, False), (False, True)):
        with ServerThread(create_app("retail", fixtures="demo", echo_suppression=suppression)) as server:
            root = f"{server.origin}/dobrostroy/odata/standard.odata/"
            point = f"'{root}{plan}(guid'{node}')'"
            with httpx.Client(base_url=root, auth=SITE, timeout=10) as site:
                first = site.post(
                    "SelectChanges" + odata_query(format="json", DataExchangePoint=point, MessageNo=1)
                )
                site.post(
                    "NotifyChangesReceived" + odata_query(format="json", DataExchangePoint=point, MessageNo=1)
                )
                assert first.status_code == 200
                written = site.patch(
                    f"{PARTNERS}(guid'{PARTNER_IVANOV}')?$format=json", json={"Комментарий": "сайт"}
                )
                assert written.status_code == 200
                changes = site.post(
                    "SelectChanges" + odata_query(format="json", DataExchangePoint=point, MessageNo=2)
                )
            refs = {v.get("Ref_Key") for v in changes.json()["value"]}
            assert (PARTNER_IVANOV in refs) is echoed, (suppression, refs)
