"""The invoice PDF renders on a machine without system fonts, and a wrong font path is refused early."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError
from pypdf import PdfReader

from bonusbridge.rewards import invoice
from bonusbridge.settings import Settings


def _invoice() -> invoice.Invoice:
    line = invoice.InvoiceLine(
        name="Термокружка «Эльзингор»",
        quantity=2,
        unit_price=Decimal("600.00"),
        vat_rate=Decimal("20"),
        vat=Decimal("200.00"),
        total=Decimal("1200.00"),
    )
    return invoice.Invoice(
        number="2026-000017",
        issued_at=datetime(2026, 12, 8, 10, 0, tzinfo=UTC),
        paid_at=None,
        currency="RUB",
        language="ru",
        seller=invoice.Seller(name="ООО «Бонус»", address="Москва", tax_id="7707083893", extra=""),
        buyer_name="Анна Петрова",
        buyer_email="anna@example.org",
        buyer_address="Тверская, 1",
        lines=(line,),
        points_paid=Decimal("150.00"),
        order_id=17,
    )


def test_the_shipped_font_renders_cyrillic_without_any_system_font() -> None:
    assert invoice.DEFAULT_FONT.startswith(str(invoice.Path(invoice.__file__).parent))
    pdf = invoice.render_pdf(_invoice())
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "2026-000017" in text
    assert "Термокружка" in text
    assert "Анна Петрова" in text


def test_a_font_path_that_is_not_a_file_stops_the_settings(tmp_path) -> None:
    with pytest.raises(ValidationError, match="no such font file"):
        Settings(invoice_font_path=str(tmp_path / "missing.ttf"))
    assert Settings(invoice_font_path="").invoice_font_path == ""
