"""Rewards' images: a staff upload checked for size and type, decoded and re-encoded by Pillow (so
what is served is a real JPEG, PNG or WebP, without the uploader's metadata — a phone photo's GPS
position included), stored in the database and audited in the caller's transaction.

Refusals are ``InvalidReward`` on field ``image`` with a message in ru and en, writing nothing:
more than ``MAX_BYTES``, not an image (or a truncated one), a type other than JPEG/PNG/WebP, more
than ``MAX_SIDE`` pixels a side (a decompression bomb is refused before it is decoded), or more
than ``MAX_PER_REWARD`` images on one reward.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from PIL import Image, UnidentifiedImageError
from sqlalchemy import Connection, Table, delete, func, insert, select

from bonusbridge import audit
from bonusbridge.rewards import catalog, errors
from bonusbridge.rewards.models import RewardImage

images = cast(Table, RewardImage.__table__)

MAX_BYTES = 5 * 1024 * 1024
MAX_SIDE = 4000
MAX_PER_REWARD = 8
TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
EXTENSIONS = {content_type: ext for content_type, ext in TYPES.values()}


def _refused(ru: str, en: str) -> errors.InvalidReward:
    error = errors.InvalidReward(field="image", ru=ru, en=en)
    error.field = "image"  # type: ignore[attr-defined]
    return error


def too_large() -> errors.InvalidReward:
    mib = MAX_BYTES // (1024 * 1024)
    return _refused(f"файл больше {mib} МБ", f"the file is larger than {mib} MB")


@dataclass(frozen=True)
class Checked:
    content_type: str
    data: bytes
    width: int
    height: int


def check(content: bytes) -> Checked:
    """The upload as the image to keep, or ``InvalidReward`` saying why not."""
    if len(content) > MAX_BYTES:
        raise too_large()
    if not content:
        raise _refused("файл пуст", "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as probe:
                kind = probe.format or ""
                width, height = probe.size
                if kind not in TYPES:
                    raise _refused("нужен JPEG, PNG или WebP", "a JPEG, PNG or WebP image is required")
                if width > MAX_SIDE or height > MAX_SIDE or width < 1 or height < 1:
                    raise _refused(
                        f"не больше {MAX_SIDE}×{MAX_SIDE} точек", f"at most {MAX_SIDE}×{MAX_SIDE} pixels"
                    )
                probe.verify()
            with Image.open(io.BytesIO(content)) as image:
                image.load()
                out = io.BytesIO()
                if kind == "JPEG":
                    image.convert("RGB").save(out, format="JPEG", quality=88, optimize=True)
                elif kind == "PNG":
                    image.save(out, format="PNG", optimize=True)
                else:
                    image.save(out, format="WEBP", quality=88)
    except errors.InvalidReward:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refused(
            f"не больше {MAX_SIDE}×{MAX_SIDE} точек", f"at most {MAX_SIDE}×{MAX_SIDE} pixels"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _refused("это не изображение или файл повреждён", "not an image, or a damaged one") from None
    return Checked(TYPES[kind][0], out.getvalue(), width, height)


def add_image(conn: Connection, reward_id: int, content: bytes, *, actor: str, now: datetime) -> int:
    """Check and store an image of the reward; audited as ``rewards.image.add``."""
    if conn.execute(select(catalog.rewards.c.id).where(catalog.rewards.c.id == reward_id)).first() is None:
        raise errors.UnknownReward()
    checked = check(content)
    count = conn.execute(select(func.count()).where(images.c.reward_id == reward_id)).scalar_one()
    if count >= MAX_PER_REWARD:
        raise _refused(f"не больше {MAX_PER_REWARD} изображений", f"at most {MAX_PER_REWARD} images")
    digest = hashlib.sha256(checked.data).hexdigest()
    values = {
        "reward_id": reward_id,
        "content_type": checked.content_type,
        "data": checked.data,
        "sha256": digest,
        "width": checked.width,
        "height": checked.height,
        "created_at": now,
    }
    image_id = int(conn.execute(insert(images).values(**values).returning(images.c.id)).scalar_one())
    audit.record(
        conn, actor=actor, action="rewards.image.add", subject=f"reward:{reward_id}",
        details={"image": image_id, "type": checked.content_type, "bytes": len(checked.data),
                 "size": f"{checked.width}x{checked.height}"},
        at=now,
    )  # fmt: skip
    return image_id


def remove_image(conn: Connection, reward_id: int, image_id: int, *, actor: str, now: datetime) -> None:
    done = conn.execute(delete(images).where(images.c.id == image_id, images.c.reward_id == reward_id))
    if done.rowcount != 1:
        raise errors.UnknownReward()
    audit.record(
        conn, actor=actor, action="rewards.image.remove", subject=f"reward:{reward_id}",
        details={"image": image_id}, at=now,
    )  # fmt: skip


@dataclass(frozen=True)
class ImageRef:
    id: int
    reward_id: int
    url: str


def url_of(image_id: int, sha256: str, content_type: str) -> str:
    """The image's address: its hash in it, so a new image is a new URL and each can be cached forever."""
    return f"/media/rewards/{image_id}-{sha256[:16]}.{EXTENSIONS.get(content_type, 'bin')}"


def images_of(conn: Connection, reward_ids: list[int]) -> dict[int, list[ImageRef]]:
    """Each reward's images, oldest first (the first is the catalog's picture)."""
    found: dict[int, list[ImageRef]] = {}
    if not reward_ids:
        return found
    for row in conn.execute(
        select(images.c.id, images.c.reward_id, images.c.sha256, images.c.content_type)
        .where(images.c.reward_id.in_(reward_ids))
        .order_by(images.c.id)
    ):
        found.setdefault(row.reward_id, []).append(
            ImageRef(row.id, row.reward_id, url_of(row.id, row.sha256, row.content_type))
        )
    return found


def image(conn: Connection, image_id: int) -> tuple[str, bytes, str] | None:
    """(content type, bytes, sha256) of an image, or None."""
    row = conn.execute(
        select(images.c.content_type, images.c.data, images.c.sha256).where(images.c.id == image_id)
    ).first()
    return None if row is None else (row.content_type, bytes(row.data), row.sha256)
