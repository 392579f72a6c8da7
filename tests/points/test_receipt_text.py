"""The lines a till or invoice prints about points, in ru, en and fr (seed 003's list)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from bonusbridge.points.receipt_text import ReceiptFacts, lines

NOW = datetime(2026, 3, 12, 11, 0, tzinfo=UTC)
FACTS = ReceiptFacts(
    earned=D("15.00"),
    deducted=D("300.00"),
    balance=D("1234.50"),
    point_value=D("0.01"),
    currency="EUR",
    time_zone="Europe/Paris",
    expires_at=datetime(2027, 3, 12, 23, 30, tzinfo=UTC),
    available_from=datetime(2026, 3, 26, 11, 0, tzinfo=UTC),
    now=NOW,
    threshold=D(300),
)


def test_french_receipt_prints_points_expiry_balance_and_the_rule():
    assert lines(FACTS, "fr") == [
        "Points acquis : 15,00",
        "Points utilisés : 300,00",
        "Date limite d'utilisation des points acquis : 13/03/2027",  # local day in Paris
        "Points utilisables à partir du 26/03/2026",
        "Nouveau solde de points : 1234,50",
        "300 points = 3,00 EUR de remise",
    ]


def test_russian_and_english_receipts():
    ru = lines(FACTS, "ru")
    assert ru[0] == "Начислено баллов: 15,00" and ru[-1] == "300 баллов = 3,00 EUR скидки"
    en = lines(ReceiptFacts(D("50.00"), D(0), D("50.00"), D("0.01"), "RUB", "Europe/Moscow"), "en")
    assert en == ["Points earned: 50.00", "Points balance: 50.00", "100 points = 1.00 RUB off"]
