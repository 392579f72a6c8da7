"""The staff progress chart's nightly snapshot: beat runs ``record_progress`` through a Celery task."""

from __future__ import annotations

from celery.schedules import crontab
from sqlalchemy import select

from bonusbridge.celery_app import create_celery
from bonusbridge.models import CardStatus, ProgressSnapshot
from bonusbridge.settings import load_settings
from reconciliation import tasks
from reconciliation.schedule import RECORD_PROGRESS_TASK


def test_beat_records_the_binding_progress_every_night():
    app = create_celery(load_settings())
    entry = app.conf.beat_schedule["reconciliation-record-progress"]
    assert entry["task"] == RECORD_PROGRESS_TASK and entry["schedule"] == crontab(hour=20, minute=50)
    app.loader.import_default_modules()
    assert RECORD_PROGRESS_TASK in app.tasks


def test_the_task_records_todays_figures_once(db, make_card):
    make_card()
    make_card(status=CardStatus.ACCUMULATION_ONLY)
    make_card(status=CardStatus.BLOCKED)
    tasks.use_drift_parts(tasks.DriftParts(db, lambda: None, None))  # type: ignore[arg-type, return-value]
    try:
        first = tasks.record_binding_progress.apply().get()
        again = tasks.record_binding_progress.apply().get()
    finally:
        tasks.use_drift_parts(None)
    assert first == again and first.endswith(": 0/2")  # two active cards, none bound to a verified phone
    with db.connect() as conn:
        assert len(conn.execute(select(ProgressSnapshot.day)).all()) == 1
