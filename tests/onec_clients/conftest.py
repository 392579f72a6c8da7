"""The clients are tested against the emulator over real HTTP: uvicorn in a background thread on a
free loopback port (the emulator suite's ``ServerThread``). One server per configuration for the
session; each test starts from the demo fixtures with no faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.onec.emulator.app import create_app
from connectors.onec.odata import ODataClient
from tests.onec_emulator.conftest import Base, ServerThread

SITE_USER, SITE_PASSWORD = "Сайт", "сайт-пароль"
PLAN = "ExchangePlan_ОбменССайтом"
SITE_NODE = "8b1f2a60-0c0e-11ef-9a40-0050569f0002"


def _serve(config: str, **kwargs: object) -> Iterator[Base]:
    with ServerThread(create_app(config, fixtures="demo", **kwargs)) as server:  # type: ignore[arg-type]
        yield Base(server, config)


@pytest.fixture(scope="session")
def retail_server() -> Iterator[Base]:
    yield from _serve("retail")


@pytest.fixture(scope="session")
def ut11_server() -> Iterator[Base]:
    yield from _serve("ut11")


@pytest.fixture(scope="session")
def strict_server() -> Iterator[Base]:
    yield from _serve("retail", strict=True)


@pytest.fixture
def retail(retail_server: Base) -> Base:
    retail_server.reset()
    return retail_server


@pytest.fixture
def strict(strict_server: Base) -> Base:
    strict_server.reset()
    return strict_server


@pytest.fixture(params=["retail", "ut11"])
def any_base(request: pytest.FixtureRequest) -> Base:
    base: Base = request.getfixturevalue(f"{request.param}_server")
    base.reset()
    return base


def client_for(
    base: Base, user: str = SITE_USER, password: str = SITE_PASSWORD, **kwargs: object
) -> ODataClient:
    kwargs.setdefault("timeout", 10.0)
    return ODataClient(f"{base.origin}/{base.base}", user, password, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def client(retail: Base) -> Iterator[ODataClient]:
    with client_for(retail) as c:
        yield c


def set_faults(base: Base, **faults: object) -> None:
    with base.admin() as admin:
        response = admin.put("/_admin/faults", json=faults)
    assert response.status_code == 200, response.text
