"""The exchange plan ``ExchangePlan_ОбменССайтом``: registration, SelectChanges and
NotifyChangesReceived with the semantics observed on live 1C bases, one behaviour per test."""

from __future__ import annotations

from typing import Any

import httpx

from tests.onec_live import ADMIN, CARD_1, PARTNER_IVANOV, PARTNER_PETROVA, PROGRAM, SITE, Base, odata_query

PLAN = "ExchangePlan_ОбменССайтом"
SITE_NODE = "8b1f2a60-0c0e-11ef-9a40-0050569f0002"
THIS_NODE = "8b1f2a60-0c0e-11ef-9a40-0050569f0001"


def point(base: Base, node: str = SITE_NODE) -> str:
    return f"'{base.root}{PLAN}(guid'{node}')'"


def select_changes(base: Base, number: int, auth: tuple[str, str] = SITE) -> list[dict[str, Any]]:
    with base.client(auth) as c:
        response = c.post(
            "SelectChanges" + odata_query(DataExchangePoint=point(base), MessageNo=number, format="json")
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["MessageNo"] == str(number)
    return list(body["value"])


def notify(base: Base, number: int) -> None:
    with base.client(SITE) as c:
        query = odata_query(DataExchangePoint=point(base), MessageNo=number)
        assert c.post("NotifyChangesReceived" + query).status_code == 200


def write(
    base: Base, comment: str, ref: str = PARTNER_IVANOV, auth: tuple[str, str] = ADMIN
) -> httpx.Response:
    with base.client(auth) as c:
        response = c.patch(f"Catalog_Партнеры(guid'{ref}')?$format=json", json={"Комментарий": comment})
    assert response.status_code == 200
    return response


def keys(changes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (c["odata.type"].removeprefix("StandardODATA."), c.get("Ref_Key") or c["Recorder"]) for c in changes
    ]


def test_nodes_are_listed_with_int64_counters(retail: Base) -> None:
    nodes = {n["Code"]: n for n in retail.get_json(PLAN)["value"]}
    assert nodes["ЦБ"]["ThisNode"] is True and nodes["ЦБ"]["Ref_Key"] == THIS_NODE
    assert nodes["САЙТ"]["ThisNode"] is False and nodes["САЙТ"]["SentNo"] == "0"


def test_seed_data_is_not_registered(retail: Base) -> None:
    assert select_changes(retail, 1) == []


def test_a_write_registers_the_object_with_its_current_state(retail: Base) -> None:
    write(retail, "первый")
    write(retail, "второй")
    changes = select_changes(retail, 1)
    assert keys(changes) == [("Catalog_Партнеры", PARTNER_IVANOV)]  # one registration per node+object
    assert changes[0]["Комментарий"] == "второй"  # the current state, not each version


def test_select_changes_stamps_n_and_repeating_n_returns_those_plus_new(retail: Base) -> None:
    write(retail, "a")
    assert len(select_changes(retail, 1)) == 1
    write(retail, "b", ref=PARTNER_PETROVA)
    again = select_changes(retail, 1)
    assert keys(again) == [("Catalog_Партнеры", PARTNER_IVANOV), ("Catalog_Партнеры", PARTNER_PETROVA)]
    with retail.admin() as admin:
        rows = admin.get("/_admin/registrations", params={"node": "САЙТ"}).json()
    assert {r["message_no"] for r in rows} == {1}
    assert retail.get_json(f"{PLAN}(guid'{SITE_NODE}')")["SentNo"] == "1"


def test_acknowledgment_deletes_registrations_numbered_up_to_n(retail: Base) -> None:
    write(retail, "a")
    select_changes(retail, 1)
    notify(retail, 1)
    assert select_changes(retail, 2) == []


def test_object_rewritten_after_read_survives_acknowledgment(retail: Base) -> None:
    write(retail, "a")
    write(retail, "b", ref=PARTNER_PETROVA)
    select_changes(retail, 1)
    write(retail, "a2")  # rewritten after the read: reset to "not numbered"
    notify(retail, 1)
    changes = select_changes(retail, 2)
    assert keys(changes) == [("Catalog_Партнеры", PARTNER_IVANOV)]
    assert changes[0]["Комментарий"] == "a2"


def test_registrations_numbered_above_n_are_not_returned_nor_deleted(retail: Base) -> None:
    write(retail, "a")
    select_changes(retail, 5)
    assert select_changes(retail, 3) == []
    notify(retail, 3)
    assert len(select_changes(retail, 5)) == 1


def test_writes_through_the_nodes_own_credentials_are_not_registered_back(retail: Base) -> None:
    write(retail, "с сайта", auth=SITE)
    assert select_changes(retail, 1) == []
    write(retail, "из 1С", auth=ADMIN)
    assert len(select_changes(retail, 1)) == 1


def test_posting_registers_the_document_and_its_record_set(retail: Base) -> None:
    body = {
        "ВидОперации": "Начисление",
        "БонуснаяПрограммаЛояльности_Key": PROGRAM,
        "Начисление": [{"LineNumber": 1, "ДисконтнаяКарта_Key": CARD_1, "СуммаБонусныхБаллов": 10}],
    }
    docs = "Document_НачислениеИСписаниеБонусныхБаллов"
    with retail.client() as c:
        ref = c.post(f"{docs}?$format=json", json=body).json()["Ref_Key"]
        assert c.post(f"{docs}(guid'{ref}')/Post").status_code == 200
    changes = select_changes(retail, 1)
    assert keys(changes) == [(docs, ref), ("AccumulationRegister_БонусныеБаллы", ref)]
    assert changes[0]["Posted"] is True
    assert [r["Начислено"] for r in changes[1]["RecordSet"]] == [10]
    notify(retail, 1)
    with retail.client() as c:
        c.post(f"{docs}(guid'{ref}')/Unpost")
    unposted = select_changes(retail, 2)
    assert unposted[1]["RecordSet"] == [] and unposted[1]["Recorder_Type"] == f"StandardODATA.{docs}"


def test_deleted_object_comes_as_a_deletion_marker(retail: Base) -> None:
    with retail.client() as c:
        ref = c.post("Catalog_Партнеры?$format=json", json={"Description": "Удаляемый"}).json()["Ref_Key"]
        c.delete(f"Catalog_Партнеры(guid'{ref}')")
    assert select_changes(retail, 1) == [
        {"odata.type": "StandardODATA.Catalog_Партнеры", "Ref_Key": ref, "odata.deleted": True}
    ]


def test_bad_exchange_point_or_message_number(retail: Base) -> None:
    with retail.client(SITE) as c:
        unknown_node = c.post(
            "SelectChanges"
            + odata_query(
                DataExchangePoint=point(retail, "00000000-0000-4000-8000-00000000dead"),
                MessageNo=1,
                format="json",
            )
        )
        no_number = c.post("SelectChanges" + odata_query(DataExchangePoint=point(retail), format="json"))
        by_get = c.get("SelectChanges" + odata_query(DataExchangePoint=point(retail), MessageNo=1))
    assert unknown_node.status_code == 404 and unknown_node.json()["odata.error"]["code"] == "9"
    assert no_number.status_code == 400 and no_number.json()["odata.error"]["code"] == "14"
    assert by_get.status_code == 400


def test_ut11_has_the_same_plan(ut11: Base) -> None:
    with ut11.client() as c:
        c.patch(f"Catalog_Партнеры(guid'{PARTNER_IVANOV}')?$format=json", json={"Комментарий": "x"})
    node = "8b1f2a60-0c0e-11ef-9a40-0050569f1002"
    with ut11.client(SITE) as c:
        query = odata_query(
            DataExchangePoint=f"'{ut11.root}{PLAN}(guid'{node}')'", MessageNo=1, format="json"
        )
        body = c.post("SelectChanges" + query).json()
    assert [v["Ref_Key"] for v in body["value"]] == [PARTNER_IVANOV]
