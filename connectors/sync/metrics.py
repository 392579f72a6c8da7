"""The sync's stage timings as Prometheus histograms (issue 20 item 1), for production.

``bonusbridge_sync_stage_seconds{direction, stage}``:

- ``inbound``/``feed``: 1C's time of a change (its exchange message's ``changed_at``, or when the
  hub stored it where 1C gives none) → stored in the inbox (observed by the listener);
- ``inbound``/``apply``: stored → applied by a worker (the listener's own applies run in the
  transaction that stores the change: no wait to measure);
- ``outbound``/``publish``: the hub's change written (outbox row) → published by the relay;
- ``outbound``/``deliver``: published → delivered to 1C and marked done by a worker.

Each process observes into prometheus_client's default registry. The sync runs as several
processes (relay, listener, Celery workers and their pool), so for one scrape of them all set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory in the environment that starts them (before
they start: prometheus_client's multiprocess mode), and ``connectors.sync.status.metrics_app``
aggregates every process's files; without it, it serves its own process's (``sync run``, the demo).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest

#: From 5 ms (an unloaded hop) to 5 minutes (an outage drained): the tails the issue is about.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

STAGE_SECONDS = Histogram(
    "bonusbridge_sync_stage_seconds",
    "Time a change spent in one stage of the sync (see connectors/sync/metrics.py).",
    ["direction", "stage"],
    buckets=BUCKETS,
)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def observe(direction: str, stage: str, since: Iterable[datetime | None], now: datetime) -> None:
    """One observation per start time given (None skipped): ``now - since``, never below zero."""
    histogram = STAGE_SECONDS.labels(direction, stage)
    for start in since:
        if start is not None:
            histogram.observe(max(0.0, (_aware(now) - _aware(start)).total_seconds()))


def observe_rows(direction: str, stage: str, rows: Iterable[Any], column: str, now: datetime) -> None:
    """``observe`` over the ``column`` of drained rows (rows without it are skipped)."""
    observe(direction, stage, (getattr(row, column, None) for row in rows), now)


def exposition() -> bytes:
    """The histograms in Prometheus's text format: every sync process's when
    ``PROMETHEUS_MULTIPROC_DIR`` is set, else this process's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
