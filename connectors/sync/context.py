"""Everything a sync process needs, built once from settings: the hub's database, the 1C client and
mapping profile, the clock, the shared circuit breaker, and how drain work is dispatched."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bonusbridge.db import create_session_factory
from bonusbridge.models import utcnow
from bonusbridge.settings import Settings
from connectors.onec.odata import ODataClient
from connectors.sync.retry import CircuitBreaker
from mapping.profile import Profile, load_profile


@dataclass
class SyncContext:
    settings: Settings
    engine: Engine
    profile: Profile
    client_factory: Callable[[], ODataClient]
    clock: Callable[[], datetime] = utcnow
    #: ``kick(direction, slots)``: make sure workers drain these slots ("outbound" | "inbound").
    kick: Callable[[str, list[int]], None] | None = None
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.session_factory: sessionmaker[Session] = create_session_factory(self.engine)
        self.breaker = CircuitBreaker(
            self.engine,
            "onec",
            threshold=self.settings.sync_breaker_threshold,
            open_seconds=self.settings.sync_breaker_open_seconds,
            max_open_seconds=self.settings.sync_breaker_max_open_seconds,
            clock=self.clock,
        )

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine, **kwargs: Any) -> SyncContext:
        profile = load_profile(settings.onec_config, tz=settings.onec_zone)
        return cls(
            settings=settings,
            engine=engine,
            profile=profile,
            client_factory=lambda: ODataClient.from_settings(settings),
            **kwargs,
        )

    @property
    def client(self) -> ODataClient:
        """One 1C client per thread (httpx clients are not shared across threads here)."""
        client: ODataClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self.client_factory()
            self._local.client = client
        return client

    def cached(self, name: str, load: Callable[[], Any]) -> Any:
        """A value read from 1C once per process (the bonus program, the card kind)."""
        if name not in self._cache:
            self._cache[name] = load()
        return self._cache[name]

    def known(self, name: str) -> Any:
        """A cached value if one was read already, else None (never triggers a read)."""
        return self._cache.get(name)

    def policy(self, field_name: str) -> str:
        return self.settings.conflict_policy(field_name)

    def request_drain(self, direction: str, slots: list[int]) -> None:
        if self.kick is not None and slots:
            self.kick(direction, sorted(set(slots)))
