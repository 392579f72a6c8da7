"""Posting bonus documents into ``AccumulationRegister_БонусныеБаллы`` and its ``Balance`` table,
for both configurations (per card in Retail, per partner in UT 11)."""

from __future__ import annotations

from typing import Any

from tests.onec_live import CARD_1, CARD_2, PARTNER_IVANOV, PARTNER_PETROVA, PROGRAM, Base, odata_query

DOCS = "Document_НачислениеИСписаниеБонусныхБаллов"
REGISTER = "AccumulationRegister_БонусныеБаллы"


def dimension(base: Base) -> str:
    return "ДисконтнаяКарта_Key" if base.config == "retail" else "Партнер_Key"


def holder(base: Base) -> str:
    return CARD_1 if base.config == "retail" else PARTNER_IVANOV


def balance(base: Base, key: str, period: str | None = None) -> dict[str, Any]:
    args = [f"Condition='{dimension(base)} eq guid''{key}'''"]
    if period:
        args.insert(0, f"Period=datetime'{period}'")
    rows = base.get_json(f"{REGISTER}/Balance({','.join(args)})")["value"]
    return rows[0] if rows else {}


def new_document(base: Base, operation: str, amount: int, date: str = "2024-04-01T12:00:00") -> str:
    body = {
        "Date": date,
        "ВидОперации": operation,
        "БонуснаяПрограммаЛояльности_Key": PROGRAM,
        "Начисление": [{"LineNumber": 1, dimension(base): holder(base), "СуммаБонусныхБаллов": amount}],
    }
    with base.client() as c:
        response = c.post(f"{DOCS}?$format=json", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["Ref_Key"])


def action(base: Base, ref: str, name: str) -> int:
    with base.client() as c:
        return c.post(f"{DOCS}(guid'{ref}')/{name}" + odata_query(PostingModeOperational="false")).status_code


def test_demo_balances_and_balance_fields(any_base: Base) -> None:
    row = balance(any_base, holder(any_base))
    expected = 650 if any_base.config == "retail" else 750
    assert row == {
        dimension(any_base): holder(any_base),
        "БонуснаяПрограммаЛояльности_Key": PROGRAM,
        "НачисленоBalance": expected,
        "КСписаниюBalance": 0,
    }


def test_post_writes_records_and_unpost_deletes_them(any_base: Base) -> None:
    before = balance(any_base, holder(any_base))["НачисленоBalance"]
    ref = new_document(any_base, "Начисление", 40)
    assert balance(any_base, holder(any_base))["НачисленоBalance"] == before  # not posted yet
    assert action(any_base, ref, "Post") == 200
    assert any_base.get_json(f"{DOCS}(guid'{ref}')")["Posted"] is True
    assert balance(any_base, holder(any_base))["НачисленоBalance"] == before + 40
    records = any_base.get_json(f"{REGISTER}_RecordType", filter=f"Recorder eq guid'{ref}'")["value"]
    assert [(r["RecordType"], r["Period"], r["LineNumber"], r["Recorder_Type"]) for r in records] == [
        ("Receipt", "2024-04-01T12:00:00", "1", f"StandardODATA.{DOCS}")
    ]
    assert action(any_base, ref, "Post") == 200  # re-posting replaces, does not double
    assert balance(any_base, holder(any_base))["НачисленоBalance"] == before + 40
    assert action(any_base, ref, "Unpost") == 200
    assert any_base.get_json(f"{DOCS}(guid'{ref}')")["Posted"] is False
    assert balance(any_base, holder(any_base))["НачисленоBalance"] == before


def test_write_off_is_an_expense(any_base: Base) -> None:
    before = balance(any_base, holder(any_base))["НачисленоBalance"]
    ref = new_document(any_base, "Списание", 150)
    action(any_base, ref, "Post")
    assert balance(any_base, holder(any_base))["НачисленоBalance"] == before - 150


def test_balance_period_excludes_that_moment_and_later(any_base: Base) -> None:
    key = holder(any_base)
    assert balance(any_base, key, "2024-01-10T10:00:00") == {}  # the first accrual is at that second
    assert balance(any_base, key, "2024-01-10T10:00:01")["НачисленоBalance"] == 500
    late = new_document(any_base, "Начисление", 7, date="2030-01-01T00:00:00")
    action(any_base, late, "Post")
    now = balance(any_base, key, "2029-01-01T00:00:00")["НачисленоBalance"]
    assert balance(any_base, key)["НачисленоBalance"] == now + 7


def test_balance_dimensions_zero_rows_and_query_options(retail: Base) -> None:
    rows = retail.get_json(
        f"{REGISTER}/Balance(Dimensions='ДисконтнаяКарта')", orderby="НачисленоBalance desc"
    )
    assert [(r["ДисконтнаяКарта_Key"], r["НачисленоBalance"]) for r in rows["value"]][:2] == [
        ("40000000-0000-4000-8000-000000000003", 1200),
        (CARD_1, 650),
    ]
    assert all(
        set(r) == {"ДисконтнаяКарта_Key", "НачисленоBalance", "КСписаниюBalance"} for r in rows["value"]
    )
    cards = {r["ДисконтнаяКарта_Key"] for r in rows["value"]}
    assert "40000000-0000-4000-8000-000000000004" not in cards  # only an unposted draft: no row
    filtered = retail.get_json(f"{REGISTER}/Balance()", filter=f"ДисконтнаяКарта_Key eq guid'{CARD_2}'")
    assert [r["НачисленоBalance"] for r in filtered["value"]] == [100]


def test_balance_condition_errors_are_400(retail: Base) -> None:
    with retail.client() as c:
        bad = c.get(f"{REGISTER}/Balance(Condition='Партнер_Key eq guid''{PARTNER_PETROVA}''')?$format=json")
        bad_period = c.get(f"{REGISTER}/Balance(Period=datetime'24-01-01T00:00:00')?$format=json")
    assert bad.status_code == 400 and bad_period.status_code == 400


def test_deletion_mark_on_a_posted_document_unposts_it(any_base: Base) -> None:
    before = balance(any_base, holder(any_base))["НачисленоBalance"]
    ref = new_document(any_base, "Начисление", 5)
    action(any_base, ref, "Post")
    with any_base.client() as c:
        marked = c.patch(f"{DOCS}(guid'{ref}')?$format=json", json={"DeletionMark": True}).json()
        assert c.post(f"{DOCS}(guid'{ref}')/Post").status_code == 500  # a marked document cannot be posted
    assert marked["Posted"] is False
    assert balance(any_base, holder(any_base))["НачисленоBalance"] == before


def test_record_sets_by_recorder(retail: Base) -> None:
    first = "50000000-0000-4000-8000-000000000001"
    body = retail.get_json(f"{REGISTER}(Recorder=guid'{first}', Recorder_Type='StandardODATA.{DOCS}')")
    assert [r["Начислено"] for r in body["RecordSet"]] == [500, 1200, 300]
    assert len(retail.get_json(REGISTER)["value"]) == 3  # three posted demo documents
