"""``/_admin``: the test harness's controls, outside the emulated 1C (no auth, never faulted).

- ``GET /_admin/faults`` the current fault settings; ``PUT`` replaces them (missing = default),
  ``PATCH`` changes only the given ones. 400 with ``{"error": ...}`` on an unknown name or bad value.
- ``POST /_admin/reset[?reseed=true]`` empties the base; ``reseed`` reloads the start-up fixtures.
- ``POST /_admin/fixtures[?name=demo]`` loads a JSON/YAML fixture document from the body (or the
  shipped demo) and answers what it created.
- ``GET /_admin/registrations?node=<code or Ref_Key>`` the node's exchange-plan registrations.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .faults import FaultConfigError, Faults
from .fixtures import FixtureError, load_fixtures, parse_fixtures, read_fixtures

if TYPE_CHECKING:
    from .app import Emulator


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


def _error(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def faults_endpoint(request: Request) -> Response:
    emulator = _emulator(request)
    if request.method == "GET":
        return JSONResponse(emulator.faults.faults.as_dict())
    try:
        body: Any = json.loads(await request.body() or b"{}")
        if not isinstance(body, dict):
            return _error("expected a JSON object of fault settings")
        base = emulator.faults.faults if request.method == "PATCH" else None
        emulator.faults.configure(Faults.from_dict(body, base))
    except (ValueError, FaultConfigError) as exc:
        return _error(str(exc))
    return JSONResponse(emulator.faults.faults.as_dict())


async def reset_endpoint(request: Request) -> Response:
    emulator = _emulator(request)
    try:
        report = emulator.reset(reseed=request.query_params.get("reseed") == "true")
    except FixtureError as exc:
        return _error(str(exc))
    return JSONResponse({"reset": True, "fixtures": report.as_dict() if report else None})


async def fixtures_endpoint(request: Request) -> Response:
    emulator = _emulator(request)
    try:
        name = request.query_params.get("name")
        data = read_fixtures(name, emulator.config) if name else parse_fixtures(await request.body())
        report = load_fixtures(emulator.store, emulator.config, data)
    except FixtureError as exc:
        return _error(str(exc))
    return JSONResponse(report.as_dict())


async def registrations_endpoint(request: Request) -> Response:
    emulator = _emulator(request)
    plan = emulator.exchange.plan
    wanted = request.query_params.get("node", "")
    node = None if plan is None else next((n for n in plan.nodes if wanted in (n.code, n.ref)), None)
    if node is None:
        return _error(f"no exchange-plan node {wanted!r}", 404)
    with emulator.store.begin() as tx:
        rows = emulator.exchange.pending(tx, node.ref)
    return JSONResponse(
        [{"entity_set": r.entity_set, "key": r.key, "message_no": r.message_no} for r in rows]
    )


def admin_routes() -> list[BaseRoute]:
    return [
        Route("/_admin/faults", faults_endpoint, methods=["GET", "PUT", "PATCH"]),
        Route("/_admin/reset", reset_endpoint, methods=["POST"]),
        Route("/_admin/fixtures", fixtures_endpoint, methods=["POST"]),
        Route("/_admin/registrations", registrations_endpoint, methods=["GET"]),
    ]
