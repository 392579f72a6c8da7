"""The reconciliation Celery tasks (the nightly balance comparison with 1C)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from bonusbridge.app import build_hub
from bonusbridge.celery_app import app
from bonusbridge.settings import get_settings
from connectors.onec.odata import ODataClient
from mapping.profile import Profile, load_profile
from reconciliation.drift import check_drift
from reconciliation.progress import record_progress
from reconciliation.schedule import NIGHTLY_DRIFT_TASK, RECORD_PROGRESS_TASK


@dataclass(frozen=True)
class DriftParts:
    engine: Engine
    client: Callable[[], ODataClient]
    profile: Profile


_parts: DriftParts | None = None


def use_drift_parts(parts: DriftParts | None) -> None:
    """Point the task at other parts (tests, the embedded demo); ``None`` goes back to settings."""
    global _parts
    _parts = parts


def current_parts() -> DriftParts:
    if _parts is not None:
        return _parts
    settings = get_settings()
    return DriftParts(
        build_hub(settings).engine,
        lambda: ODataClient.from_settings(settings),
        load_profile(settings.onec_config, tz=settings.onec_zone),
    )


@app.task(name=NIGHTLY_DRIFT_TASK)  # type: ignore[untyped-decorator]
def nightly_drift() -> dict[str, object]:
    """Compare the hub with 1C and keep the report (no repair: that needs a person)."""
    parts = current_parts()
    with parts.client() as client:
        report_id, comparison = check_drift(parts.engine, client, parts.profile, trigger="nightly")
    return {"report_id": report_id, "ok": comparison.ok, "differences": len(comparison.differences)}


@app.task(name=RECORD_PROGRESS_TASK)  # type: ignore[untyped-decorator]
def record_binding_progress() -> str:
    """Keep today's share of active cards bound to a verified profile (the staff progress chart)."""
    settings = get_settings()
    engine = _parts.engine if _parts is not None else build_hub(settings).engine
    point = record_progress(engine, time_zone=settings.sms_default_time_zone)
    return f"{point.day}: {point.bound_verified}/{point.active_cards}" if point else "nothing recorded"
