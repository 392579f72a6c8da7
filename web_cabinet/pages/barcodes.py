"""The card to show at the till: its full number as a barcode the chain's scanners read (EAN-13
when the number is a valid EAN-13, else Code 128) and as a QR code, both inline SVG drawn by
maintained libraries (python-barcode, segno): no image requests, nothing for the CSP to allow."""

from __future__ import annotations

import io
import re

import barcode  # type: ignore[import-untyped]
import segno
from barcode.writer import SVGWriter  # type: ignore[import-untyped]

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)


def _ean13_valid(number: str) -> bool:
    if not re.fullmatch(r"\d{13}", number):
        return False
    digits = [int(d) for d in number]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits[:12])) % 10) % 10
    return check == digits[12]


def barcode_svg(number: str) -> tuple[str, str]:
    """(format, inline SVG) of the card number."""
    kind = "ean13" if _ean13_valid(number) else "code128"
    code = barcode.get(kind, number[:12] if kind == "ean13" else number, writer=SVGWriter())
    out = io.BytesIO()
    code.write(out, options={"module_height": 10.0, "quiet_zone": 4.0, "font_size": 8, "text_distance": 4.0})
    svg = _PROLOGUE.sub("", out.getvalue().decode("utf-8"), count=1)
    return kind, _for_the_page(svg)


_STYLE = re.compile(r'\sstyle="([^"]*)"')
_SIZE = re.compile(r'<svg([^>]*?) width="([\d.]+)mm" height="([\d.]+)mm"')
_PX_PER_MM = 96 / 25.4


def _for_the_page(svg: str) -> str:
    """python-barcode's SVG as the page can show it: its ``style="fill:…"`` attributes become
    presentation attributes (the pages' CSP allows no inline styles, so a browser would paint every
    rectangle, the white background too, black), and a viewBox in place of its fixed size in mm, so
    the stylesheet scales the code to the screen's width."""

    def attributes(match: re.Match[str]) -> str:
        pairs = (part.split(":", 1) for part in match.group(1).split(";") if ":" in part)
        return "".join(f' {name.strip()}="{value.strip()}"' for name, value in pairs)

    def view_box(match: re.Match[str]) -> str:
        width, height = float(match.group(2)) * _PX_PER_MM, float(match.group(3)) * _PX_PER_MM
        return f'<svg{match.group(1)} viewBox="0 0 {width:.3f} {height:.3f}"'

    return _SIZE.sub(view_box, _STYLE.sub(attributes, svg), count=1)


def qr_svg(number: str) -> str:
    return str(segno.make(number, error="m", micro=False).svg_inline(scale=5, border=2))
