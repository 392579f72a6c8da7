"""Accumulation-register record sets written and deleted directly over OData (``POST``/``DELETE`` of
``AccumulationRegister_БонусныеБаллы``): 201, 400/15 for an existing Recorder, physical deletion
(204, then 404/9), ``Balance`` and exchange-plan registration."""

from __future__ import annotations

from typing import Any

import httpx

from tests.onec_emulator.test_exchange import keys, select_changes
from tests.onec_live import ADMIN, CARD_1, PROGRAM, SITE, Base

DOCS = "Document_НачислениеИСписаниеБонусныхБаллов"
REGISTER = "AccumulationRegister_БонусныеБаллы"
RECORDER = "60000000-0000-4000-8000-0000000000aa"
RECORDER_TYPE = f"StandardODATA.{DOCS}"
SET_URL = f"{REGISTER}(Recorder=guid'{RECORDER}', Recorder_Type='{RECORDER_TYPE}')"


def record_set(*amounts: int, record_type: str = "Receipt") -> dict[str, Any]:
    rows = [
        {
            "LineNumber": number,
            "Period": "2024-05-01T10:00:00",
            "RecordType": record_type,
            "Active": True,
            "ДисконтнаяКарта_Key": CARD_1,
            "БонуснаяПрограммаЛояльности_Key": PROGRAM,
            "Начислено": amount,
            "КСписанию": 0,
        }
        for number, amount in enumerate(amounts, start=1)
    ]
    return {"Recorder": RECORDER, "Recorder_Type": RECORDER_TYPE, "RecordSet": rows}


def card_balance(base: Base) -> Any:
    rows = base.get_json(f"{REGISTER}/Balance(Condition='ДисконтнаяКарта_Key eq guid''{CARD_1}''')")
    return rows["value"][0]["НачисленоBalance"]


def post(base: Base, body: dict[str, Any], auth: tuple[str, str] = ADMIN) -> httpx.Response:
    with base.client(auth) as c:
        return c.post(f"{REGISTER}?$format=json", json=body)


def test_post_writes_a_record_set_and_balance_reflects_it(retail: Base) -> None:
    before = card_balance(retail)
    response = post(retail, record_set(30, 12))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["Recorder"] == RECORDER and body["Recorder_Type"] == RECORDER_TYPE
    assert [(r["LineNumber"], r["Начислено"], r["RecordType"]) for r in body["RecordSet"]] == [
        ("1", 30, "Receipt"),
        ("2", 12, "Receipt"),
    ]
    assert response.headers["location"].endswith(SET_URL)
    stored = retail.get_json(SET_URL)
    assert [r["Начислено"] for r in stored["RecordSet"]] == [30, 12]
    assert card_balance(retail) == before + 42
    assert len(retail.get_json(REGISTER)["value"]) == 4  # three posted demo documents + this one


def test_second_post_with_an_existing_recorder_is_400_15(retail: Base) -> None:
    before = card_balance(retail)
    assert post(retail, record_set(30)).status_code == 201
    again = post(retail, record_set(99))
    assert again.status_code == 400 and again.json()["odata.error"]["code"] == "15"
    assert card_balance(retail) == before + 30  # the first set is untouched
    posted = "50000000-0000-4000-8000-000000000001"  # a posted demo document owns its record set
    clash = post(retail, {**record_set(1), "Recorder": posted})
    assert clash.status_code == 400 and clash.json()["odata.error"]["code"] == "15"


def test_delete_removes_the_records_physically(retail: Base) -> None:
    before = card_balance(retail)
    post(retail, record_set(25, record_type="Expense"))
    assert card_balance(retail) == before - 25
    with retail.client() as c:
        assert c.delete(SET_URL).status_code == 204
        gone = c.get(f"{SET_URL}?$format=json")
        again = c.delete(f"{SET_URL}?$format=json")
    assert gone.status_code == 404 and gone.json()["odata.error"]["code"] == "9"
    assert again.status_code == 404 and again.json()["odata.error"]["code"] == "9"
    assert card_balance(retail) == before
    rows = retail.get_json(f"{REGISTER}_RecordType", filter=f"Recorder eq guid'{RECORDER}'")
    assert rows["value"] == []
    assert post(retail, record_set(5)).status_code == 201  # the key is free again


def test_bad_record_set_bodies(retail: Base) -> None:
    no_recorder = post(retail, {**record_set(1), "Recorder": "nope"})
    bad_type = post(retail, {**record_set(1), "Recorder_Type": "StandardODATA.Catalog_Партнеры"})
    bad_amount = post(retail, record_set(1) | {"RecordSet": [{"LineNumber": 1, "Начислено": "x"}]})
    bad_kind = post(retail, record_set(1, record_type="Sideways"))
    for response in (no_recorder, bad_type, bad_amount, bad_kind):
        assert response.status_code == 400 and response.json()["odata.error"]["code"] == "1", response.text
    with retail.client() as c:
        assert c.get(f"{SET_URL}?$format=json").status_code == 404  # nothing was written


def test_read_only_user_cannot_write_or_delete_record_sets(retail: Base) -> None:
    watcher = ("Наблюдатель", "просмотр")
    assert post(retail, record_set(1), auth=watcher).status_code == 403
    post(retail, record_set(1))
    with retail.client(watcher) as c:
        assert c.delete(SET_URL).status_code == 403


def test_record_set_writes_and_deletions_are_registered_in_the_exchange_plan(retail: Base) -> None:
    post(retail, record_set(8))
    changes = select_changes(retail, 1)
    assert keys(changes) == [(REGISTER, RECORDER)]
    assert [r["Начислено"] for r in changes[0]["RecordSet"]] == [8]
    other = {**record_set(1), "Recorder": "60000000-0000-4000-8000-0000000000bb"}
    assert post(retail, other, SITE).status_code == 201
    assert keys(select_changes(retail, 1)) == [(REGISTER, RECORDER)]  # the site's own write: no echo
    with retail.client() as c:
        c.delete(SET_URL)
    deleted = select_changes(retail, 2)
    assert keys(deleted) == [(REGISTER, RECORDER)] and deleted[0]["RecordSet"] == []
