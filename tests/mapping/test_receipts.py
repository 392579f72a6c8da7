"""Till receipts (``Document_ЧекККМ``) → hub movements: one per non-zero bonus row, signed by operation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from mapping.amounts import dumps_onec_json, loads_onec_json
from mapping.errors import InvalidAmountText, InvalidEnumValue, InvalidReference, MissingField
from mapping.profile import load_profile
from mapping.refs import EMPTY_REF

MOSCOW = ZoneInfo("Europe/Moscow")
RECEIPT = "3b3b3b3b-2b6e-11ef-8e3a-00155d012a06"
PARTNER = "9a3c1f52-2b6e-11ef-8e3a-00155d012a01"
CARD = "1d2e3f40-2b6e-11ef-8e3a-00155d012a02"
PROGRAM = "0c0c0c0c-2b6e-11ef-8e3a-00155d012a04"
OTHER_PROGRAM = "0d0d0d0d-2b6e-11ef-8e3a-00155d012a07"
#: 2024-03-20 14:05:07 in Moscow.
OCCURRED_AT = datetime(2024, 3, 20, 11, 5, 7, tzinfo=UTC)

#: The card (and, in УТ 11, the partner) columns of the receipt's header, per profile.
OWNER_COLUMNS = {
    "retail": {"ДисконтнаяКарта_Key": CARD},
    "ut11": {"КартаЛояльности_Key": CARD, "Партнер_Key": PARTNER},
}
CARD_COLUMN = {"retail": "ДисконтнаяКарта_Key", "ut11": "КартаЛояльности_Key"}


@pytest.fixture(params=["retail", "ut11"])
def profile(request):
    return load_profile(request.param, tz=MOSCOW)


def bonus_row(line, operation, amount, program=PROGRAM):
    return {
        "Ref_Key": RECEIPT,
        "LineNumber": str(line),
        "ВидОперации": operation,
        "БонуснаяПрограммаЛояльности_Key": program,
        "СуммаБонусныхБаллов": amount,
    }


def receipt(profile, *rows, **overrides):
    """A ``Document_ЧекККМ`` as 1C's OData sends it, through the JSON wire (decimals stay exact)."""
    document = {
        "Ref_Key": RECEIPT,
        "DataVersion": "AAAAAgAAAAA=",
        "DeletionMark": False,
        "Number": "РЗ-00000017",
        "Date": "2024-03-20T14:05:07",
        "Posted": True,
        **OWNER_COLUMNS[profile.name],
        "СуммаДокумента": Decimal("1234.50"),
        "КассаККМ": "Касса 2 ",
        "Комментарий": "покупатель просил чек на почту",
        "БонусныеБаллы": list(rows),
        **overrides,
    }
    return loads_onec_json(dumps_onec_json(document))


def expected(profile, line_number, amount, program=PROGRAM):
    movement = {
        "onec_ref": RECEIPT,
        "occurred_at": OCCURRED_AT,
        "document": "РЗ-00000017",
        "till": "Касса 2",
        "card_onec_ref": CARD,
        "program_onec_ref": program,
        "line_number": line_number,
        "amount": amount,
    }
    if profile.name == "ut11":
        movement["customer_onec_ref"] = PARTNER
    return movement


def test_accrual_only(profile):
    movements = profile.receipt_from_onec(receipt(profile, bonus_row(1, "Начисление", Decimal("61.73"))))
    assert movements == [expected(profile, 1, Decimal("61.73"))]
    (movement,) = movements
    assert movement["occurred_at"].tzinfo is UTC
    assert isinstance(movement["amount"], Decimal) and isinstance(movement["line_number"], int)
    assert "reason" not in movement  # Комментарий is not read
    assert ("customer_onec_ref" in movement) is (profile.name == "ut11")


def test_redemption_only(profile):
    movements = profile.receipt_from_onec(receipt(profile, bonus_row(1, "Списание", 150)))
    assert movements == [expected(profile, 1, Decimal("-150.00"))]


def test_accrual_and_redemption_in_line_number_order(profile):
    document = receipt(
        profile,
        bonus_row(10, "Начисление", Decimal("12.5"), program=OTHER_PROGRAM),
        bonus_row(2, "Списание", Decimal("300")),
        bonus_row(9, "Начисление", Decimal("0.01")),
    )
    assert profile.receipt_from_onec(document) == [
        expected(profile, 2, Decimal("-300.00")),
        expected(profile, 9, Decimal("0.01")),
        expected(profile, 10, Decimal("12.50"), program=OTHER_PROGRAM),
    ]


def test_zero_rows_are_skipped_and_keep_their_line_numbers(profile):
    document = receipt(
        profile,
        bonus_row(1, "Начисление", 0),
        bonus_row(2, "Списание", Decimal("5")),
        bonus_row(3, "Начисление", "0"),  # the emulator's empty decimal
        # An unfilled row: empty operation and no points; it moves nothing.
        bonus_row(4, "", 0, program=EMPTY_REF),
    )
    assert profile.receipt_from_onec(document) == [expected(profile, 2, Decimal("-5.00"))]


def test_a_receipt_without_bonus_rows_needs_no_card(profile):
    """Most receipts: no card was shown, so no bonus rows; that is not an error."""
    no_card = dict.fromkeys(OWNER_COLUMNS[profile.name], EMPTY_REF)
    assert profile.receipt_from_onec(receipt(profile, **no_card)) == []
    assert profile.receipt_from_onec(receipt(profile, bonus_row(1, "Начисление", 0), **no_card)) == []


def test_posted_and_deletion_mark_are_for_the_sync(profile):
    document = receipt(profile, bonus_row(1, "Начисление", 10), Posted=False, DeletionMark=True)
    assert profile.receipt_from_onec(document) == [expected(profile, 1, Decimal("10.00"))]


def test_occurred_at_uses_the_profile_zone():
    profile = load_profile("retail", tz=ZoneInfo("Asia/Yekaterinburg"))
    (movement,) = profile.receipt_from_onec(receipt(profile, bonus_row(1, "Начисление", 1)))
    assert movement["occurred_at"] == datetime(2024, 3, 20, 9, 5, 7, tzinfo=UTC)


def test_an_unknown_operation(profile):
    document = receipt(profile, bonus_row(1, "Начисление", 1), bonus_row(2, "Перемещение", 1))
    with pytest.raises(InvalidEnumValue) as caught:
        profile.receipt_from_onec(document)
    assert caught.value.field == "ВидОперации"
    message = str(caught.value)
    assert f"Document_ЧекККМ(guid'{RECEIPT}').БонусныеБаллы[LineNumber=2].ВидОперации" in message
    assert "expected Начисление or Списание" in message
    assert "Перемещение" not in message


@pytest.mark.parametrize("card", [None, EMPTY_REF, ""])
def test_a_missing_card(profile, card):
    if card is None:
        document = receipt(profile, bonus_row(1, "Списание", 1))
        del document[CARD_COLUMN[profile.name]]
    else:
        document = receipt(profile, bonus_row(1, "Списание", 1), **{CARD_COLUMN[profile.name]: card})
    with pytest.raises(MissingField, match="card_onec_ref") as caught:
        profile.receipt_from_onec(document)
    assert caught.value.field == CARD_COLUMN[profile.name]


def test_ut11_needs_the_partner_who_owns_the_points():
    profile = load_profile("ut11", tz=MOSCOW)
    document = receipt(profile, bonus_row(1, "Начисление", 1), Партнер_Key=EMPTY_REF)
    with pytest.raises(MissingField, match="customer_onec_ref") as caught:
        profile.receipt_from_onec(document)
    assert caught.value.field == "Партнер_Key"


def test_a_card_that_is_not_a_guid(profile):
    document = receipt(profile, bonus_row(1, "Начисление", 1), **{CARD_COLUMN[profile.name]: "карта 17"})
    with pytest.raises(InvalidReference, match=CARD_COLUMN[profile.name]):
        profile.receipt_from_onec(document)


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        ("двадцать", "not a decimal number"),
        (1.5, "float"),  # JSON parsed lossily upstream
        (Decimal("1.005"), "more than 2 decimal places"),
        ("Infinity", "not a finite number"),
        (True, "got a bool"),
        (Decimal("-5"), "negative"),
    ],
)
def test_a_malformed_amount(profile, amount, problem):
    document = receipt(profile, bonus_row(1, "Начисление", 1))
    document["БонусныеБаллы"][0]["СуммаБонусныхБаллов"] = amount
    with pytest.raises(InvalidAmountText, match=problem) as caught:
        profile.receipt_from_onec(document)
    assert caught.value.field == "СуммаБонусныхБаллов"
    assert "БонусныеБаллы[LineNumber=1].СуммаБонусныхБаллов" in str(caught.value)


def test_a_row_without_its_amount_or_line_number(profile):
    row = bonus_row(1, "Начисление", 1)
    del row["СуммаБонусныхБаллов"]
    with pytest.raises(MissingField, match="without its amount"):
        profile.receipt_from_onec(receipt(profile, row))
    row = bonus_row(1, "Начисление", 1)
    del row["LineNumber"]
    with pytest.raises(MissingField, match="without its LineNumber") as caught:
        profile.receipt_from_onec(receipt(profile, row))
    assert caught.value.field == "LineNumber"
    with pytest.raises(InvalidAmountText, match=r"\.LineNumber: not an integer"):
        profile.receipt_from_onec(receipt(profile, {**bonus_row(1, "Начисление", 1), "LineNumber": "x"}))


def test_a_receipt_read_without_its_bonus_section(profile):
    document = receipt(profile)
    del document["БонусныеБаллы"]
    with pytest.raises(MissingField, match="no БонусныеБаллы rows") as caught:
        profile.receipt_from_onec(document)
    assert caught.value.field == "БонусныеБаллы"


def test_header_fields_not_selected_are_left_out(profile):
    """As everywhere: a ``$select`` that did not ask for a field says nothing about it."""
    document = receipt(profile, bonus_row(1, "Начисление", 1))
    del document["КассаККМ"], document["Number"]
    (movement,) = profile.receipt_from_onec(document)
    assert "till" not in movement and "document" not in movement
