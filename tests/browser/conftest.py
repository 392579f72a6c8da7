"""A real browser for the cabinet: Debian's chromium driven by Playwright, never a downloaded one.

``playwright`` (PyPI) brings only its driver here; the browser is the system's ``/usr/bin/chromium``,
passed as ``executable_path``. When it is missing, the set-up installs Debian's package (as root,
with apt-get); when that is impossible the test is skipped, or fails under
``BONUSBRIDGE_REQUIRE_SERVICES=1``. Screenshots go to ``var/test-artifacts/<test name>/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_service

CHROMIUM = Path(os.environ.get("BONUSBRIDGE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
#: Flags for a headless run as root on a machine with a closed network (no background fetches).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> Path:
    """The system chromium, installed from Debian's packages first if it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        require_service(
            "chromium", f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run([apt, "install", "-y", "-q", "chromium"], env=env, capture_output=True, text=True)
    if done.returncode != 0 or not CHROMIUM.exists():
        require_service("chromium", f"apt-get install chromium failed: {done.stderr.strip()[-300:]}")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
    lives, and a later test calling ``asyncio.run`` would find it."""
    executable = ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder
