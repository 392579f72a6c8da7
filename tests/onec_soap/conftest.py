"""The emulator runs for real (uvicorn in a thread on a free port, see ``tests/onec_emulator``); the
SOAP web service and the HTTP service are reached over HTTP by zeep and httpx. One server per
configuration for the session; each test starts from the demo fixtures with no faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.onec.hs_client import LoyaltyHttpClient
from connectors.onec.soap_client import LoyaltySoapClient
from tests.onec_live import ADMIN, SITE, Base

__all__ = ["ADMIN", "SITE", "Base"]

# Demo fixture keys (both configurations).
IVANOV = "10000000-0000-4000-8000-000000000001"
PETROVA = "10000000-0000-4000-8000-000000000002"
CARD_IVANOV_1 = "2000000000011"  # retail 650, ut11 (Иванов) 750
CARD_IVANOV_2 = "2000000000028"  # retail 100, ut11 (Иванов) 750
CARD_PETROVA = "2000000000035"  # 1200 in both
IVANOV_PHONE = "+7 (916) 123-45-67"


@pytest.fixture
def base(any_base: Base) -> Base:
    """Each test once per configuration (retail: bonuses per card; ut11: per partner)."""
    return any_base


def publication(base: Base) -> str:
    return f"{base.origin}/{base.base}"


def soap_client(base: Base, user: tuple[str, str] = SITE, **kwargs: object) -> LoyaltySoapClient:
    return LoyaltySoapClient(publication(base), *user, timeout=5, **kwargs)  # type: ignore[arg-type]


def hs_client(base: Base, user: tuple[str, str] = SITE, **kwargs: object) -> LoyaltyHttpClient:
    return LoyaltyHttpClient(publication(base), *user, timeout=5, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def soap(base: Base) -> Iterator[LoyaltySoapClient]:
    with soap_client(base) as client:
        yield client


@pytest.fixture
def hs(base: Base) -> Iterator[LoyaltyHttpClient]:
    with hs_client(base) as client:
        yield client
