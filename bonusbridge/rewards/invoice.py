"""The invoice of a reward order's cash part, as data and as a PDF (fpdf2, a maintained library).

The number is the order's (``orders._invoice_number``: gap-free per year, taken in the order's
transaction); this module only reads. Amounts are the order lines' as bought (gross, VAT
included), each line's VAT computed as the cart and the order compute it (``cart.vat_of``), so the
invoice's VAT total is the order's ``vat_total`` to the cent. Numbers, money and dates are
formatted by Babel in the invoice's language; the PDF embeds a Unicode TrueType font (DejaVu Sans
by default) so Cyrillic names print.

``invoice_pdf`` is what the cabinet and the API serve: it refuses an order that is not the
member's (``UnknownRewardOrder``, as for any unknown order) or that has no cash part
(``NoInvoice``). A page serving it::

    name, pdf = invoice.invoice_pdf(conn, order_id, invoice.seller_of(settings),
                                    customer_id=member_id, language="ru",
                                    font_path=settings.invoice_font_path)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, cast

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from sqlalchemy import Connection, Table, select

from bonusbridge.models import Customer
from bonusbridge.rewards import cart, errors
from bonusbridge.rewards.models import OrderState, RewardOrder, RewardOrderLine
from bonusbridge.settings import Settings

orders = cast(Table, RewardOrder.__table__)
lines_table = cast(Table, RewardOrderLine.__table__)
customers = cast(Table, Customer.__table__)
ZERO = Decimal("0.00")
#: DejaVu Sans (Bitstream Vera licence, fonts/LICENSE), shipped so an invoice renders on any machine.
DEFAULT_FONT = str(Path(__file__).with_name("fonts") / "DejaVuSans.ttf")
_BABEL_LOCALES = {"ru": "ru_RU", "en": "en_GB"}


class NoInvoice(errors.RewardsError):
    code = "no_invoice"
    http_status = 404
    messages: ClassVar[dict[str, str]] = {
        "ru": "У этого заказа нет доплаты деньгами, поэтому нет и счёта.",
        "en": "This order has no cash part, so it has no invoice.",
    }


@dataclass(frozen=True)
class Seller:
    name: str
    address: str = ""
    tax_id: str = ""  # ИНН / VAT number
    extra: str = ""  # bank details, registration: printed as given


def seller_of(settings: Settings) -> Seller:
    """The seller the settings name (``BONUSBRIDGE_INVOICE_SELLER_*``)."""
    return Seller(
        name=settings.invoice_seller_name,
        address=settings.invoice_seller_address,
        tax_id=settings.invoice_seller_tax_id,
        extra=settings.invoice_seller_extra,
    )


@dataclass(frozen=True)
class InvoiceLine:
    name: str
    quantity: int
    unit_price: Decimal  # gross, VAT included
    vat_rate: Decimal  # percent
    vat: Decimal
    total: Decimal  # gross


@dataclass(frozen=True)
class Invoice:
    number: str
    issued_at: datetime
    paid_at: datetime | None
    currency: str
    language: str
    seller: Seller
    buyer_name: str
    buyer_email: str
    buyer_address: str
    lines: tuple[InvoiceLine, ...]
    points_paid: Decimal
    order_id: int

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), ZERO)

    @property
    def vat_total(self) -> Decimal:
        return sum((line.vat for line in self.lines), ZERO)

    @property
    def net_total(self) -> Decimal:
        return self.total - self.vat_total

    def vat_by_rate(self) -> list[tuple[Decimal, Decimal, Decimal]]:
        """(rate, gross, VAT) per VAT rate, lowest rate first: the invoice's VAT lines."""
        found: dict[Decimal, tuple[Decimal, Decimal]] = {}
        for line in self.lines:
            gross, vat = found.get(line.vat_rate, (ZERO, ZERO))
            found[line.vat_rate] = (gross + line.total, vat + line.vat)
        return [(rate, gross, vat) for rate, (gross, vat) in sorted(found.items())]


def invoice_of(
    conn: Connection, order_id: int, seller: Seller, *, customer_id: int | None = None, language: str = ""
) -> Invoice:
    """The order's invoice; ``customer_id`` given: only the member's own order is found."""
    order = conn.execute(select(orders).where(orders.c.id == order_id)).first()
    if order is None or (customer_id is not None and order.customer_id != customer_id):
        raise errors.UnknownRewardOrder()
    if order.invoice_number is None or order.cash_total <= 0:
        raise NoInvoice()
    buyer = conn.execute(select(customers).where(customers.c.id == order.customer_id)).one()
    name = " ".join(part for part in (buyer.last_name, buyer.first_name, buyer.middle_name) if part)
    lines = []
    for line in conn.execute(
        select(lines_table).where(lines_table.c.order_id == order_id).order_by(lines_table.c.id)
    ):
        if line.unit_cash <= 0:
            continue
        gross = line.unit_cash * line.quantity
        lines.append(
            InvoiceLine(
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_cash,
                vat_rate=line.vat_rate,
                vat=cart.vat_of(gross, line.vat_rate),
                total=gross,
            )
        )
    lang = (
        language if language in _BABEL_LOCALES else (order.locale if order.locale in _BABEL_LOCALES else "ru")
    )
    return Invoice(
        number=order.invoice_number,
        issued_at=order.created_at,
        paid_at=order.paid_at if order.state is not OrderState.AWAITING_PAYMENT else None,
        currency=order.currency,
        language=lang,
        seller=seller,
        buyer_name=name,
        buyer_email=buyer.email or "",
        buyer_address=order.address,
        lines=tuple(lines),
        points_paid=order.points_total,
        order_id=order.id,
    )


_WORDS = {
    "title": ("Счёт № {number} от {date}", "Invoice No. {number} of {date}"),
    "order": ("Заказ подарков № {order}", "Rewards order No. {order}"),
    "seller": ("Продавец", "Seller"),
    "buyer": ("Покупатель", "Buyer"),
    "tax_id": ("ИНН", "Tax id"),
    "address": ("Адрес доставки", "Delivery address"),
    "item": ("Наименование", "Item"),
    "qty": ("Кол.", "Qty"),
    "price": ("Цена", "Price"),
    "vat_rate": ("НДС, %", "VAT %"),
    "vat": ("НДС", "VAT"),
    "sum": ("Сумма", "Amount"),
    "net": ("Итого без НДС", "Total excluding VAT"),
    "vat_line": ("В том числе НДС {rate}% с суммы {gross}", "Including VAT {rate}% on {gross}"),
    "no_vat": ("Без НДС", "No VAT"),
    "vat_total": ("Итого НДС", "Total VAT"),
    "total": ("Всего к оплате", "Total due"),
    "points": ("Оплачено баллами: {points}", "Paid with points: {points}"),
    "paid": ("Оплачен {date}", "Paid on {date}"),
    "unpaid": ("Ожидает оплаты", "Awaiting payment"),
}


def _word(key: str, lang: str, **values: str) -> str:
    ru, en = _WORDS[key]
    return (ru if lang == "ru" else en).format(**values)


def render_pdf(invoice: Invoice, *, font_path: str = "") -> bytes:
    """The invoice as a one-page (or longer) A4 PDF; ``font_path`` empty: the shipped DejaVu Sans."""
    font_path = font_path or DEFAULT_FONT
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    lang = invoice.language
    locale = _BABEL_LOCALES.get(lang, "ru_RU")

    def money(amount: Decimal) -> str:
        return format_currency(amount, invoice.currency, locale=locale)

    def number(amount: Decimal) -> str:
        return format_decimal(amount, format="#,##0.##", locale=locale)

    def day(moment: datetime) -> str:
        return format_date(moment.date(), format="long", locale=locale)

    pdf = FPDF(format="A4")
    pdf.set_title(_word("title", lang, number=invoice.number, date=day(invoice.issued_at)))
    pdf.set_creator("BonusBridge")
    if not Path(font_path).is_file():
        raise FileNotFoundError(f"the invoice font {font_path} is missing (setting invoice_font_path)")
    pdf.add_font("body", "", font_path)
    bold = Path(font_path).with_name(Path(font_path).stem + "-Bold" + Path(font_path).suffix)
    pdf.add_font("body", "B", str(bold) if bold.is_file() else font_path)  # the table's heading
    pdf.add_page()
    pdf.set_font("body", size=15)
    pdf.multi_cell(
        0,
        8,
        _word("title", lang, number=invoice.number, date=day(invoice.issued_at)),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font("body", size=10)
    pdf.multi_cell(
        0, 6, _word("order", lang, order=str(invoice.order_id)), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(3)
    seller = [invoice.seller.name]
    if invoice.seller.tax_id:
        seller.append(f"{_word('tax_id', lang)} {invoice.seller.tax_id}")
    seller += [part for part in (invoice.seller.address, invoice.seller.extra) if part]
    pdf.multi_cell(
        0, 5, f"{_word('seller', lang)}: " + ", ".join(seller), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    buyer = ", ".join(part for part in (invoice.buyer_name, invoice.buyer_email) if part)
    pdf.multi_cell(0, 5, f"{_word('buyer', lang)}: {buyer}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if invoice.buyer_address:
        pdf.multi_cell(
            0, 5, f"{_word('address', lang)}: {invoice.buyer_address}", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    pdf.ln(4)
    widths = (66, 16, 30, 16, 30, 32)
    pdf.set_font("body", size=9)
    heading = [_word(key, lang) for key in ("item", "qty", "price", "vat_rate", "vat", "sum")]
    with pdf.table(
        col_widths=widths, text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
    ) as table:
        row = table.row()
        for cell in heading:
            row.cell(cell)
        for line in invoice.lines:
            row = table.row()
            row.cell(line.name)
            row.cell(str(line.quantity))
            row.cell(money(line.unit_price))
            row.cell(number(line.vat_rate))
            row.cell(money(line.vat))
            row.cell(money(line.total))
    pdf.ln(4)
    pdf.set_font("body", size=10)

    def total_line(text: str) -> None:
        pdf.cell(0, 6, text, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    total_line(f"{_word('net', lang)}: {money(invoice.net_total)}")
    for rate, gross, vat in invoice.vat_by_rate():
        if rate == 0:
            total_line(f"{_word('no_vat', lang)}: {money(gross)}")
        else:
            total_line(f"{_word('vat_line', lang, rate=number(rate), gross=money(gross))}: {money(vat)}")
    total_line(f"{_word('vat_total', lang)}: {money(invoice.vat_total)}")
    pdf.set_font("body", size=12)
    total_line(f"{_word('total', lang)}: {money(invoice.total)}")
    pdf.set_font("body", size=10)
    if invoice.points_paid > 0:
        points = format_decimal(invoice.points_paid, format="#,##0.00", locale=locale)
        total_line(_word("points", lang, points=points))
    status = _word("paid", lang, date=day(invoice.paid_at)) if invoice.paid_at else _word("unpaid", lang)
    total_line(status)
    return bytes(pdf.output())


def invoice_pdf(
    conn: Connection,
    order_id: int,
    seller: Seller,
    *,
    customer_id: int | None,
    language: str = "",
    font_path: str = "",
) -> tuple[str, bytes]:
    """(file name, PDF) of the member's order's invoice: what the cabinet links to and the API serves."""
    invoice = invoice_of(conn, order_id, seller, customer_id=customer_id, language=language)
    return f"invoice-{invoice.number}.pdf", render_pdf(invoice, font_path=font_path)
