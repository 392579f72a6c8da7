"""``bonusbridge onec ping`` as a subprocess against the running emulator, and against nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from tests.onec_live import Base


def _ping(base_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "BONUSBRIDGE_ONEC_BASE_URL": base_url,
        "BONUSBRIDGE_ONEC_TIMEOUT_SECONDS": "5",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bonusbridge", "onec", "ping", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        cwd="/tmp",  # no stray .env
    )


def test_ping_all_available_channels_ok(retail_server: Base) -> None:
    result = _ping(f"{retail_server.origin}/{retail_server.base}", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = {r["channel"]: r for r in json.loads(result.stdout)}
    assert statuses["odata"]["status"] == "OK" and statuses["change-feed"]["status"] == "OK"
    for channel in ("soap", "http-service"):
        assert statuses[channel]["status"] in ("OK", "N/A"), statuses[channel]
    assert "сайт-пароль" not in result.stdout


def test_ping_ut11(ut11_server: Base) -> None:
    result = _ping(f"{ut11_server.origin}/{ut11_server.base}", BONUSBRIDGE_ONEC_CONFIG="ut11")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "odata         OK" in result.stdout


def test_ping_fails_when_1c_is_down() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _ping(f"http://127.0.0.1:{port}/dobrostroy")
    assert result.returncode == 1
    assert "odata         FAIL 1C is unreachable" in result.stdout
    assert "change-feed   FAIL" in result.stdout


def test_ping_reports_a_wrong_password(retail_server: Base) -> None:
    result = _ping(f"{retail_server.origin}/{retail_server.base}", BONUSBRIDGE_ONEC_PASSWORD="неверно")
    assert result.returncode == 1 and "FAIL 1C answered 401" in result.stdout
    assert "неверно" not in result.stdout
