"""What the endpoint modules share: path parameters, id decoding, and running a read or a write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from bonusbridge.ledger.book import LedgerBook
from bonusbridge.orders import service as orders
from bonusbridge.points import store
from bonusbridge.points.program import Program
from web_cabinet.api import ids, schemas
from web_cabinet.api.auth import Principal
from web_cabinet.api.deps import hub_of, id_secret, settings_of
from web_cabinet.api.idempotency import REPLAY_HEADER, Write, run_write
from web_cabinet.api.problems import ApiProblem

CardPath = Annotated[str, Path(pattern=ids.pattern("card"), description="Opaque card id.")]
HoldPath = Annotated[str, Path(pattern=ids.pattern("hold"), description="Opaque hold id.")]
OrderPath = Annotated[str, Path(pattern=schemas.ORDER_PATTERN, description="The shop's order number.")]
REPLAY_DOC = {
    REPLAY_HEADER: {
        "description": "`true` when an earlier call with this Idempotency-Key answered.",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
}


def program(request: Request, conn: Connection) -> Program:
    """The points program (versions and campaigns), loaded once per process and re-checked at most
    every ``points_cache_seconds``."""
    cache = getattr(request.app.state, "program_cache", None)
    if cache is None:
        cache = request.app.state.program_cache = store.ProgramCache()
    return cache.get(conn, settings_of(request))


def row_id(request: Request, kind: ids.Kind, public_id: str, unknown: Callable[[], Exception]) -> int:
    """The row id behind a public id of ``kind``; ``unknown()`` is raised for one that is not ours."""
    decoded = ids.decode(kind, public_id, id_secret(request))
    if decoded is None:
        raise unknown()
    return decoded


def card_row_id(request: Request, public_id: str) -> int:
    return row_id(request, "card", public_id, lambda: ApiProblem("unknown_card", "no such card"))


def hold_row_id(request: Request, public_id: str) -> int:
    return row_id(
        request, "hold", public_id, lambda: ApiProblem("unknown_hold", "no such hold for this client")
    )


def read(request: Request, work: Callable[[LedgerBook], BaseModel]) -> BaseModel:
    """Run a read on an autocommit connection (no BEGIN and ROLLBACK round trips around it) of the
    hub's read engine, which skips the pool's pre-ping: a read that met a dead connection (the
    database restarted) is simply run again, once, on a fresh one."""
    hub = hub_of(request)
    for attempt in (1, 2):
        try:
            with hub.read_engine.connect() as conn:
                if hub.read_engine is hub.engine:  # SQLite: the one engine, made autocommit here
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                return work(LedgerBook(conn, now=hub.ledger.clock()))
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


def serialized(model: BaseModel) -> Response:
    """An answer already checked by its own model: serialized once in pydantic's core, skipping
    FastAPI's dump, re-validate and encode of the response model (a 50-line quote's biggest cost
    after the engine). The route still declares ``response_model`` for the OpenAPI document."""
    return Response(model.model_dump_json(), media_type="application/json")


def write(
    request: Request,
    client: Principal,
    key: str,
    operation: str,
    fingerprinted: dict[str, Any],
    work: Callable[[LedgerBook, Write], tuple[int, BaseModel]],
) -> JSONResponse:
    outcome = run_write(hub_of(request), Write(client, key, operation), fingerprinted, work)
    return JSONResponse(
        outcome.body,
        status_code=outcome.status_code,
        headers={REPLAY_HEADER: "true" if outcome.replayed else "false"},
    )


def caller(write: Write) -> orders.Caller:
    """The order service's caller for an idempotent write: the client, and the request's key."""
    return orders.Caller(write.client.client_id, write.client.name, write.ledger_key)


def hold_out(request: Request, record: Any, order: orders.Order) -> schemas.HoldOut:
    secret = id_secret(request)
    return schemas.HoldOut(
        hold_id=ids.encode("hold", record.id, secret),
        card_id=ids.encode("card", record.card_id, secret),
        order_id=order.reference,
        points=record.amount,
        captured=record.captured,
        status=record.status.value,
        expires_at=record.expires_at,
    )
