"""The console gateway (terminal line + JSON-lines outbox) and ``build_gateway``."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bonusbridge.settings import Settings
from sms.gateway import DeliveryStatus, OutgoingSms
from sms.gateways import build_gateway
from sms.gateways.console import ConsoleGateway, read_console_outbox
from sms.gateways.smsaero import SmsAeroGateway
from sms.gateways.twilio import TwilioGateway


def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "var" / "sms-outbox.jsonl"


def console(tmp_path: Path, *, echo: bool = True) -> ConsoleGateway:
    return ConsoleGateway(Settings(sms_console_file=str(outbox_path(tmp_path)), sms_console_echo=echo))


def sms(message_id: int, text: str = "Код: 123456") -> OutgoingSms:
    return OutgoingSms(message_id=message_id, phone_e164="+79031234567", text=text)


def test_send_prints_the_text_and_appends_one_json_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = console(tmp_path)

    receipt = gateway.send(sms(1))

    assert re.fullmatch(r"console-[0-9a-f]{32}", receipt.provider_id)
    assert receipt.gateway == "console"
    assert receipt.status is DeliveryStatus.DELIVERED
    captured = capsys.readouterr()
    assert "Код: 123456" in captured.err
    assert "+79031234567" in captured.err
    assert captured.out == ""
    lines = outbox_path(tmp_path).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["provider_id"] == receipt.provider_id
    assert record["message_id"] == 1
    assert record["phone"] == "+79031234567"
    assert record["text"] == "Код: 123456"
    assert datetime.fromisoformat(record["at"]).tzinfo is not None


def test_without_echo_the_terminal_line_has_no_code_and_a_masked_phone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert Settings().sms_console_echo is False  # a worker's stderr is its log: off by default
    gateway = console(tmp_path, echo=False)

    gateway.send(sms(7))

    err = capsys.readouterr().err
    assert "123456" not in err
    assert "+79031234567" not in err
    assert "(message 7)" in err and "/dev/sms" in err
    record = json.loads(outbox_path(tmp_path).read_text(encoding="utf-8"))
    assert record["text"] == "Код: 123456"  # the dev outbox page still has it


def test_each_send_gets_its_own_id_and_line(tmp_path: Path) -> None:
    gateway = console(tmp_path)

    first = gateway.send(sms(1))
    second = gateway.send(sms(2))

    assert first.provider_id != second.provider_id
    assert len(outbox_path(tmp_path).read_text(encoding="utf-8").splitlines()) == 2


def test_status_is_delivered_for_a_written_id_and_failed_for_an_unknown_one(tmp_path: Path) -> None:
    gateway = console(tmp_path)
    receipt = gateway.send(sms(1))

    known = gateway.status(receipt.provider_id)
    unknown = gateway.status("console-" + "0" * 32)

    assert known.status is DeliveryStatus.DELIVERED
    assert known.at is not None
    assert unknown.status is DeliveryStatus.FAILED
    assert unknown.failure_reason == "no such message in the console outbox"


def test_status_without_an_outbox_file_is_failed(tmp_path: Path) -> None:
    report = console(tmp_path).status("console-abc")

    assert report.status is DeliveryStatus.FAILED
    assert not outbox_path(tmp_path).exists()


def test_balance_is_none(tmp_path: Path) -> None:
    assert console(tmp_path).balance() is None


def test_read_console_outbox_returns_the_latest_newest_first(tmp_path: Path) -> None:
    gateway = console(tmp_path)
    for message_id in range(1, 6):
        gateway.send(sms(message_id, text=f"text {message_id}"))

    latest = read_console_outbox(outbox_path(tmp_path), limit=3)

    assert [record["message_id"] for record in latest] == [5, 4, 3]
    assert latest[0]["text"] == "text 5"
    assert [r["message_id"] for r in read_console_outbox(str(outbox_path(tmp_path)))] == [5, 4, 3, 2, 1]


def test_read_console_outbox_skips_broken_lines(tmp_path: Path) -> None:
    gateway = console(tmp_path)
    gateway.send(sms(1))
    with outbox_path(tmp_path).open("a", encoding="utf-8") as outbox:
        outbox.write('{"provider_id": "console-half\n[1, 2]\n')
    gateway.send(sms(2))

    assert [record["message_id"] for record in read_console_outbox(outbox_path(tmp_path))] == [2, 1]


def test_read_console_outbox_of_a_missing_file_or_zero_limit_is_empty(tmp_path: Path) -> None:
    console(tmp_path).send(sms(1))

    assert read_console_outbox(tmp_path / "missing.jsonl") == []
    assert read_console_outbox(outbox_path(tmp_path), limit=0) == []


# --- build_gateway ----------------------------------------------------------------------------


def test_build_gateway_builds_each_named_gateway(tmp_path: Path) -> None:
    settings = Settings(sms_console_file=str(outbox_path(tmp_path)))
    transport = httpx.MockTransport(lambda request: httpx.Response(500))

    built = {
        name: build_gateway(name, settings, transport=transport) for name in ("console", "smsaero", "twilio")
    }

    assert isinstance(built["console"], ConsoleGateway)
    assert isinstance(built["smsaero"], SmsAeroGateway)
    assert isinstance(built["twilio"], TwilioGateway)
    assert {name: gateway.name for name, gateway in built.items()} == {
        "console": "console",
        "smsaero": "smsaero",
        "twilio": "twilio",
    }


def test_build_gateway_passes_the_transport_on(tmp_path: Path) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"success": True, "data": {"balance": "10.50"}})

    settings = Settings(smsaero_email="shop@example.ru", smsaero_api_key="k")
    gateway = build_gateway("smsaero", settings, transport=httpx.MockTransport(answer))

    assert gateway.balance() == Decimal("10.50")
    assert seen == ["https://gate.smsaero.ru/v2/balance"]


def test_build_gateway_rejects_an_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown SMS gateway 'carrier-pigeon'"):
        build_gateway("carrier-pigeon", Settings())
