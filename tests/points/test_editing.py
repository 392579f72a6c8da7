"""Staff edits of the points program (``bonusbridge.points.editing``): each is written with its audit
row (a version's with the settings it changed), a refusal writes nothing — audit included — a
reason is required, a campaign may only be ended sooner and never in the past, and a key makes a
resent edit count once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from bonusbridge import audit
from bonusbridge.models import PointsCampaign, PointsProgramVersion, StaffAudit
from bonusbridge.points import editing, store
from bonusbridge.points.errors import (
    ContradictoryCampaigns,
    InvalidProgramRules,
    PointsError,
    RetroactiveChange,
)
from bonusbridge.settings import Settings

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def settings(db: Engine) -> Settings:
    return Settings(database_url=db.url.render_as_string(hide_password=False), points_cache_seconds=0)


def counts(db: Engine) -> tuple[int, int, int]:
    with db.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (PointsProgramVersion, PointsCampaign, StaffAudit)
        )


def entries(db: Engine, **filters: Any) -> list[audit.AuditEntry]:
    with db.connect() as conn:
        return audit.entries(conn, **filters)


def campaign(code: str, multiplier: str = "3", **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "multiplier": multiplier,
        "starts_at": NOW.isoformat(),
        "ends_at": (NOW + timedelta(days=30)).isoformat(),
        **extra,
    }


def add_version(db: Engine, settings: Settings, raw: dict[str, Any], **kwargs: Any) -> editing.Edit:
    options: dict[str, Any] = {"now": NOW, "actor": "staff:mia", "reason": "spring rules", **kwargs}
    with db.begin() as conn:
        return editing.add_version(conn, settings, raw, **options)


def add_campaign(db: Engine, settings: Settings, raw: dict[str, Any], **kwargs: Any) -> editing.Edit:
    options: dict[str, Any] = {"now": NOW, "actor": "staff:mia", "reason": "thursday promo", **kwargs}
    with db.begin() as conn:
        return editing.add_campaign(conn, settings, raw, **options)


def end_campaign(db: Engine, settings: Settings, code: str, **kwargs: Any) -> editing.Edit:
    options: dict[str, Any] = {"now": NOW, "actor": "staff:mia", "reason": "stock ran out", **kwargs}
    with db.begin() as conn:
        return editing.end_campaign(conn, settings, code, **options)


def test_a_version_is_audited_with_the_settings_it_changed(db, settings):
    default = store.default_rules(settings).to_json()
    first = add_version(
        db,
        settings,
        {"effective_from": LATER.isoformat(), "point_value": "0.25", "excluded_brands": ["Acme"]},
    )
    assert first.action == "program.version.add" and first.subject == f"version:{first.version_id}"
    [entry] = entries(db, action_prefix="program.")
    assert (entry.actor, entry.reason, entry.subject) == ("staff:mia", "spring rules", first.subject)
    assert entry.at == NOW
    # against the default program in force until now (built from the settings); the first stored
    # version starts from ProgramRules' defaults (store.add_version), and the audit shows it all
    assert entry.details["changes"] == {
        "point_value": [default["point_value"], "0.25"],
        "excluded_brands": [[], ["acme"]],
        "earn_rate": [default["earn_rate"], "1"],
        "max_spend_share": [default["max_spend_share"], None],
    }
    assert entry.details["previous_version"] is None
    assert entry.details["rules"]["point_value"] == "0.25"

    second = add_version(
        db, settings, {"effective_from": (LATER + timedelta(days=1)).isoformat(), "earn_rate": "2"}
    )
    details = entries(db, subject=second.subject)[0].details
    assert details["changes"] == {"earn_rate": ["1", "2"]}
    assert details["previous_version"] == first.version_id
    with db.connect() as conn:
        program = store.load(conn, settings)
        note = conn.execute(
            select(PointsProgramVersion.note).where(PointsProgramVersion.id == second.version_id)
        ).scalar_one()
    assert note == "spring rules"  # the reason is the version's note
    assert str(program.versions[-1].rules.point_value) == "0.25"  # carried over from the first
    assert program.versions[-1].rules.excluded_brands == frozenset({"acme"})


def test_the_history_lists_each_version_with_what_it_changed(db, settings):
    add_version(db, settings, {"effective_from": LATER.isoformat(), "spend_threshold": "100"})
    add_version(db, settings, {"effective_from": (LATER + timedelta(days=2)).isoformat(), "pending_days": 14})
    with db.connect() as conn:
        history = editing.version_history(conn)
    assert [entry.changes for entry in history] == [None, {"pending_days": [0, 14]}]
    assert history[0].created_by == "staff:mia" and history[0].note == "spring rules"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"effective_from": (NOW - timedelta(seconds=1)).isoformat()}, RetroactiveChange),
        ({"effective_from": LATER.isoformat(), "earn_rate": 0.5}, InvalidProgramRules),  # a float
        ({"effective_from": LATER.isoformat(), "colour": "red"}, InvalidProgramRules),
        ({"effective_from": "tomorrow"}, InvalidProgramRules),
    ],
)
def test_a_refused_version_writes_nothing_audit_included(db, settings, raw, error):
    before = counts(db)
    with pytest.raises(error):
        add_version(db, settings, raw)
    assert counts(db) == before == (0, 0, 0)


def test_a_refused_campaign_writes_nothing_audit_included(db, settings):
    add_campaign(db, settings, campaign("thu-x3", weekdays=["thu"]))
    before = counts(db)
    assert before == (0, 1, 1)
    for raw, error in [
        (campaign("thu-x2", "2", weekdays=["thu"]), ContradictoryCampaigns),
        (campaign("old", starts_at=(NOW - timedelta(days=1)).isoformat()), RetroactiveChange),
        (campaign("thu-x3"), InvalidProgramRules),  # the code exists: campaigns are not edited
        (campaign("float", 1.5), InvalidProgramRules),
    ]:
        with pytest.raises(error):
            add_campaign(db, settings, raw)
        assert counts(db) == before


def test_a_reason_and_an_actor_are_required(db, settings):
    add_campaign(db, settings, campaign("thu-x3"))
    before = counts(db)
    for reason in ("", "   "):
        with pytest.raises(editing.MissingReason):
            add_version(db, settings, {"effective_from": LATER.isoformat()}, reason=reason)
        with pytest.raises(editing.MissingReason):
            add_campaign(db, settings, campaign("other", "2", categories=["paint"]), reason=reason)
        with pytest.raises(editing.MissingReason):
            end_campaign(db, settings, "thu-x3", reason=reason)
    with pytest.raises(InvalidProgramRules, match="actor"):
        add_version(db, settings, {"effective_from": LATER.isoformat()}, actor=" ")
    assert counts(db) == before


def test_an_empty_moment_means_from_now(db, settings):
    version = add_version(db, settings, {"effective_from": "", "earn_rate": "3"})
    added = add_campaign(db, settings, campaign("now", starts_at=""))
    assert version.details["effective_from"] == NOW.isoformat()
    assert added.details["campaign"]["starts_at"] == NOW.isoformat()


def test_a_running_campaign_is_ended_now_and_the_cache_sees_it(db, settings):
    add_campaign(db, settings, campaign("thu-x3"))  # the newest campaign: its id is the highest
    cache = store.ProgramCache()
    with db.connect() as conn:
        assert cache.get(conn, settings).campaigns[0].ends_at == NOW + timedelta(days=30)
    now = NOW + timedelta(days=3)
    edit = end_campaign(db, settings, "thu-x3", now=now)
    assert edit.subject == "campaign:thu-x3"
    assert edit.details["ends_at"] == [(NOW + timedelta(days=30)).isoformat(), now.isoformat()]
    assert edit.details["cancelled"] is False
    with db.connect() as conn:
        [ended] = cache.get(conn, settings).campaigns  # reloaded: the change is seen
        stored = conn.execute(select(PointsCampaign.ends_at, PointsCampaign.created_by)).one()
    assert ended.ends_at == now and ended.starts_at == NOW
    assert tuple(stored) == (now, "staff:mia")  # the row keeps who created the campaign
    [entry] = entries(db, action_prefix="program.campaign.end")
    assert entry.reason == "stock ran out" and entry.details["campaign"]["code"] == "thu-x3"


def test_a_campaign_may_be_ended_at_a_later_moment_but_only_sooner(db, settings):
    add_campaign(db, settings, campaign("thu-x3"))
    before = counts(db)
    with pytest.raises(RetroactiveChange):  # the past is closed
        end_campaign(db, settings, "thu-x3", now=NOW + timedelta(days=2), at=NOW + timedelta(days=1))
    with pytest.raises(InvalidProgramRules, match="sooner"):
        end_campaign(db, settings, "thu-x3", at=NOW + timedelta(days=31))
    with pytest.raises(InvalidProgramRules, match="offset"):
        end_campaign(db, settings, "thu-x3", at=datetime(2026, 2, 1, 12, 0))
    with pytest.raises(editing.UnknownCampaign):
        end_campaign(db, settings, "nope")
    assert counts(db) == before
    when = NOW + timedelta(days=10)
    end_campaign(db, settings, "thu-x3", now=NOW + timedelta(days=2), at=when)
    with db.connect() as conn:
        assert store.load(conn, settings).campaigns[0].ends_at == when
    with pytest.raises(RetroactiveChange, match="ended"):  # an ended campaign is a closed period
        end_campaign(db, settings, "thu-x3", now=when)


def test_a_scheduled_campaign_ended_before_it_starts_is_cancelled(db, settings):
    add_campaign(db, settings, campaign("spring", starts_at=(NOW + timedelta(days=5)).isoformat()))
    add_campaign(db, settings, campaign("other", "2", categories=["paint"]))
    edit = end_campaign(db, settings, "spring")
    assert edit.details["cancelled"] is True and edit.details["ends_at"][1] is None
    with db.connect() as conn:
        assert [c.code for c in store.load(conn, settings).campaigns] == ["other"]
    assert counts(db) == (0, 1, 3)  # its audit row keeps it


def test_a_key_makes_a_resent_edit_count_once(db, settings):
    raw = {"effective_from": "", "earn_rate": "2"}
    first = add_version(db, settings, raw, key="staff-program:a1")
    again = add_version(db, settings, raw, key="staff-program:a1", now=NOW + timedelta(seconds=3))
    assert again.replayed and again.subject == first.subject and again.audit_id == first.audit_id
    assert counts(db) == (1, 0, 1)
    with pytest.raises(editing.ReusedKey):  # the same form sent with other values
        add_version(db, settings, {**raw, "earn_rate": "3"}, key="staff-program:a1")
    with pytest.raises(editing.ReusedKey):  # or for another kind of edit
        add_campaign(db, settings, campaign("x"), key="staff-program:a1")
    add_campaign(db, settings, campaign("thu-x3"), key="staff-program:c1")
    tomorrow = NOW + timedelta(days=1)
    ended = end_campaign(db, settings, "thu-x3", key="staff-program:e1", now=tomorrow)
    resent = end_campaign(db, settings, "thu-x3", key="staff-program:e1", now=tomorrow + timedelta(seconds=2))
    assert resent.replayed and resent.details["ends_at"][1] == tomorrow.isoformat()
    assert ended.details["key"] == "staff-program:e1"
    assert counts(db) == (1, 1, 3)


def test_concurrent_contradictory_campaigns_cannot_both_be_saved(db, settings):
    """The store checks a campaign against the stored ones, then inserts it: program edits are
    serialized so that two contradictory campaigns saved at once do not both pass."""
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def save(code: str, multiplier: str) -> None:
        barrier.wait()
        try:
            outcomes.append(add_campaign(db, settings, campaign(code, multiplier, weekdays=["thu"])))
        except PointsError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=save, args=args) for args in (("thu-x3", "3"), ("thu-x2", "2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["ContradictoryCampaigns", "Edit"]
    assert counts(db) == (0, 1, 1)
