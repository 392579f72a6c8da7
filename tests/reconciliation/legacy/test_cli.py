"""``bonusbridge migrate plan`` / ``apply`` as staff run them (Typer's runner, the hub's settings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from bonusbridge.settings import get_settings
from reconciliation.legacy.cli import app
from tests.reconciliation.legacy.conftest import EXAMPLE_FILES, EXAMPLE_MAPPINGS, snapshot


@pytest.fixture
def runner(db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_plan_then_apply_then_apply_again(runner: CliRunner, db: Engine, tmp_path: Path) -> None:
    args = ["plan", *map(str, EXAMPLE_FILES), "--out", str(tmp_path / "plan")]
    for mapping in EXAMPLE_MAPPINGS:
        args += ["-m", str(mapping)]
    planned = runner.invoke(app, [*args, "--as-of", "2026-11-30T21:00:00+00:00"])
    assert planned.exit_code == 0, planned.output
    assert "15 cards in 1 batches" in planned.output and "12 issues (6 rejected rows)" in planned.output
    assert "dobrostroy_bonus" in planned.output
    assert snapshot(db)["cards"] == []  # planning wrote nothing

    applied = runner.invoke(app, ["apply", str(tmp_path / "plan")])
    assert applied.exit_code == 0, applied.output
    assert "1 batches applied now, 0 done before; 15 cards created" in applied.output
    again = runner.invoke(app, ["apply", str(tmp_path / "plan")])
    assert again.exit_code == 0 and "0 batches applied now, 1 done before; 0 cards created" in again.output
    assert (tmp_path / "plan" / "applied_issues.csv").exists()


def test_an_invalid_mapping_stops_the_plan(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "dobrostroy_bonus.yaml"
    bad.write_text("program: {code: dobrostroy_bonus}\nfile: {encoding: koi8-r}\ncolumns: {number: N}\n")
    data = tmp_path / "dobrostroy_bonus.csv"
    data.write_bytes(EXAMPLE_FILES[0].read_bytes())
    result = runner.invoke(app, ["plan", str(data), "--out", str(tmp_path / "plan"), "--offline"])
    assert result.exit_code == 2
    assert "file.encoding 'koi8-r' is not one of" in result.output


def test_apply_refuses_a_folder_that_is_no_plan(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["apply", str(tmp_path)])
    assert result.exit_code == 2 and "not a plan folder" in result.output
