"""The emulator as an ASGI app: ``create_app()`` for tests and the in-process demo, the CLI for a
standalone server.

Routes: ``/<base>/odata/standard.odata/...`` (Basic auth), ``/_admin/...`` (no auth: faults, reset,
fixtures, registrations), and any ``extra_routes`` — the extension point for the SOAP web service
and ``/hs/`` HTTP services, which find the emulator (store, config, authenticator) on
``request.app.state.emulator``. Middleware order, outermost first: IIS request limits, then faults,
then the app — faults therefore also hit extra routes, as a broken 1C breaks every interface at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .admin import admin_routes
from .auth import Authenticator, Identity, unauthorized
from .exchange import ExchangeService
from .faults import FaultInjector, FaultMiddleware, Faults
from .fixtures import FixtureReport, load_fixtures, read_fixtures
from .hs import http_service_routes
from .iis import IisLimits, IisMiddleware
from .loyalty import LoyaltyService
from .odata.errors import ODataError, error_response
from .odata.query import parse_options, wants_json
from .odata.service import Call, ODataService
from .schema import Config, load_config, without_extension
from .sessions import FairShareByUser
from .soap import web_service_routes
from .store import Store

log = logging.getLogger(__name__)


@dataclass
class Emulator:
    """Everything one emulated 1C base is made of; ``app.state.emulator``."""

    config: Config
    store: Store
    exchange: ExchangeService
    auth: Authenticator
    odata: ODataService
    faults: FaultInjector
    base: str
    fixtures: str | Path | None = None

    @property
    def odata_prefix(self) -> str:
        return f"/{self.base}/odata/standard.odata"

    @cached_property
    def loyalty(self) -> LoyaltyService:
        """The base's loyalty module (what its web and HTTP services call), for in-process callers
        too: ``emulator.loyalty.post_receipt(...)`` is a till selling, without HTTP."""
        return LoyaltyService(self.config, self.store)

    def authenticate(self, request: Request) -> Identity | None:
        return self.auth.authenticate(request.headers.get("authorization"))

    def reset(self, *, reseed: bool = False) -> FixtureReport | None:
        """Empty the base (objects, records, registrations, counters); optionally reload the fixtures."""
        self.store.reset()
        with self.store.begin() as tx:
            self.exchange.ensure_nodes(tx)
        if reseed and self.fixtures is not None:
            return load_fixtures(self.store, self.config, read_fixtures(self.fixtures, self.config))
        return None


def store_for(config: Config, database_url: str | None = None) -> Store:
    """The store of a base of ``config``: its indexed fields looked up by value and the current
    totals of its balance registers kept, as 1C keeps them."""
    return Store(
        database_url,
        indexes={e.name: e.indexed for e in config.entity_sets.values() if e.indexed},
        totals={
            r.name: (tuple(r.dimensions), tuple(r.resources))
            for r in config.registers.values()
            if r.kind == "balance"
        },
    )


def create_app(
    config: str | Path | Config = "retail",
    *,
    database_url: str | None = None,
    base: str = "dobrostroy",
    users: Mapping[str, str] | None = None,
    strict: bool = False,
    faults: Faults | Mapping[str, Any] | None = None,
    fixtures: str | Path | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    iis_limits: IisLimits | None = IisLimits(),  # noqa: B008 - immutable
    echo_suppression: bool = True,
    extension: bool = True,
    fair_share: bool = False,
) -> Starlette:
    """An emulated 1C base.

    ``config``: ``retail``, ``ut11`` or a YAML path. ``database_url``: the emulator's own database
    (default: private in-memory SQLite). ``users``: login → password, replacing the configuration's
    (nodes and rights of known logins are kept). ``strict``: enforce DataVersion (412), which real 1C
    does not. ``faults``: initial fault settings. ``fixtures``: a JSON/YAML seed file or ``demo``.
    ``echo_suppression=False``: an uncustomized base that registers the website user's own writes
    back to its node (the README's customization missing), to test the hub's own echo detection.
    ``extension=False``: the standard configuration without the chain's extension (``ut11``: no
    ``ТолькоНакопление`` card status; writing it answers 400 "Неверное значение перечисления").
    ``fair_share=True``: requests take turns per 1C user rather than per connection
    (``sessions.FairShareByUser``: the website's sessions keep their share next to a till network's).
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    if not extension:
        cfg = without_extension(cfg)
    store = store_for(cfg, database_url)
    exchange = ExchangeService(store, cfg)
    exchange.echo_suppression = echo_suppression
    with store.begin() as tx:
        exchange.ensure_nodes(tx)
    initial = faults if isinstance(faults, Faults) else Faults.from_dict(dict(faults or {}))
    emulator = Emulator(
        config=cfg,
        store=store,
        exchange=exchange,
        auth=Authenticator(cfg.users, users),
        odata=ODataService(cfg, store, exchange, strict=strict),
        faults=FaultInjector(initial),
        base=base,
        fixtures=fixtures,
    )
    if fixtures is not None:
        load_fixtures(store, cfg, read_fixtures(fixtures, cfg))

    async def odata_endpoint(request: Request) -> Response:
        identity = emulator.authenticate(request)
        if identity is None:
            return unauthorized()
        root = f"{str(request.base_url).rstrip('/')}{emulator.odata_prefix}/"
        raw_query = request.scope.get("query_string", b"").decode("utf-8", "replace")
        as_json = wants_json(raw_query, request.headers.get("accept", ""))
        try:
            options = parse_options(raw_query, request.headers.get("accept", ""))
            call = Call(
                request=request,
                root=root,
                options=options,
                origin_node=exchange.node_of_user(identity.user),
                read_only=identity.read_only,
            )
            return await emulator.odata.handle(call, request.path_params.get("rest", ""))
        except ODataError as exc:
            return exc.response(json=as_json)
        except Exception as exc:  # a bug in the emulator still answers like a failed 1C handler
            log.exception("emulator failure on %s %s", request.method, request.url.path)
            return error_response(500, "-1", f"Ошибка при выполнении операции: {exc}", json=as_json)

    methods = ["GET", "POST", "PATCH", "PUT", "MERGE", "DELETE"]
    routes: list[BaseRoute] = [
        *admin_routes(),
        *extra_routes,
        *web_service_routes(base),
        *http_service_routes(base),
        Route(f"{emulator.odata_prefix}/{{rest:path}}", odata_endpoint, methods=methods),
        Route(emulator.odata_prefix, odata_endpoint, methods=methods),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(IisMiddleware, limits=iis_limits),
            Middleware(FaultMiddleware, injector=emulator.faults),
            *([Middleware(FairShareByUser)] if fair_share else []),
        ],
    )
    app.state.emulator = emulator
    return app
