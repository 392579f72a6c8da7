"""Turns settings into the SMS parts: the gateways, the sender and the notifier, on one engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bonusbridge.models import utcnow
from bonusbridge.settings import Settings
from sms.gateway import SmsGateway
from sms.gateways import build_gateway
from sms.notifications import Notifier
from sms.sending import SmsSender


@dataclass
class SmsParts:
    settings: Settings
    session_factory: sessionmaker[Session]
    gateways: dict[str, SmsGateway]
    sender: SmsSender
    notifier: Notifier


def build_sms(
    settings: Settings,
    engine: Engine,
    *,
    clock: Callable[[], datetime] = utcnow,
    transport: httpx.BaseTransport | None = None,
    gateways: dict[str, SmsGateway] | None = None,
) -> SmsParts:
    """Only the configured gateways are built (a Twilio account is not needed to run SMS Aero)."""
    if gateways is None:
        names = {settings.sms_gateway, settings.sms_fallback_gateway} - {"none"}
        gateways = {name: build_gateway(name, settings, transport=transport) for name in sorted(names)}
    session_factory = sessionmaker(engine, expire_on_commit=False)
    return SmsParts(
        settings=settings,
        session_factory=session_factory,
        gateways=gateways,
        sender=SmsSender(session_factory, settings, gateways, clock),
        notifier=Notifier(session_factory, settings, clock),
    )
