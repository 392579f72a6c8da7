"""``/media/rewards/<id>-<hash>.<ext>``: rewards' images, served with caching headers. The address
carries the content's hash (``images.url_of``), so an image never changes under its URL: browsers
and proxies keep it a year (``immutable``), and a revalidation by ETag answers 304. No session is
read or written here (``sessions.NOT_PAGES``), so a shared cache may keep the answer."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from bonusbridge.rewards import images
from web_cabinet.context import cabinet

router = APIRouter(prefix="/media/rewards", include_in_schema=False)
CACHE = "public, max-age=31536000, immutable"


@router.get("/{name}")
def reward_image(request: Request, name: str) -> Response:
    stem, _, ext = name.partition(".")
    image_id, _, short = stem.partition("-")
    if not image_id.isdigit() or len(image_id) > 9:
        return Response(status_code=404)
    with cabinet(request).hub.read_engine.connect() as conn:
        found = images.image(conn, int(image_id))
    if found is None:
        return Response(status_code=404)
    content_type, data, digest = found
    if short != digest[:16] or ext != images.EXTENSIONS.get(content_type):
        return Response(status_code=404)  # an old or made-up address: never another image's bytes
    etag = f'"{digest[:32]}"'
    headers = {"Cache-Control": CACHE, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content=data, media_type=content_type, headers=headers)
