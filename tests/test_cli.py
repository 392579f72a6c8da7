"""The ``bonusbridge`` command, run as a real process on a fresh SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def bonusbridge(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "BONUSBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}", **env}
    return subprocess.run(
        [sys.executable, "-m", "bonusbridge", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_demo_and_ledger_check(tmp_path):
    assert bonusbridge(tmp_path, "db", "upgrade").returncode == 0
    first = bonusbridge(tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    assert "created card" in first.stdout and "accrued" in first.stdout
    assert "+7916" not in first.stdout  # phones are masked
    again = bonusbridge(tmp_path, "demo")
    assert again.returncode == 0, again.stderr
    assert "created card" not in again.stdout  # idempotent
    check = bonusbridge(tmp_path, "ledger", "check")
    assert check.returncode == 0 and "consistent" in check.stdout


def test_ledger_check_reports_drift_and_exits_non_zero(tmp_path):
    assert bonusbridge(tmp_path, "demo").returncode == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "cli.sqlite3") as conn:
        conn.execute("UPDATE card_balances SET total = total + 100 WHERE card_id = 1")
    check = bonusbridge(tmp_path, "ledger", "check")
    assert check.returncode == 1
    assert "DRIFT card 1" in check.stdout


def test_invalid_setting_stops_with_a_message_naming_it(tmp_path):
    result = bonusbridge(tmp_path, "ledger", "check", BONUSBRIDGE_ONEC_TIMEZONE="Nowhere/City")
    assert result.returncode == 2
    assert "BONUSBRIDGE_ONEC_TIMEZONE" in result.stderr
    assert "Traceback" not in result.stderr
