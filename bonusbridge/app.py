"""Wiring: one place that turns settings into an engine, a session factory and a ledger service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from sqlalchemy import Engine

from bonusbridge.db import create_db_engine, create_read_engine
from bonusbridge.ledger.async_reads import AsyncBalanceReader
from bonusbridge.ledger.service import LedgerService
from bonusbridge.settings import Settings
from bonusbridge.unit_of_work import UnitOfWork


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    ledger: LedgerService
    _read_engine: Engine | None = field(default=None, init=False, repr=False)
    _async_reader: AsyncBalanceReader | None = field(default=None, init=False, repr=False)
    _async_checked: bool = field(default=False, init=False, repr=False)

    @property
    def async_reader(self) -> AsyncBalanceReader | None:
        """Balances awaited on asyncio connections to the same database (PostgreSQL only), made
        on first use: an async web handler awaits them instead of blocking a worker thread."""
        if not self._async_checked:
            self._async_reader = AsyncBalanceReader.for_engine(self.engine)
            self._async_checked = True
        return self._async_reader

    @property
    def read_engine(self) -> Engine:
        """Autocommit connections without pre-ping for repeatable one-statement reads (see
        ``db.create_read_engine``); on SQLite the engine itself. Made on first use."""
        if self._read_engine is None:
            self._read_engine = create_read_engine(self.engine)
        return self._read_engine

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.engine, clock=self.ledger.clock, hold_ttl=self.settings.hold_ttl)


def build_hub(settings: Settings, *, ping: Literal["always", "when_idle"] = "always") -> Hub:
    """``ping``: see ``create_db_engine`` ("when_idle" for the sync's workers, whose drains are
    redone when a call fails)."""
    engine = create_db_engine(settings.database_url, echo=settings.database_echo, ping=ping)
    ledger = LedgerService(
        engine,
        hold_ttl=settings.hold_ttl,
        expiring_within=timedelta(days=settings.expiring_soon_days),
        max_retries=settings.ledger_max_retries,
    )
    return Hub(settings=settings, engine=engine, ledger=ledger)
