"""The newcomer (issue 17 item 7): the demo's banner prints the exact commands that reach the
demo's database (a staff user, an API key), says what a restart loses and how to reach /staff; no
CLI command prints a traceback for a missing or unmigrated database; the license is an SPDX string."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo.stack import DemoStack, running_demo

ROOT = Path(__file__).resolve().parents[2]
BONUSBRIDGE = str(Path(sys.executable).parent / "bonusbridge")
PASSWORD = "a demo staff passphrase"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    with running_demo(tmp_path_factory.mktemp("newcomer") / "var") as stack:
        yield stack


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BONUSBRIDGE_")}
    return {**env, **extra}


def _banner_command(banner: str, words: str) -> str:
    line = next((line.strip() for line in banner.splitlines() if words in line), None)
    assert line, f"the banner prints `{words}`:\n{banner}"
    return line


def test_the_banner_says_how_to_reach_staff_and_what_a_restart_loses(demo: DemoStack) -> None:
    banner = demo.banner()
    assert f"{demo.cabinet_url}/staff" in banner
    assert "staff create" in banner and "api-clients create" in banner
    assert "lost" in banner and "restart" in banner


def test_the_banners_commands_reach_the_running_demos_database(demo: DemoStack, tmp_path: Path) -> None:
    banner = demo.banner()
    staff = _banner_command(banner, "staff create")
    made = subprocess.run(
        [*shlex.split(staff.replace("BONUSBRIDGE_DATABASE_URL=", "", 1))[1:], "--password", PASSWORD],
        env=_env(BONUSBRIDGE_DATABASE_URL=shlex.split(staff)[0].split("=", 1)[1]),
        cwd=tmp_path,  # anywhere: the command names the demo's database itself
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert not (tmp_path / "var").exists()  # no stray database of the default URL
    with httpx.Client(base_url=demo.cabinet_url, follow_redirects=False) as client:
        page = client.get("/staff/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        answer = client.post(
            "/staff/login", data={"login": "admin", "password": PASSWORD, "csrf_token": token.group(1)}
        )
        assert answer.status_code == 303, answer.text
        assert client.get("/staff/progress").status_code == 200

    api = _banner_command(banner, "api-clients create")
    created = subprocess.run(api, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=demo.cabinet_url) as client:
        answer = client.get(
            "/api/v1/cards/crd_AAAAAAAAAAAAAAAAAAAAAAAA/balance", headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 404  # the key is known to the demo: not a 401


@pytest.mark.parametrize(
    "command",
    [
        ["api-clients", "create", "shop", "--scopes", "read"],
        ["staff", "create", "admin", "--role", "admin", "--password", PASSWORD],
        ["staff", "list"],
        ["ledger", "check"],
        ["cards", "recheck"],
        ["sync", "status"],
        ["sms", "status"],
    ],
)
def test_no_command_prints_a_traceback_for_a_missing_database(tmp_path: Path, command: list[str]) -> None:
    database = tmp_path / "nowhere.sqlite3"
    url = f"sqlite:///{database}"
    run = subprocess.run(
        [BONUSBRIDGE, *command],
        env=_env(BONUSBRIDGE_DATABASE_URL=url, BONUSBRIDGE_BROKER_URL="memory://"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "Traceback" not in output, output
    assert "bonusbridge db upgrade" in output and url in output, output
    assert not database.exists()  # no empty database left behind


def test_the_license_is_an_spdx_string() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
