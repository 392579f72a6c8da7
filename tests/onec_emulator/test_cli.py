"""``bonusbridge emulator`` as a real process, for both configurations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BONUSBRIDGE = [sys.executable, "-m", "bonusbridge"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_help_lists_the_options() -> None:
    result = subprocess.run([*BONUSBRIDGE, "emulator", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for option in ("--port", "--config", "--host", "--database", "--fixtures", "--strict"):
        assert option in result.stdout


def test_unknown_config_exits_2() -> None:
    result = subprocess.run(
        [*BONUSBRIDGE, "emulator", "--config", "nope"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "nope" in result.stderr


@pytest.mark.parametrize(
    ("config", "cards"), [("retail", "Catalog_ИнформационныеКарты"), ("ut11", "Catalog_КартыЛояльности")]
)
def test_standalone_server_serves_metadata_and_demo_data(tmp_path: Path, config: str, cards: str) -> None:
    port = free_port()
    database = tmp_path / "emulator.sqlite3"
    process = subprocess.Popen(
        [*BONUSBRIDGE, "emulator", "--port", str(port), "--config", config, "--database", str(database)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    root = f"http://127.0.0.1:{port}/dobrostroy/odata/standard.odata/"
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(auth=("Администратор", ""), timeout=5) as client:
            while True:
                try:
                    response = client.get(root + "$metadata")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                    assert time.monotonic() < deadline, "emulator did not start"
                    time.sleep(0.1)
            assert response.status_code == 200 and cards in response.text
            body = client.get(root + cards + "?$format=json").json()
            assert len(body["value"]) == 5
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert database.exists()
