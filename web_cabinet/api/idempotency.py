"""Idempotent writes: the first answer to an ``Idempotency-Key`` is stored with the effect, in one
transaction, and given again to every retry of the same request.

The request is fingerprinted (operation, path ids, canonical body); a retry with another body is
refused with ``idempotency_conflict`` rather than silently answered with the first result, because
it is a client bug (a reused key). Refused writes store nothing and may be retried as they are, as
the ledger's own refusals (README: "A refused call writes nothing, so it can be retried").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.exc import IntegrityError

from bonusbridge.app import Hub
from bonusbridge.ledger.book import LedgerBook
from bonusbridge.models import ApiIdempotencyKey
from web_cabinet.api.auth import Principal
from web_cabinet.api.problems import ApiProblem

KEY_PATTERN = r"^[!-~]{1,120}$"
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Unique per operation (e.g. a UUID); a retry sends the same key and body.",
    ),
]
REPLAY_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: dict[str, Any]
    replayed: bool


@dataclass(frozen=True)
class Write:
    """One idempotent write by ``client`` under ``key``; ``ledger_key`` namespaces its ledger ops."""

    client: Principal
    key: str
    operation: str

    @property
    def ledger_key(self) -> str:
        return f"api:{self.client.client_id}:{self.key}"


Work = Callable[[LedgerBook, Write], tuple[int, BaseModel]]


def fingerprint(operation: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, "request": request}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _serialize_key(conn: Connection, write: Write) -> None:
    """Make a second request with the same key wait for the first to commit, then see its answer.

    Without it, a retry racing its original would read "key not seen", compute its own effect from
    state the original is changing (a refund's amounts), and collide with it in the ledger. SQLite
    needs nothing: its write transactions already run one at a time (``BEGIN IMMEDIATE``)."""
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(f"api-idempotency:{write.client.client_id}:{write.key}".encode()).digest()
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:lock)"),
            {"lock": int.from_bytes(digest[:8], "big", signed=True)},
        )


def run_write(hub: Hub, write: Write, request: dict[str, Any], work: Work) -> Outcome:
    """Do ``work`` once per key: in the ledger's transaction (retried on serialization failures), or
    answer with what the first call answered."""
    digest = fingerprint(write.operation, request)

    def attempt(book: LedgerBook) -> Outcome:
        _serialize_key(book.conn, write)
        seen = book.conn.execute(
            select(
                ApiIdempotencyKey.operation,
                ApiIdempotencyKey.fingerprint,
                ApiIdempotencyKey.status_code,
                ApiIdempotencyKey.response,
            ).where(ApiIdempotencyKey.client_id == write.client.client_id, ApiIdempotencyKey.key == write.key)
        ).first()
        if seen is not None:
            if seen.fingerprint != digest:
                raise ApiProblem(
                    "idempotency_conflict",
                    f"this Idempotency-Key was already used for a different {seen.operation} request; "
                    "use a new key for a new operation",
                )
            body = json.loads(seen.response)
            body["replayed"] = True
            return Outcome(seen.status_code, body, replayed=True)
        status_code, model = work(book, write)
        body = model.model_dump(mode="json")
        book.conn.execute(
            insert(ApiIdempotencyKey).values(
                client_id=write.client.client_id,
                key=write.key,
                operation=write.operation,
                fingerprint=digest,
                status_code=status_code,
                response=json.dumps(body),
                created_at=book.now,
            )
        )
        return Outcome(status_code, body, replayed=False)

    try:
        return hub.ledger.run(attempt)
    except IntegrityError:
        # The same key raced in from another request and committed first: answer as it did.
        return hub.ledger.run(attempt)
