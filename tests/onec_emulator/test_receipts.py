"""Till receipts (``Document_ЧекККМ``) on a running base, both configurations: posting into
``AccumulationRegister_БонусныеБаллы`` (rules picked per row by ``row.ВидОперации``), the exchange
plan, and ``POST /hs/loyalty/receipts`` — a till selling."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.onec.auth import basic_auth
from tests.onec_live import ADMIN, CARD_1, EMPTY, PARTNER_IVANOV, PROGRAM, SITE, Base, odata_query

from .test_exchange import PLAN, keys

RECEIPTS = "Document_ЧекККМ"
REGISTER = "AccumulationRegister_БонусныеБаллы"
CARD_NUMBER = "2000000000011"  # CARD_1: Иванов; retail 650 on the card, ut11 750 on Иванов
OTHER_PROGRAM = "30000000-0000-4000-8000-0000000000ff"


def site_node(base: Base) -> str:
    nodes = base.get_json(PLAN)["value"]
    return str(next(n["Ref_Key"] for n in nodes if n["Code"] == "САЙТ"))


def exchange(base: Base, action: str, number: int) -> httpx.Response:
    point = f"'{base.root}{PLAN}(guid'{site_node(base)}')'"
    with base.client(SITE) as c:
        return c.post(action + odata_query(DataExchangePoint=point, MessageNo=number, format="json"))


def select_changes(base: Base, number: int) -> list[dict[str, Any]]:
    response = exchange(base, "SelectChanges", number)
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


def notify(base: Base, number: int) -> None:
    assert exchange(base, "NotifyChangesReceived", number).status_code == 200


def holder_dimension(base: Base) -> str:
    return "ДисконтнаяКарта_Key" if base.config == "retail" else "Партнер_Key"


def holder(base: Base) -> str:
    return CARD_1 if base.config == "retail" else PARTNER_IVANOV


def start_balance(base: Base) -> Decimal:
    return Decimal(650) if base.config == "retail" else Decimal(750)


def balance(base: Base) -> Decimal:
    condition = f"Condition='{holder_dimension(base)} eq guid''{holder(base)}'''"
    rows = base.get_json(f"{REGISTER}/Balance({condition})")["value"]
    return sum((Decimal(str(r["НачисленоBalance"])) for r in rows), Decimal(0))


def header(base: Base) -> dict[str, Any]:
    if base.config == "retail":
        return {"ДисконтнаяКарта_Key": CARD_1}
    return {"КартаЛояльности_Key": CARD_1, "Партнер_Key": PARTNER_IVANOV}


def bonus_row(line: int, operation: str, amount: Any, program: str = PROGRAM) -> dict[str, Any]:
    return {
        "LineNumber": line,
        "ВидОперации": operation,
        "БонуснаяПрограммаЛояльности_Key": program,
        "СуммаБонусныхБаллов": amount,
    }


def new_receipt(base: Base, rows: list[dict[str, Any]], auth: tuple[str, str] = ADMIN) -> str:
    body = {
        **header(base),
        "Date": "2024-05-01T12:00:00",
        "СуммаДокумента": 1500,
        "КассаККМ": "Касса 2",
        "БонусныеБаллы": rows,
    }
    with base.client(auth) as c:
        response = c.post(f"{RECEIPTS}?$format=json", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["Ref_Key"])


def action(base: Base, ref: str, name: str, auth: tuple[str, str] = ADMIN) -> None:
    with base.client(auth) as c:
        query = odata_query(PostingModeOperational="false")
        response = c.post(f"{RECEIPTS}(guid'{ref}')/{name}" + query)
    assert response.status_code == 200, response.text


def records(base: Base, ref: str) -> list[dict[str, Any]]:
    return list(base.get_json(f"{REGISTER}_RecordType", filter=f"Recorder eq guid'{ref}'")["value"])


# --- the document and its posting ------------------------------------------------------------------
def test_receipt_fields_are_published_as_agreed(any_base: Base) -> None:
    ref = new_receipt(any_base, [bonus_row(1, "Начисление", 12)])
    doc = any_base.get_json(f"{RECEIPTS}(guid'{ref}')")
    own = {**header(any_base), "СуммаДокумента": 1500, "КассаККМ": "Касса 2", "Комментарий": ""}
    assert {k: doc[k] for k in own} == own
    assert doc["Number"].startswith("ЧК") and doc["Posted"] is False
    assert doc["БонусныеБаллы"] == [
        {
            "Ref_Key": ref,
            "LineNumber": "1",
            "ВидОперации": "Начисление",
            "БонуснаяПрограммаЛояльности_Key": PROGRAM,
            "СуммаБонусныхБаллов": 12,
        }
    ]
    section = any_base.get_json(f"{RECEIPTS}_БонусныеБаллы", filter=f"Ref_Key eq guid'{ref}'")["value"]
    assert [r["LineNumber"] for r in section] == ["1"]


def test_posting_writes_a_receipt_and_an_expense_per_row_and_unposting_removes_them(any_base: Base) -> None:
    before = balance(any_base)
    ref = new_receipt(any_base, [bonus_row(1, "Начисление", 40), bonus_row(2, "Списание", "15.50")])
    assert balance(any_base) == before  # not posted yet
    action(any_base, ref, "Post")
    assert balance(any_base) == before + Decimal("24.50")
    rows = records(any_base, ref)
    dim = holder_dimension(any_base)
    assert [
        (r["RecordType"], r[dim], r["БонуснаяПрограммаЛояльности_Key"], r["Начислено"]) for r in rows
    ] == [
        ("Receipt", holder(any_base), PROGRAM, 40),
        ("Expense", holder(any_base), PROGRAM, 15.5),
    ]
    assert {(r["Period"], r["Recorder_Type"], r["КСписанию"]) for r in rows} == {
        ("2024-05-01T12:00:00", f"StandardODATA.{RECEIPTS}", 0)
    }
    action(any_base, ref, "Post")  # re-posting replaces the records
    assert balance(any_base) == before + Decimal("24.50")
    action(any_base, ref, "Unpost")
    assert records(any_base, ref) == [] and balance(any_base) == before
    assert any_base.get_json(f"{RECEIPTS}(guid'{ref}')")["Posted"] is False


def test_row_conditions_pick_rows_and_the_program_comes_from_the_row(any_base: Base) -> None:
    ref = new_receipt(
        any_base,
        [
            bonus_row(1, "Списание", 5, program=OTHER_PROGRAM),
            {"LineNumber": 2, "СуммаБонусныхБаллов": 99},  # no operation: no rule matches the row
            bonus_row(3, "Начисление", 7),
        ],
    )
    action(any_base, ref, "Post")
    rows = records(any_base, ref)
    assert [(r["LineNumber"], r["RecordType"], r["БонуснаяПрограммаЛояльности_Key"]) for r in rows] == [
        ("1", "Receipt", PROGRAM),  # the accrual rule comes first in the configuration
        ("2", "Expense", OTHER_PROGRAM),
    ]


def test_deletion_mark_unposts_a_receipt(any_base: Base) -> None:
    before = balance(any_base)
    ref = new_receipt(any_base, [bonus_row(1, "Начисление", 3)])
    action(any_base, ref, "Post")
    with any_base.client() as c:
        assert c.patch(f"{RECEIPTS}(guid'{ref}')", json={"DeletionMark": True}).status_code == 200
    assert balance(any_base) == before and records(any_base, ref) == []


# --- the exchange plan ------------------------------------------------------------------------------
def test_a_receipt_is_registered_with_its_record_set_for_the_website(any_base: Base) -> None:
    ref = new_receipt(any_base, [bonus_row(1, "Начисление", 10)])
    action(any_base, ref, "Post")
    changes = select_changes(any_base, 1)
    assert keys(changes) == [(RECEIPTS, ref), (REGISTER, ref)]
    assert changes[0]["Posted"] is True and changes[0]["БонусныеБаллы"][0]["СуммаБонусныхБаллов"] == 10
    assert [r["Начислено"] for r in changes[1]["RecordSet"]] == [10]
    notify(any_base, 1)
    assert select_changes(any_base, 2) == []


def test_a_receipt_written_by_the_website_user_is_not_echoed(any_base: Base) -> None:
    ref = new_receipt(any_base, [bonus_row(1, "Начисление", 10)], auth=SITE)
    action(any_base, ref, "Post", auth=SITE)
    assert select_changes(any_base, 1) == []
    with any_base.client() as c:  # the same receipt touched in 1C is registered again
        c.patch(f"{RECEIPTS}(guid'{ref}')", json={"Комментарий": "исправлен"})
    assert keys(select_changes(any_base, 1)) == [(RECEIPTS, ref)]


# --- POST /hs/loyalty/receipts ------------------------------------------------------------------------
def till(base: Base, user: tuple[str, str] = SITE) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base.origin}/{base.base}/hs/loyalty/",
        headers={"Authorization": basic_auth(*user)},
        timeout=5,
    )


def sell(base: Base, user: tuple[str, str] = SITE, **body: Any) -> httpx.Response:
    with till(base, user) as c:
        return c.post("receipts", json=body)


def test_a_till_sale_posts_a_receipt_and_answers_the_new_balance(any_base: Base) -> None:
    start = start_balance(any_base)
    response = sell(any_base, card=CARD_NUMBER, accrued="25.5", redeemed=100, amount="1999.90")
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert set(answer) == {
        "ref",
        "number",
        "date",
        "card",
        "cardRef",
        "amount",
        "accrued",
        "redeemed",
        "balance",
    }
    assert (answer["card"], answer["cardRef"], answer["number"][:2]) == (CARD_NUMBER, CARD_1, "ЧК")
    assert (answer["amount"], answer["accrued"], answer["redeemed"]) == ("1999.90", "25.50", "100.00")
    assert Decimal(answer["balance"]) == start + Decimal("25.5") - 100 == balance(any_base)
    doc = any_base.get_json(f"{RECEIPTS}(guid'{answer['ref']}')")
    assert doc["Posted"] is True and doc["Number"] == answer["number"] and doc["КассаККМ"] == "Касса 1"
    assert {k: doc[k] for k in header(any_base)} == header(any_base)
    assert [(r["ВидОперации"], r["СуммаБонусныхБаллов"]) for r in doc["БонусныеБаллы"]] == [
        ("Начисление", 25.5),
        ("Списание", 100),
    ]
    assert {r["БонуснаяПрограммаЛояльности_Key"] for r in doc["БонусныеБаллы"]} == {PROGRAM}
    # driven with the website's credentials, but a till wrote it: the website gets it
    assert keys(select_changes(any_base, 1)) == [(RECEIPTS, answer["ref"]), (REGISTER, answer["ref"])]


def test_zero_amounts_write_no_row_and_the_card_may_be_its_ref(any_base: Base) -> None:
    response = sell(any_base, card=CARD_1, accrued=0, redeemed="7", register="Касса 9", comment="тест")
    assert response.status_code == 201, response.text
    ref = response.json()["ref"]
    doc = any_base.get_json(f"{RECEIPTS}(guid'{ref}')")
    assert [r["ВидОперации"] for r in doc["БонусныеБаллы"]] == ["Списание"]
    assert (doc["КассаККМ"], doc["Комментарий"], doc["СуммаДокумента"]) == ("Касса 9", "тест", 0)
    assert [r["RecordType"] for r in records(any_base, ref)] == ["Expense"]


def test_redeeming_more_than_the_balance_is_refused_and_writes_nothing(any_base: Base) -> None:
    start = start_balance(any_base)
    response = sell(any_base, card=CARD_NUMBER, accrued=10, redeemed=str(start + Decimal("0.01")))
    assert response.status_code == 400
    error = response.json()
    assert error["errorCode"] == "InsufficientBonuses"
    assert error["exception"]["cause"]["description"] == f"Недостаточно бонусных баллов: доступно {start}.00"
    assert any_base.get_json(RECEIPTS)["value"] == [] and balance(any_base) == start
    assert sell(any_base, card=CARD_NUMBER, redeemed=str(start)).status_code == 201  # all of it is fine
    assert balance(any_base) == 0


def test_a_blocked_card_is_refused(any_base: Base) -> None:
    with till(any_base) as c:
        assert c.post(f"cards/{CARD_NUMBER}/block", json={"reason": "утеряна"}).status_code == 200
    for body in ({"accrued": 5}, {"redeemed": 5}):
        response = sell(any_base, card=CARD_NUMBER, **body)
        assert response.status_code == 400 and response.json()["errorCode"] == "CardBlocked"
    assert any_base.get_json(RECEIPTS)["value"] == []


@pytest.mark.parametrize("config", ["retail", "ut11"])
def test_an_accumulation_only_card_accrues_but_does_not_redeem(config: str, request: Any) -> None:
    base: Base = request.getfixturevalue(config)
    cards = "Catalog_ИнформационныеКарты" if config == "retail" else "Catalog_КартыЛояльности"
    with base.client() as c:
        assert c.patch(f"{cards}(guid'{CARD_1}')", json={"Статус": "ТолькоНакопление"}).status_code == 200
    refused = sell(base, card=CARD_NUMBER, accrued=5, redeemed=5)
    assert refused.status_code == 400 and refused.json()["errorCode"] == "RedemptionNotAllowed"
    accrued = sell(base, card=CARD_NUMBER, accrued=5)
    assert accrued.status_code == 201 and Decimal(accrued.json()["balance"]) == start_balance(base) + 5


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"accrued": 5}, 400),  # no card
        ({"card": "", "accrued": 5}, 400),
        ({"card": CARD_NUMBER, "accrued": -1}, 400),
        ({"card": CARD_NUMBER, "accrued": "1.001"}, 400),
        ({"card": CARD_NUMBER, "redeemed": "много"}, 400),
        ({"card": CARD_NUMBER, "accrued": True}, 400),
        ({"card": CARD_NUMBER, "amount": [1]}, 400),
        ({"card": CARD_NUMBER, "accrued": "1e20"}, 400),
        ({"card": CARD_NUMBER, "program": "не guid", "accrued": 1}, 400),
        ({"card": CARD_NUMBER, "accrue": 5}, 400),  # a misspelt field is named, not ignored
        ({"card": 2000000000011, "accrued": 5}, 400),
        ({"card": "0000", "accrued": 5}, 404),
        ({"card": EMPTY, "accrued": 5}, 404),
    ],
)
def test_bad_input_is_a_json_error(retail: Base, body: dict[str, Any], status: int) -> None:
    response = sell(retail, **body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["errorCode"] == ("NotFound" if status == 404 else "InvalidArgument")
    assert error["exception"]["cause"]["description"]
    assert retail.get_json(RECEIPTS)["value"] == []


def test_broken_json_and_rights(retail: Base) -> None:
    with till(retail) as c:
        broken = c.post("receipts", content=b"{not json")
        array = c.post("receipts", json=[CARD_NUMBER])
    assert broken.status_code == 400 and broken.json()["errorCode"] == "InvalidArgument"
    assert array.status_code == 400
    denied = sell(retail, ("Наблюдатель", "просмотр"), card=CARD_NUMBER, accrued=1)
    assert denied.status_code == 403 and denied.json()["errorCode"] == "AccessDenied"
    with till(retail) as c:
        assert c.get("receipts").status_code == 405
    assert retail.get_json(RECEIPTS)["value"] == []


def test_another_program_can_be_named(ut11: Base) -> None:
    response = sell(ut11, card=CARD_NUMBER, accrued=3, program=OTHER_PROGRAM.upper())
    assert response.status_code == 201, response.text
    rows = records(ut11, response.json()["ref"])
    assert [(r["Партнер_Key"], r["БонуснаяПрограммаЛояльности_Key"]) for r in rows] == [
        (PARTNER_IVANOV, OTHER_PROGRAM)
    ]
