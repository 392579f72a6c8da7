"""Rewards' images: marketing uploads one on the staff form (type and size checked by Pillow, its
metadata dropped, audited); not an image, a GIF, a 50 MB body or a decompression bomb are refused
with their message in the page's language, storing nothing; the image is served with caching
headers (a year, immutable, ETag → 304) and shown in the member's catalog."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from bonusbridge.models import StaffAudit
from bonusbridge.rewards.models import Reward, RewardImage
from tests.web_cabinet.staff import conftest as staff_fixtures
from tests.web_cabinet.staff.conftest import csrf_of, staff_log_in

settings = staff_fixtures.settings
staff = staff_fixtures.staff


def picture(fmt: str, size: tuple[int, int] = (64, 48), **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format=fmt, **options)
    return out.getvalue()


def stored(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RewardImage)).scalar_one())


def test_upload_check_serve_and_cache(client: TestClient, db: Engine, staff: dict[str, str]) -> None:
    client.cookies.set("bb_lang", "en")
    staff_log_in(client, "marketing")
    token = csrf_of(client.get("/staff/rewards").text)
    form = {"csrf_token": token, "code": "MUG", "kind": "coupon", "category": "c", "name_en": "Mug",
            "points_price": "10.00", "coupon_value": "5.00"}  # fmt: skip
    assert client.post("/staff/rewards", data=form).status_code == 303
    with db.connect() as conn:
        reward_id = conn.execute(select(Reward.id)).scalar_one()
    url = f"/staff/rewards/{reward_id}/images"

    def send(name: str, content: bytes) -> object:
        return client.post(url, data={"csrf_token": token}, files={"image": (name, content)})

    refused = send("x.jpg", b"this is not a picture")
    assert refused.status_code == 422 and "image: not an image, or a damaged one" in refused.text
    refused = send("x.gif", picture("GIF"))
    assert refused.status_code == 422 and "a JPEG, PNG or WebP image is required" in refused.text
    client.cookies.set("bb_lang", "ru")
    big = send("big.jpg", b"\xff\xd8" + b"0" * (50 * 1024 * 1024))
    assert big.status_code == 422 and "файл больше 5 МБ" in big.text
    bomb = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(bomb, format="PNG")
    refused = send("bomb.png", bomb.getvalue())
    assert refused.status_code == 422 and "не больше 4000×4000 точек" in refused.text
    assert stored(db) == 0

    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make; a phone would add its GPS position too
    assert send("mug.jpg", picture("JPEG", exif=exif.tobytes())).status_code == 303
    edit = client.get(f"/staff/rewards?edit={reward_id}")
    src = edit.text.split('<ul id="reward-images"><li><img src="', 1)[1].split('"', 1)[0]
    assert src.startswith("/media/rewards/") and src.endswith(".jpg")
    with db.connect() as conn:
        assert conn.execute(select(StaffAudit.id).where(StaffAudit.action == "rewards.image.add")).all()

    served = client.get(src)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "set-cookie" not in served.headers  # a shared cache may keep it
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.format == "JPEG" and image.size == (64, 48) and not image.getexif()
    again = client.get(src, headers={"If-None-Match": served.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get(src.replace("/media/rewards/", "/media/rewards/9")).status_code == 404
    image_id = src.rsplit("/", 1)[1].split("-", 1)[0]
    assert client.get(f"/media/rewards/{image_id}-0000000000000000.jpg").status_code == 404
