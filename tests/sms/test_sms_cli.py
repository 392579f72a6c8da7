"""``bonusbridge sms``: a test SMS through the console gateway, the outbox list, the status."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import bonusbridge


def test_test_sms_outbox_and_status_on_the_console_gateway(tmp_path: Path) -> None:
    assert bonusbridge(tmp_path, "db", "upgrade").returncode == 0
    outbox = tmp_path / "sms.jsonl"
    env = {"BONUSBRIDGE_SMS_CONSOLE_FILE": str(outbox), "BONUSBRIDGE_SMS_GATEWAY": "console"}
    sent = bonusbridge(tmp_path, "sms", "test", "8 916 123-45-67", **env)
    assert sent.returncode == 0, sent.stderr
    assert "#1 to +7***67:" in sent.stdout and "+79161234567" in outbox.read_text(encoding="utf-8")
    listed = bonusbridge(tmp_path, "sms", "outbox", **env)
    assert listed.returncode == 0 and "transactional/test +7***67" in listed.stdout
    assert "тестовое" not in listed.stdout, "texts are never listed"
    status = bonusbridge(tmp_path, "sms", "status", **env)
    assert status.returncode == 0, status.stderr
    assert "gateways: console" in status.stdout and "one-time codes this hour: 0 of 2000" in status.stdout


def test_a_landline_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    assert bonusbridge(tmp_path, "db", "upgrade").returncode == 0
    refused = bonusbridge(tmp_path, "sms", "test", "8 (495) 123-45-67")
    assert refused.returncode == 1
    assert "landline_phone" in refused.stderr and "Traceback" not in refused.stderr
