"""The clients are tested against the emulator over real HTTP: uvicorn in a background thread on a
free loopback port (the emulator suite's ``ServerThread``). One server per configuration for the
session; each test starts from the demo fixtures with no faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.onec.odata import ODataClient
from tests.onec_live import Base

SITE_USER, SITE_PASSWORD = "Сайт", "сайт-пароль"
PLAN = "ExchangePlan_ОбменССайтом"
SITE_NODE = "8b1f2a60-0c0e-11ef-9a40-0050569f0002"


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
