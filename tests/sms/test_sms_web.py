"""The SMS endpoints: signed Twilio callbacks, token-guarded SMS Aero callbacks, the console page;
plus the whole path on the embedded default (console gateway) and a read timeout at SMS Aero that
must not become a second SMS."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from starlette.applications import Starlette
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from bonusbridge.models import SmsStatus
from bonusbridge.settings import load_settings
from sms.gateway import DeliveryStatus, SendReceipt
from sms.web import sms_routes
from sms.wiring import SmsParts, build_sms
from tests.sms.fakes import ScriptedGateway
from tests.sms.test_sending import queue, row

TOKEN = "a" * 32
CALLBACK = "https://shop.example.ru/sms/callbacks/twilio"


def client_for(parts: SmsParts) -> TestClient:
    return TestClient(Starlette(routes=sms_routes(parts)), base_url="https://shop.example.ru")


def sent_message(db, clock, gateway_name: str) -> tuple[SmsParts, int, str]:
    gateway = ScriptedGateway(gateway_name)
    settings = load_settings(
        sms_gateway=gateway_name,
        twilio_auth_token=TOKEN,
        twilio_status_callback_url=CALLBACK,
        smsaero_callback_token="callback-secret",
    )
    parts = build_sms(settings, db, clock=clock, gateways={gateway_name: gateway})  # type: ignore[dict-item]
    message_id = queue(parts)
    parts.sender.send(message_id)
    return parts, message_id, row(parts, message_id).provider_id or ""


def test_a_signed_twilio_callback_settles_the_message(db, clock):
    parts, message_id, sid = sent_message(db, clock, "twilio")
    form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "AC1"}
    signature = RequestValidator(TOKEN).compute_signature(CALLBACK, form)
    answer = client_for(parts).post(
        "/sms/callbacks/twilio", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert answer.status_code == 200
    assert row(parts, message_id).status == SmsStatus.DELIVERED


def test_a_twilio_callback_with_a_wrong_signature_is_refused_and_changes_nothing(db, clock):
    parts, message_id, sid = sent_message(db, clock, "twilio")
    form = {"MessageSid": sid, "MessageStatus": "delivered"}
    forged = RequestValidator("b" * 32).compute_signature(CALLBACK, form)
    client = client_for(parts)
    assert (
        client.post("/sms/callbacks/twilio", data=form, headers={"X-Twilio-Signature": forged}).status_code
        == 403
    )
    assert client.post("/sms/callbacks/twilio", data=form).status_code == 403
    assert row(parts, message_id).status == SmsStatus.SENT


def test_an_smsaero_callback_needs_the_token(db, clock):
    parts, message_id, provider_id = sent_message(db, clock, "smsaero")
    body = {"id": int(provider_id), "status": 1, "extendStatus": "delivery", "cost": "5.49"}
    client = client_for(parts)
    assert client.post("/sms/callbacks/smsaero", json=body).status_code == 403
    assert client.post("/sms/callbacks/smsaero?token=wrong", json=body).status_code == 403
    assert row(parts, message_id).status == SmsStatus.SENT
    assert client.post("/sms/callbacks/smsaero?token=callback-secret", json=body).status_code == 200
    assert row(parts, message_id).status == SmsStatus.DELIVERED


def test_garbage_at_the_smsaero_callback_is_a_400_not_a_stack_trace(db, clock):
    parts, _, _ = sent_message(db, clock, "smsaero")
    answer = client_for(parts).post(
        "/sms/callbacks/smsaero?token=callback-secret",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400 and "Traceback" not in answer.text


def test_the_console_gateway_end_to_end_terminal_file_and_dev_page(db, clock, tmp_path, capsys):
    outbox_file = tmp_path / "sms.jsonl"
    settings = load_settings(sms_gateway="console", sms_console_file=str(outbox_file), sms_console_echo=True)
    parts = build_sms(settings, db, clock=clock)
    message_id = queue(parts, body="Код для входа в личный кабинет: 654321.")
    assert parts.sender.send(message_id).status in (SmsStatus.SENT, SmsStatus.DELIVERED)
    assert "654321" in capsys.readouterr().err, "with echo on (the demo), the terminal shows the code"
    (line,) = outbox_file.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["text"].endswith("654321.")
    client = client_for(parts)
    page = client.get("/dev/sms")
    assert page.status_code == 200 and "654321" in page.text
    assert client.get("/dev/sms?format=json").json()[0]["message_id"] == message_id
    provider_id = row(parts, message_id).provider_id or ""
    assert parts.sender.poll_statuses() in (0, 1)
    assert row(parts, message_id).status == SmsStatus.DELIVERED, provider_id


def test_the_dev_page_does_not_exist_with_a_real_gateway(db, clock):
    parts, _, _ = sent_message(db, clock, "smsaero")
    assert client_for(parts).get("/dev/sms").status_code == 404


@respx.mock(assert_all_called=False)
def test_a_read_timeout_at_smsaero_is_never_followed_by_a_second_sms(respx_mock, db, clock):
    settings = load_settings(
        sms_gateway="smsaero",
        sms_fallback_gateway="console",
        smsaero_email="shop@example.ru",
        smsaero_api_key="k",
    )
    parts = build_sms(settings, db, clock=clock)
    route = respx_mock.post(url__regex=r"https://gate\.smsaero\.(ru|org|net)/v2/sms/send").mock(
        side_effect=httpx.ReadTimeout("read timed out")
    )
    message_id = queue(parts)
    assert parts.sender.send(message_id).status == SmsStatus.UNCONFIRMED
    for _ in range(3):
        parts.sender.release_stale_claims()
        for due in parts.sender.due_messages():
            parts.sender.send(due)
    assert route.call_count == 1, "one request to SMS Aero, no other host, no retry"
    assert row(parts, message_id).gateway == "smsaero", "nor handed to the fallback gateway"


@pytest.mark.parametrize("status", [DeliveryStatus.DELIVERED, DeliveryStatus.FAILED])
def test_a_receipt_that_is_already_final_settles_at_once(db, clock, status):
    class Immediate(ScriptedGateway):
        def send(self, sms):  # type: ignore[no-untyped-def]
            self.sent.append(sms)
            return SendReceipt(
                self.name, "x-1", status, "final", None, "rejected" if status == "failed" else None
            )

    settings = load_settings(sms_gateway="smsaero")
    parts = build_sms(settings, db, clock=clock, gateways={"smsaero": Immediate("smsaero")})  # type: ignore[dict-item]
    message_id = queue(parts)
    parts.sender.send(message_id)
    stored = row(parts, message_id)
    assert stored.status == SmsStatus(status.value) and stored.settled_at == clock.now
