"""POST / PATCH / soft delete with 1C's semantics, DataVersion (not enforced unless strict), sections."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.onec_live import PARTNER_IVANOV, Base

PARTNER = f"Catalog_Партнеры(guid'{PARTNER_IVANOV}')?$format=json"


def patch(base: Base, body: Any, path: str = PARTNER, **headers: str) -> httpx.Response:
    with base.client() as c:
        return c.patch(path, json=body, headers=headers)


def test_post_is_201_with_location_zero_dataversion_and_generated_code(retail: Base) -> None:
    with retail.client() as c:
        response = c.post("Catalog_Партнеры?$format=json", json={"Description": "Новиков Н."})
    assert response.status_code == 201
    body = response.json()
    assert body["odata.metadata"].endswith("$metadata#Catalog_Партнеры/@Element")
    assert body["DataVersion"] == "AAAAAAAAAAA="
    assert body["Code"] == "000000005" and body["Клиент"] is True and body["КонтактнаяИнформация"] == []
    location = response.headers.get_list("location")[0]
    assert location == f"{retail.root}Catalog_Партнеры(guid'{body['Ref_Key']}')"  # raw Cyrillic
    assert retail.get_json(f"Catalog_Партнеры(guid'{body['Ref_Key']}')")["Description"] == "Новиков Н."


def test_post_with_existing_ref_key_is_400_code_15(retail: Base) -> None:
    with retail.client() as c:
        response = c.post("Catalog_Партнеры?$format=json", json={"Ref_Key": PARTNER_IVANOV})
    assert response.status_code == 400 and response.json()["odata.error"]["code"] == "15"


def test_patch_returns_whole_object_and_dataversion_changes_even_without_change(retail: Base) -> None:
    first = patch(retail, {"Комментарий": "VIP"})
    assert first.status_code == 200
    body = first.json()
    assert body["Комментарий"] == "VIP" and body["Description"] == "Иванов Иван Иванович"
    assert len(body["КонтактнаяИнформация"]) == 2  # untouched section kept
    assert body["DataVersion"] != "AAAAAAAAAAA="
    second = patch(retail, {"Комментарий": "VIP"}).json()
    assert second["DataVersion"] != body["DataVersion"]
    assert "etag" not in first.headers  # 1C sends no ETag


def test_stale_dataversion_is_accepted_like_real_1c(retail: Base) -> None:
    stale = patch(retail, {"Комментарий": "1"}).json()["DataVersion"]
    patch(retail, {"Комментарий": "2"})
    in_body = patch(retail, {"Комментарий": "3", "DataVersion": stale})
    in_header = patch(retail, {"Комментарий": "4"}, **{"If-Match": stale})
    assert in_body.status_code == 200 and in_header.status_code == 200
    assert in_header.json()["Комментарий"] == "4"


def test_strict_mode_enforces_dataversion_with_412(strict: Base) -> None:
    current = patch(strict, {"Комментарий": "1"}).json()["DataVersion"]
    patch(strict, {"Комментарий": "2"})
    assert patch(strict, {"Комментарий": "3", "DataVersion": current}).status_code == 412
    assert patch(strict, {"Комментарий": "3"}, **{"If-Match": current}).status_code == 412
    fresh = strict.get_json(f"Catalog_Партнеры(guid'{PARTNER_IVANOV}')")["DataVersion"]
    assert patch(strict, {"Комментарий": "3"}, **{"If-Match": fresh}).status_code == 200


def test_soft_delete_is_a_patch_of_deletion_mark(retail: Base) -> None:
    assert patch(retail, {"DeletionMark": True}).json()["DeletionMark"] is True
    assert retail.get_json(f"Catalog_Партнеры(guid'{PARTNER_IVANOV}')")["DeletionMark"] is True
    marked = retail.get_json("Catalog_Партнеры", filter="DeletionMark eq true")["value"]
    assert [p["Ref_Key"] for p in marked] == [PARTNER_IVANOV]


def test_delete_removes_physically(retail: Base) -> None:
    with retail.client() as c:
        created = c.post("Catalog_Партнеры?$format=json", json={"Description": "Временный"}).json()
        path = f"Catalog_Партнеры(guid'{created['Ref_Key']}')?$format=json"
        assert c.delete(path).status_code == 204
        assert c.get(path).status_code == 404


def test_unknown_fields_ignored_long_strings_truncated_missing_refs_stored(retail: Base) -> None:
    body = patch(
        retail,
        {"НетТакогоПоля": 1, "Description": "Я" * 150, "Parent_Key": "99999999-0000-4000-8000-000000000000"},
    ).json()
    assert "НетТакогоПоля" not in body
    assert body["Description"] == "Я" * 100
    assert body["Parent_Key"] == "99999999-0000-4000-8000-000000000000"


def test_posted_is_never_written_directly(ut11: Base) -> None:
    with ut11.client() as c:
        created = c.post(
            "Document_НачислениеИСписаниеБонусныхБаллов?$format=json", json={"Posted": True}
        ).json()
    assert created["Posted"] is False and created["Number"] == "ТД000000005"


def test_bad_literals_are_400_code_1(retail: Base) -> None:
    for body in (
        {"ДатаРегистрации": "2024-02-30T00:00:00"},
        {"Parent_Key": "not-a-guid"},
        {"Клиент": "да"},
        {"Пол": "Неизвестный"},
    ):
        response = patch(retail, body)
        assert response.status_code == 400 and response.json()["odata.error"]["code"] == "1", body


def test_broken_json_is_500_code_minus_1(retail: Base) -> None:
    with retail.client() as c:
        response = c.patch(PARTNER, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 500 and response.json()["odata.error"]["code"] == "-1"


def test_section_patch_replaces_the_whole_section(retail: Base) -> None:
    rows = [{"LineNumber": 1, "Тип": "Телефон", "Представление": "+7 999 000-00-00"}]
    body = patch(retail, {"КонтактнаяИнформация": rows}).json()
    assert [(r["LineNumber"], r["Представление"]) for r in body["КонтактнаяИнформация"]] == [
        ("1", "+7 999 000-00-00")
    ]
    assert body["КонтактнаяИнформация"][0]["АдресЭП"] == ""


def test_section_line_numbers_must_start_at_1_and_be_present(retail: Base) -> None:
    not_from_one = patch(retail, {"КонтактнаяИнформация": [{"LineNumber": 2, "Тип": "Телефон"}]})
    assert not_from_one.status_code == 400
    missing = patch(retail, {"КонтактнаяИнформация": [{"Тип": "Телефон"}]})
    assert missing.status_code == 500 and missing.json()["odata.error"]["code"] == "-1"
    assert len(retail.get_json(f"Catalog_Партнеры(guid'{PARTNER_IVANOV}')")["КонтактнаяИнформация"]) == 2


def test_data_load_mode_skips_code_generation(retail: Base) -> None:
    with retail.client() as c:
        body = c.post(
            "Catalog_Партнеры?$format=json",
            json={"Description": "Загружен"},
            headers={"1C_OData-DataLoadMode": "true"},
        ).json()
    assert body["Code"] == ""


def test_read_only_user_gets_403_code_20(retail: Base) -> None:
    with retail.client(auth=("Наблюдатель", "просмотр")) as c:
        assert c.get(PARTNER).status_code == 200
        response = c.patch(PARTNER, json={"Комментарий": "x"})
    assert response.status_code == 403 and response.json()["odata.error"]["code"] == "20"


def _basic(login: str, password: str, encoding: str) -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode(encoding)).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def test_basic_auth_utf8_cyrillic_ok_cp1251_401(retail: Base) -> None:
    with retail.client(auth=None) as c:
        assert c.get(PARTNER, headers=_basic("Сайт", "сайт-пароль", "utf-8")).status_code == 200
        refused = c.get(PARTNER, headers=_basic("Сайт", "сайт-пароль", "cp1251"))
        assert refused.status_code == 401 and "Basic" in refused.headers["www-authenticate"]
        assert c.get(PARTNER).status_code == 401
        assert c.get(PARTNER, headers=_basic("Сайт", "не тот", "utf-8")).status_code == 401
