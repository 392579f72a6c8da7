"""A live 1C emulator for the tests: uvicorn in a background thread on a free 127.0.0.1 port,
reached over real HTTP. One server per configuration for the whole session, shared by the emulator,
client and SOAP suites (tests/conftest.py registers the fixtures); each test starts from the demo
fixtures with no faults (``/_admin/reset?reseed=true``)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from connectors.onec.emulator.app import create_app
from connectors.onec.emulator.server import ServerThread

#: Built once: creating an SSL context per httpx.Client costs ~0.1 s (the tests only speak plain HTTP).
PLAIN = ssl.create_default_context()
ADMIN = ("Администратор", "")
SITE = ("Сайт", "сайт-пароль")


def odata_query(**options: Any) -> str:
    """A query string the way 1C wants it: spaces as %20 (httpx's ``params=`` would use ``+``)."""
    parts = []
    for name, value in options.items():
        key = name if name in ("DataExchangePoint", "MessageNo", "PostingModeOperational") else f"${name}"
        parts.append(f"{key}={quote(str(value), safe=chr(39) + '(),=:/$')}")
    return "?" + "&".join(parts)


@dataclass
class Base:
    """A running emulated base: ``odata`` talks to the OData root as the administrator."""

    server: ServerThread
    config: str
    base: str = "dobrostroy"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def root(self) -> str:
        return f"{self.origin}/{self.base}/odata/standard.odata/"

    def client(self, auth: tuple[str, str] | None = ADMIN, **kwargs: Any) -> httpx.Client:
        timeout = kwargs.pop("timeout", 10)
        return httpx.Client(base_url=self.root, auth=auth, timeout=timeout, verify=PLAIN, **kwargs)

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.origin, timeout=10, verify=PLAIN)

    def get_json(self, path: str, auth: tuple[str, str] = ADMIN, **options: Any) -> Any:
        with self.client(auth) as c:
            response = c.get(path + odata_query(format="json", **options))
        assert response.status_code == 200, response.text
        return response.json()

    def reset(self) -> None:
        with self.admin() as admin:
            assert admin.put("/_admin/faults", json={}).status_code == 200
            assert admin.post("/_admin/reset?reseed=true").status_code == 200


def _serve(config: str, **kwargs: Any) -> Iterator[Base]:
    with ServerThread(create_app(config, fixtures="demo", **kwargs)) as server:
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
def ut11(ut11_server: Base) -> Base:
    ut11_server.reset()
    return ut11_server


@pytest.fixture
def strict(strict_server: Base) -> Base:
    strict_server.reset()
    return strict_server


@pytest.fixture(params=["retail", "ut11"])
def any_base(request: pytest.FixtureRequest) -> Base:
    base: Base = request.getfixturevalue(f"{request.param}_server")
    base.reset()
    return base


# Demo fixture keys shared by both configurations.
PARTNER_IVANOV = "10000000-0000-4000-8000-000000000001"
PARTNER_PETROVA = "10000000-0000-4000-8000-000000000002"
PROGRAM = "30000000-0000-4000-8000-000000000001"
CARD_1 = "40000000-0000-4000-8000-000000000001"
CARD_2 = "40000000-0000-4000-8000-000000000002"
EMPTY = "00000000-0000-0000-0000-000000000000"
