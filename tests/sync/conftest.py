"""The sync against the live emulator (tests/onec_live.py) and the hub database of tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from bonusbridge.settings import Settings, load_settings
from connectors.onec.odata import ODataClient
from connectors.sync.context import SyncContext
from connectors.sync.listener import Listener
from connectors.sync.runner import drain_everything
from tests.onec_live import ADMIN, SITE, Base


def sync_settings(base: Base, **overrides: Any) -> Settings:
    return load_settings(
        onec_config=base.config,
        onec_base_url=f"{base.origin}/{base.base}",
        onec_timeout_seconds=5,
        onec_timezone="UTC",  # the emulator stamps documents with this machine's clock, in UTC
        sync_backoff_base_seconds=0.05,
        sync_backoff_max_seconds=0.2,
        sync_breaker_open_seconds=0.3,
        **overrides,
    )


class Harness:
    """One hub + one emulated 1C, synced in-process: ``sync()`` runs the listener and the drains
    until both sides are quiet."""

    def __init__(self, base: Base, engine: Engine, **overrides: Any) -> None:
        self.base = base
        self.settings = sync_settings(base, **overrides)
        self.ctx = SyncContext.from_settings(self.settings, engine)
        self.listener = Listener(self.ctx)
        self.onec = ODataClient(f"{base.origin}/{base.base}", *ADMIN, timeout=10)

    def sync(self, rounds: int = 5) -> None:
        for _ in range(rounds):
            received = self.listener.poll_once()
            handled = drain_everything(self.ctx)
            if not received and not handled:
                return

    def till(self, card: str, accrued: str = "0", redeemed: str = "0", amount: str = "100") -> dict[str, Any]:
        with httpx.Client(base_url=self.base.origin, auth=ADMIN, timeout=10) as http:
            response = http.post(
                f"/{self.base.base}/hs/loyalty/receipts",
                json={"card": card, "accrued": accrued, "redeemed": redeemed, "amount": amount},
            )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def onec_balance(self, card_ref: str) -> Decimal:
        field = "ДисконтнаяКарта_Key" if self.base.config == "retail" else "Партнер_Key"
        rows = self.onec.balance("AccumulationRegister_БонусныеБаллы")
        return sum((Decimal(r["НачисленоBalance"]) for r in rows if r.get(field) == card_ref), Decimal("0"))

    def close(self) -> None:
        self.onec.close()


@pytest.fixture
def harness(retail: Base, db: Engine) -> Iterator[Harness]:
    h = Harness(retail, db)
    yield h
    h.close()


__all__ = ["SITE", "Harness"]
