"""``bonusbridge api-clients``: create prints the key once, list never shows it, revoke refuses it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bonusbridge.settings import get_settings
from web_cabinet.api.cli import app

runner = CliRunner()


@pytest.fixture
def cli_env(db, monkeypatch):
    monkeypatch.setenv("BONUSBRIDGE_DATABASE_URL", db.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_create_list_revoke(cli_env, http, clock, settings, make_card, card_id):
    created = runner.invoke(app, ["create", "website-checkout", "--scopes", "read,checkout"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("bb_") and len(key) > 50
    balance = f"/api/v1/cards/{card_id(make_card())}/balance"
    assert http.get(balance, headers={"Authorization": f"Bearer {key}"}).status_code == 200

    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0 and "website-checkout" in listed.output and "read,checkout" in listed.output
    assert key not in listed.output and key[:15] in listed.output and "active" in listed.output

    duplicate = runner.invoke(app, ["create", "website-checkout", "--scopes", "read"])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    unknown = runner.invoke(app, ["create", "x", "--scopes", "read,admin"])
    assert unknown.exit_code == 1 and "admin" in unknown.output

    revoked = runner.invoke(app, ["revoke", "website-checkout"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    clock.advance(timedelta(seconds=settings.api_key_cache_seconds))  # the server's trust runs out
    assert http.get(balance, headers={"Authorization": f"Bearer {key}"}).json()["code"] == "api_key_revoked"
    assert "already revoked" in runner.invoke(app, ["revoke", "website-checkout"]).output
    assert "revoked" in runner.invoke(app, ["list"]).output
    missing = runner.invoke(app, ["revoke", "nobody"])
    assert missing.exit_code == 1 and "no client" in missing.output


def test_the_bonusbridge_command_has_api_clients(tmp_path: Path):
    env = {**os.environ, "BONUSBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    run = subprocess.run(
        [sys.executable, "-m", "bonusbridge", "api-clients", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "create" in run.stdout and "revoke" in run.stdout
