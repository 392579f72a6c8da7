"""The shop API on a bare FastAPI app, on the suite's database and hand-moved clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.testclient import TestClient

from bonusbridge.app import Hub
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Origin
from bonusbridge.settings import Settings
from web_cabinet.api import ids, mount_api
from web_cabinet.api.clients import SCOPES, create_client

ALL_SCOPES = ",".join(SCOPES)


@pytest.fixture
def settings(db: Engine) -> Settings:
    return Settings(database_url=db.url.render_as_string(hide_password=False))


@pytest.fixture
def hub(db: Engine, clock: Any, settings: Settings) -> Hub:
    ledger = LedgerService(
        db, clock=clock, hold_ttl=timedelta(minutes=15), expiring_within=timedelta(days=30)
    )
    return Hub(settings=settings, engine=db, ledger=ledger)


@pytest.fixture
def app(hub: Hub) -> FastAPI:
    app = FastAPI()
    app.state.hub = hub
    mount_api(app)
    return app


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class Api:
    """A client of the API with its key; ``post`` adds a fresh Idempotency-Key unless given one."""

    http: TestClient
    key: str
    keys: Any = field(default_factory=lambda: count(1))

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def get(self, path: str) -> Any:
        return self.http.get(f"/api/v1{path}", headers=self.headers())

    def post(self, path: str, body: Any = None, *, key: str | None = None, write: bool = True) -> Any:
        idem = (key or f"k-{next(self.keys)}") if write else None
        return self.http.post(f"/api/v1{path}", json=body, headers=self.headers(idem))

    def read(self, path: str, body: Any) -> Any:
        return self.post(path, body, write=False)


MakeApi = Callable[..., Api]


@pytest.fixture
def make_api(http: TestClient, db: Engine) -> MakeApi:
    names = count(1)

    def factory(scopes: str = ALL_SCOPES, name: str | None = None) -> Api:
        key = create_client(db, name or f"shop-{next(names)}", tuple(scopes.split(",")))
        return Api(http, key)

    return factory


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    return make_api()


@pytest.fixture
def card_id(settings: Settings) -> Callable[[int], str]:
    """The public id of a card row id."""
    secret = settings.api_id_secret.get_secret_value().encode()
    return lambda row_id: ids.encode("card", row_id, secret)


@pytest.fixture
def fund(hub: Hub) -> Callable[..., None]:
    """``fund(card, "100.00", **accrue kwargs)``: points on a card, as a till would accrue them."""
    keys = count(1)

    def accrue(card: int, amount: str, **kwargs: Any) -> None:
        hub.ledger.accrue(card, Decimal(amount), key=f"till-{next(keys)}", origin=Origin.ONEC, **kwargs)

    return accrue
