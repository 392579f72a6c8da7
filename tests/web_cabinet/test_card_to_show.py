"""Issue 17 item 5: the card page shows the customer's own full card number with a barcode and a
QR code (inline SVG from python-barcode and segno) to show at the till."""

from __future__ import annotations

from tests.web_cabinet.conftest import PHONE, log_in


def test_the_card_page_shows_the_full_number_with_a_barcode_and_a_qr_code(client, settings, world):
    customer = world.customer(
        phone_e164=PHONE, last_name="Иванова", first_name="Мария", birth_date=None, gender=None
    )
    card = world.card("2000000000011", phone=PHONE, customer_id=customer, primary=True)
    log_in(client, settings)
    page = client.get(f"/cards/{card}")
    assert page.status_code == 200
    assert 'id="card-full-number">2000000000011<' in page.text
    barcode = page.text.split('id="card-barcode"', 1)[1]
    assert 'data-format="code128"' in page.text and "<svg" in barcode.split("</div>", 1)[0]
    qr = page.text.split('id="card-qr"', 1)[1]
    assert "<svg" in qr.split("</div>", 1)[0] and 'class="segno"' in qr
