"""The demo's rewards shop (issue 21 item 8): a supplier account and a small catalog with gated
items, made through the domain's staff calls (audited as ``demo``); seeding twice changes nothing.

Prices are chosen for the demo's customers: Кузнецова (+7 916 456-78-90) has 300 points, so a cart
of the mug, the thermos and the umbrella (550) is over budget and the exact suggestion keeps the mug
and the thermos (120 + 180 = 300), where a greedy pick of the dearest first would stop at 250.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select

from bonusbridge.app import Hub
from bonusbridge.rewards import catalog, images

SUPPLIER_EMAIL = "orders@podarki.example"
SUPPLIER_NAME = "ООО «Подарки» (demo)"

#: code, category, ru, en, points, extra fields
CATALOG: tuple[tuple[str, str, str, str, str, dict[str, str]], ...] = (
    ("DEMO-MUG", "home", "Кружка «Добрострой»", "Dobrostroy mug", "120.00", {"stock": "50"}),
    ("DEMO-THERMOS", "home", "Термос 0,5 л", "Thermos 0.5 l", "180.00", {"stock": "20"}),
    ("DEMO-UMBRELLA", "home", "Зонт-трость", "Umbrella", "250.00", {"stock": "10"}),
    (
        "DEMO-DRILL",
        "tools",
        "Дрель с доплатой",
        "Drill with a cash part",
        "200.00",
        {"cash_price": "1990.00", "vat_rate": "20", "stock": "5"},
    ),
    (
        "DEMO-GOLD-KIT",
        "tools",
        "Набор инструментов для лучших",
        "Tool kit for the best",
        "150.00",
        {"min_tier": "gold", "stock": "3"},
    ),
    (
        "DEMO-BIG-SPENDER",
        "tools",
        "Ящик для инструментов",
        "Tool box",
        "100.00",
        {"min_lifetime_points": "5000.00"},
    ),
)


def seed_shop(hub: Hub) -> tuple[int, list[str]]:
    """The demo supplier's id and what was added (nothing on a re-run)."""
    done: list[str] = []
    now = hub.ledger.clock()
    with hub.engine.begin() as conn:
        supplier = conn.execute(
            select(catalog.suppliers.c.id).where(catalog.suppliers.c.email == SUPPLIER_EMAIL)
        ).scalar()
        if supplier is None:
            supplier = catalog.create_supplier(
                conn, name=SUPPLIER_NAME, email=SUPPLIER_EMAIL, locale="ru", actor="demo", now=now
            )
            done.append(f"supplier {SUPPLIER_EMAIL}")
        for code, category, ru, en, price, extra in CATALOG:
            if conn.execute(select(catalog.rewards.c.id).where(catalog.rewards.c.code == code)).first():
                continue
            form = {
                "code": code, "kind": "physical", "category": category, "name_ru": ru, "name_en": en,
                "points_price": price, "supplier_id": str(supplier), **extra,
            }  # fmt: skip
            reward_id = catalog.create_reward(
                conn, catalog.parse_draft(form), actor="demo", reason="demo", now=now
            )
            images.add_image(conn, reward_id, _picture(en, len(done)), actor="demo", now=now)
            done.append(f"reward {code}")
    return int(supplier), done


COLOURS = ((11, 92, 173), (27, 110, 32), (181, 129, 0), (164, 22, 26), (74, 74, 74), (90, 60, 140))


def _picture(title: str, index: int) -> bytes:
    """A plain demo picture (a coloured card with the reward's name), through the staff path's checks."""
    colour = COLOURS[index % len(COLOURS)]
    image = Image.new("RGB", (640, 360), colour)
    draw = ImageDraw.Draw(image)
    draw.ellipse((420, 60, 620, 260), fill=(255, 255, 255))
    draw.text((32, 280), title, fill=(255, 255, 255), font=ImageFont.load_default(size=40))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
