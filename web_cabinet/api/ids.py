"""Opaque public ids of cards, customers and holds: the row id plus an HMAC tag, base64url-encoded.

Row ids are sequential; handing them out would let a client walk every card by counting. A tagged
id is stable (no table needed), cannot be forged without ``api_id_secret``, and a guessed or
mangled one simply names nothing (404), exactly like an unknown id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Literal

Kind = Literal["card", "customer", "hold", "reward_order"]

PREFIXES: dict[Kind, str] = {"card": "crd", "customer": "cus", "hold": "hld", "reward_order": "rwo"}
_TAG_BYTES = 10
_ID_BYTES = 8
#: The body is 18 bytes: exactly 24 base64url characters, no padding.
BODY_LENGTH = 24
#: The largest row id a table holds (its ``id`` is an SQL INTEGER). Eight bytes can carry more; a
#: signed id beyond this names no row, and is answered as one (404) rather than sent to the
#: database, which refuses the number (an overflow, a 500).
MAX_ROW_ID = 2**31 - 1


def pattern(kind: Kind) -> str:
    """The JSON-schema pattern of an id of this kind (used by the OpenAPI document)."""
    return rf"^{PREFIXES[kind]}_[A-Za-z0-9_-]{{{BODY_LENGTH}}}$"


def _tag(secret: bytes, kind: Kind, body: bytes) -> bytes:
    return hmac.new(secret, kind.encode() + b":" + body, hashlib.sha256).digest()[:_TAG_BYTES]


def encode(kind: Kind, row_id: int, secret: bytes) -> str:
    body = row_id.to_bytes(_ID_BYTES, "big")
    token = base64.urlsafe_b64encode(body + _tag(secret, kind, body)).decode().rstrip("=")
    return f"{PREFIXES[kind]}_{token}"


def decode(kind: Kind, public_id: str, secret: bytes) -> int | None:
    """The row id, or None when the id is malformed, of another kind, or not signed by us."""
    prefix, _, token = public_id.partition("_")
    if prefix != PREFIXES[kind] or len(token) != BODY_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    body, tag = raw[:_ID_BYTES], raw[_ID_BYTES:]
    if len(tag) != _TAG_BYTES or not hmac.compare_digest(tag, _tag(secret, kind, body)):
        return None
    row_id = int.from_bytes(body, "big")
    return row_id if 0 < row_id <= MAX_ROW_ID else None
