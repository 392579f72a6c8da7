"""The SMS gateway implementations (console, SMS Aero, Twilio) and ``build_gateway`` to pick one by name."""

from __future__ import annotations

import httpx

from bonusbridge.settings import Settings
from sms.gateway import SmsGateway
from sms.gateways.console import ConsoleGateway
from sms.gateways.smsaero import SmsAeroGateway
from sms.gateways.twilio import TwilioGateway

GATEWAY_NAMES = ("console", "smsaero", "twilio")


def build_gateway(
    name: str, settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> SmsGateway:
    """The gateway called ``name``, configured from ``settings``.

    ``transport`` replaces the HTTP transport of the HTTP gateways (tests pass an
    ``httpx.MockTransport``); the console gateway has none and ignores it.
    """
    if name == "console":
        return ConsoleGateway(settings)
    if name == "smsaero":
        return SmsAeroGateway(settings, transport=transport)
    if name == "twilio":
        return TwilioGateway(settings, transport=transport)
    raise ValueError(f"unknown SMS gateway {name!r}: expected one of {', '.join(GATEWAY_NAMES)}")
