"""``bonusbridge points``: add a version and a campaign from files, refuse a retroactive one, show
the program, quote a basket file — through the real command and a SQLite database of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from bonusbridge.db import create_db_engine
from bonusbridge.points.cli import app
from bonusbridge.schema import upgrade
from bonusbridge.settings import get_settings


def test_points_commands(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'points.sqlite3'}"
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    runner = CliRunner()
    soon = datetime.now(UTC) + timedelta(minutes=5)
    version = tmp_path / "v.yaml"
    version.write_text(
        f"effective_from: '{soon.isoformat()}'\nearn_rate: 1\npoint_value: 0.10\ncurrency: EUR\n"
        "exclude_discounted: true\n",
        encoding="utf-8",
    )
    added = runner.invoke(app, ["version", "add", str(version), "--by", "marketing"])
    assert added.exit_code == 0, added.output
    past = tmp_path / "past.yaml"
    past.write_text("effective_from: '2020-01-01T00:00:00+00:00'\nearn_rate: 2\n", encoding="utf-8")
    refused = runner.invoke(app, ["version", "add", str(past), "--by", "marketing"])
    assert refused.exit_code == 1 and "retroactive_change" in refused.output
    floats = tmp_path / "floats.json"
    floats.write_text(json.dumps({"effective_from": soon.isoformat(), "earn_rate": 0.5}), encoding="utf-8")
    assert (
        runner.invoke(app, ["version", "add", str(floats), "--by", "m"]).exit_code == 1
    )  # same date: unique
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        f"code: thu-x3\nmultiplier: 3\nstarts_at: '{soon.isoformat()}'\n"
        f"ends_at: '{(soon + timedelta(days=60)).isoformat()}'\nweekdays: [thu]\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["campaign", "add", str(campaign), "--by", "marketing"]).exit_code == 0
    clash = tmp_path / "clash.yaml"
    clash.write_text(
        campaign.read_text(encoding="utf-8").replace("thu-x3", "thu-x2").replace("3\n", "2\n", 1)
    )
    refused = runner.invoke(app, ["campaign", "add", str(clash), "--by", "marketing"])
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
