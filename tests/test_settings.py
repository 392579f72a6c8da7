from __future__ import annotations

import pytest

from bonusbridge.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_setup(monkeypatch):
    for name in ("BONUSBRIDGE_DATABASE_URL", "BONUSBRIDGE_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url.startswith("sqlite:///./var/")
    assert settings.broker_url == "memory://"
    assert settings.onec_zone.key == "Europe/Moscow"


def test_environment_overrides_with_prefix(monkeypatch):
    monkeypatch.setenv("BONUSBRIDGE_ONEC_TIMEZONE", "Asia/Yekaterinburg")
    monkeypatch.setenv("BONUSBRIDGE_PROFILE_REQUIRED_FIELDS", "last_name, email")
    settings = load_settings()
    assert settings.onec_timezone == "Asia/Yekaterinburg"
    assert settings.profile_required_fields == ["last_name", "email"]


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BONUSBRIDGE_HOLD_TTL_SECONDS", raising=False)
    (tmp_path / ".env").write_text("BONUSBRIDGE_HOLD_TTL_SECONDS=120\n", encoding="utf-8")
    assert load_settings().hold_ttl_seconds == 120


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BONUSBRIDGE_ONEC_TIMEZONE", "Mars/Olympus"),
        ("BONUSBRIDGE_HOLD_TTL_SECONDS", "-5"),
        ("BONUSBRIDGE_DATABASE_URL", "mysql://x"),
        ("BONUSBRIDGE_PROFILE_REQUIRED_FIELDS", "last_name,shoe_size"),
    ],
)
def test_invalid_settings_fail_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as failure:
        load_settings()
    assert variable in str(failure.value)
