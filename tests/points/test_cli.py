"""``bonusbridge points``: add a version and a campaign from files (with who and why, audited),
refuse a retroactive one, end a campaign, list the audit, show the program, quote a basket file —
through the real command and a SQLite database of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from bonusbridge.db import create_db_engine
from bonusbridge.points.cli import app
from bonusbridge.schema import upgrade
from bonusbridge.settings import get_settings


def _database(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'points.sqlite3'}"
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()


WHY = ["--reason", "spring promo"]


def test_points_commands(tmp_path: Path, monkeypatch) -> None:
    _database(tmp_path, monkeypatch)
    runner = CliRunner()
    soon = datetime.now(UTC) + timedelta(minutes=5)
    version = tmp_path / "v.yaml"
    version.write_text(
        f"effective_from: '{soon.isoformat()}'\nearn_rate: 1\npoint_value: 0.10\ncurrency: EUR\n"
        "exclude_discounted: true\n",
        encoding="utf-8",
    )
    added = runner.invoke(app, ["version", "add", str(version), "--by", "marketing", *WHY])
    assert added.exit_code == 0, added.output
    assert "currency" in added.output and "point_value" in added.output  # what it changed
    past = tmp_path / "past.yaml"
    past.write_text("effective_from: '2020-01-01T00:00:00+00:00'\nearn_rate: 2\n", encoding="utf-8")
    refused = runner.invoke(app, ["version", "add", str(past), "--by", "marketing", *WHY])
    assert refused.exit_code == 1 and "retroactive_change" in refused.output
    floats = tmp_path / "floats.json"
    floats.write_text(json.dumps({"effective_from": soon.isoformat(), "earn_rate": 0.5}), encoding="utf-8")
    assert (
        runner.invoke(app, ["version", "add", str(floats), "--by", "m", *WHY]).exit_code == 1
    )  # same date: unique
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        f"code: thu-x3\nmultiplier: 3\nstarts_at: '{soon.isoformat()}'\n"
        f"ends_at: '{(soon + timedelta(days=60)).isoformat()}'\nweekdays: [thu]\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["campaign", "add", str(campaign), "--by", "marketing", *WHY]).exit_code == 0
    clash = tmp_path / "clash.yaml"
    clash.write_text(
        campaign.read_text(encoding="utf-8").replace("thu-x3", "thu-x2").replace("3\n", "2\n", 1)
    )
    refused = runner.invoke(app, ["campaign", "add", str(clash), "--by", "marketing", *WHY])
    assert refused.exit_code == 1 and "contradictory_campaigns" in refused.output
    shown = json.loads(runner.invoke(app, ["show"]).output)
    assert (
        shown["versions"][0]["rules"]["point_value"] == "0.10" and shown["campaigns"][0]["code"] == "thu-x3"
    )
    basket = tmp_path / "basket.json"
    basket.write_text(
        json.dumps(
            {
                "at": (soon + timedelta(hours=1)).isoformat(),
                "currency": "EUR",
                "balance": "300",
                "lines": [{"sku": "x", "quantity": "1", "price": "50.00"}],
            }
        ),
        encoding="utf-8",
    )
    quoted = runner.invoke(app, ["quote", str(basket)])
    assert quoted.exit_code == 0, quoted.output
    assert json.loads(quoted.output)["max_spend_points"] == "300.00"
    get_settings.cache_clear()


def test_changes_need_a_reason_and_are_audited(tmp_path: Path, monkeypatch) -> None:
    _database(tmp_path, monkeypatch)
    runner = CliRunner()
    soon = datetime.now(UTC) + timedelta(minutes=5)
    version = tmp_path / "v.yaml"
    version.write_text(f"effective_from: '{soon.isoformat()}'\nspend_threshold: 200\n", encoding="utf-8")
    unexplained = runner.invoke(app, ["version", "add", str(version), "--by", "mia"])
    assert unexplained.exit_code == 2 and "--reason" in unexplained.output  # required by the command
    blank = runner.invoke(app, ["version", "add", str(version), "--by", "mia", "--reason", " "])
    assert blank.exit_code == 1 and "missing_reason" in blank.output
    undated = tmp_path / "undated.yaml"
    undated.write_text("spend_threshold: 300\n", encoding="utf-8")
    refused = runner.invoke(app, ["version", "add", str(undated), "--by", "mia", *WHY])
    assert refused.exit_code == 1 and "effective_from is required" in refused.output
    added = runner.invoke(app, ["version", "add", str(version), "--by", "mia", "--note", "threshold"])
    assert added.exit_code == 0, added.output  # --note: the former name of --reason

    campaign = tmp_path / "c.json"
    campaign.write_text(
        json.dumps(
            {
                "code": "thu-x3",
                "multiplier": "3",
                "starts_at": soon.isoformat(),
                "ends_at": (soon + timedelta(days=30)).isoformat(),
            }
        ),
        encoding="utf-8",
    )
    assert runner.invoke(app, ["campaign", "add", str(campaign), "--by", "mia"]).exit_code == 2
    assert runner.invoke(app, ["campaign", "add", str(campaign), "--by", "mia", *WHY]).exit_code == 0
    ends = soon + timedelta(days=7)
    past = runner.invoke(
        app, ["campaign", "end", "thu-x3", "--by", "mia", *WHY, "--at", "2020-01-01T00:00:00+00:00"]
    )
    assert past.exit_code == 1 and "retroactive_change" in past.output
    unknown = runner.invoke(app, ["campaign", "end", "nope", "--by", "mia", *WHY])
    assert unknown.exit_code == 1 and "unknown_campaign" in unknown.output
    ended = runner.invoke(app, ["campaign", "end", "thu-x3", "--by", "mia", *WHY, "--at", ends.isoformat()])
    assert ended.exit_code == 0, ended.output
    assert ended.output.strip() == f"campaign thu-x3 ends at {ends.astimezone(UTC).isoformat()}"
    shown = json.loads(runner.invoke(app, ["show"]).output)
    assert shown["campaigns"][0]["ends_at"] == ends.astimezone(UTC).isoformat()

    listed = runner.invoke(app, ["audit", "--json"])
    assert listed.exit_code == 0, listed.output
    lines = [json.loads(line) for line in listed.output.splitlines()]
    assert [line["action"] for line in lines] == [
        "program.campaign.end",
        "program.campaign.add",
        "program.version.add",
    ]  # newest first; refusals wrote nothing
    assert lines[-1]["actor"] == "mia" and lines[-1]["reason"] == "threshold"
    assert lines[-1]["details"]["changes"]["spend_threshold"][1] == "200"
    assert lines[0]["subject"] == "campaign:thu-x3" and lines[0]["reason"] == "spring promo"
    table = runner.invoke(app, ["audit", "--limit", "1"])
    assert table.exit_code == 0 and len(table.output.splitlines()) == 1
    assert "program.campaign.end" in table.output and "campaign:thu-x3" in table.output
    get_settings.cache_clear()
