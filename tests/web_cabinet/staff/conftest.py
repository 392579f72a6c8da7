"""Fixtures of the staff pages' tests: staff users of each role and a helper to log in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from bonusbridge.settings import Settings, load_settings
from web_cabinet.staff.auth import Role, create_user

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        broker_url="memory://",  # the cabinet's login sends its SMS in-process (see ../conftest.py)
        sms_gateway="console",
        sms_console_file=str(tmp_path / "sms-outbox.jsonl"),
        otp_secret="cabinet-test-otp-secret",
        cabinet_session_secret="cabinet-test-session-secret",
        cabinet_session_max_age_seconds=3600,
        staff_session_secret="staff-test-session-secret",
        staff_session_max_age_seconds=1800,
        staff_login_max_failures=5,
        staff_login_max_failures_per_ip=8,
        profile_required_fields="last_name,first_name,birth_date",
    )


@pytest.fixture
def staff(db: Engine) -> dict[str, str]:
    """One staff user per role (login = role name), plus a disabled-later one."""
    for role in Role:
        create_user(db, role.value, PASSWORD, [role])
    return {role.value: PASSWORD for role in Role}


def csrf_of(page: str) -> str:
    match = CSRF.search(page)
    assert match, "every staff page carries the CSRF token"
    return match.group(1)


def staff_log_in(client: TestClient, login: str, password: str = PASSWORD) -> Any:
    page = client.get("/staff/login")
    assert page.status_code == 200, page.text
    return client.post(
        "/staff/login", data={"login": login, "password": password, "csrf_token": csrf_of(page.text)}
    )
