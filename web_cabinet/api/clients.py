"""API clients: creating one (its key is shown once), listing and revoking them. Used by the CLI.

A key is ``bb_<prefix>_<secret>``: the prefix finds the client's row, and only the key's SHA-256 is
stored. The secret has 256 random bits, so a fast hash is enough (no password stretching needed):
nobody can guess a key from its hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from bonusbridge.models import ApiClient, utcnow

#: What a client may be allowed to do; each endpoint names the one it needs.
SCOPES = ("read", "quote", "checkout", "accrue", "refund", "till")
KEY_PATTERN = re.compile(r"bb_(?P<prefix>[0-9a-f]{12})_[A-Za-z0-9_-]{43}")


class ClientError(Exception):
    """A request to manage clients that cannot be done (duplicate name, unknown scope, unknown client)."""


@dataclass(frozen=True)
class ClientInfo:
    name: str
    key_prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(text: str) -> tuple[str, ...]:
    """``read,quote`` or ``read quote`` → the scopes, in catalog order; refuses unknown ones."""
    wanted = {part for part in re.split(r"[\s,]+", text.strip()) if part}
    unknown = wanted - set(SCOPES)
    if unknown:
        raise ClientError(f"unknown scope(s): {', '.join(sorted(unknown))}; known: {', '.join(SCOPES)}")
    if not wanted:
        raise ClientError("at least one scope is required")
    return tuple(scope for scope in SCOPES if scope in wanted)


def create_client(engine: Engine, name: str, scopes: tuple[str, ...]) -> str:
    """Create a client and return its key: the only time the key exists in clear."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ClientError("a client name of 1 to 80 characters is required")
    prefix = secrets.token_hex(6)
    key = f"bb_{prefix}_{secrets.token_urlsafe(32)}"
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(ApiClient).values(
                    name=name,
                    key_prefix=prefix,
                    key_hash=hash_key(key),
                    scopes=" ".join(scopes),
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        raise ClientError(f"a client named {name!r} already exists") from None
    return key


def list_clients(engine: Engine) -> list[ClientInfo]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                ApiClient.name,
                ApiClient.key_prefix,
                ApiClient.scopes,
                ApiClient.created_at,
                ApiClient.revoked_at,
                ApiClient.last_used_at,
            ).order_by(ApiClient.name)
        ).all()
    return [
        ClientInfo(name, prefix, tuple(scopes.split()), created, revoked, used)
        for name, prefix, scopes, created, revoked, used in rows
    ]


def revoke_client(engine: Engine, name: str) -> bool:
    """Revoke the client's key (kept for the audit). False if it was already revoked."""
    with engine.begin() as conn:
        found = conn.execute(select(ApiClient.revoked_at).where(ApiClient.name == name)).first()
        if found is None:
            raise ClientError(f"no client named {name!r}")
        if found.revoked_at is not None:
            return False
        conn.execute(update(ApiClient).where(ApiClient.name == name).values(revoked_at=utcnow()))
    return True
