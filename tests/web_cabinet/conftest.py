"""Fixtures of the cabinet's page tests: an app on the test database, the console SMS gateway
writing to a temporary file (codes are read from it, as a developer or the browser test would),
a hand-moved clock, and a small world of customers, cards and points."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.testclient import TestClient

from bonusbridge.app import Hub
from bonusbridge.ledger.service import LedgerService
from bonusbridge.models import Card, CardStatus, Customer, Origin
from bonusbridge.settings import Settings, load_settings
from bonusbridge.unit_of_work import UnitOfWork
from tests.conftest import FakeClock
from web_cabinet.app import create_app

BASE_URL = "https://cabinet.test"
PHONE = "+79161234567"
TYPED_PHONE = "8 (916) 123-45-67"
OTHER_PHONE = "+79261112233"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_ID = re.compile(r'name="form_id" value="([0-9a-f]{32})"')
VERSION = re.compile(r'name="version" value="(\d+)"')


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        # The pages send a code's SMS in-process on the memory broker; with a real one they hand it
        # to Celery (tested on its own in test_login.py), and no worker runs here to send it.
        broker_url="memory://",
        sms_gateway="console",
        sms_console_file=str(tmp_path / "sms-outbox.jsonl"),
        otp_secret="cabinet-test-otp-secret",
        cabinet_session_secret="cabinet-test-session-secret",
        cabinet_session_max_age_seconds=3600,
        profile_required_fields="last_name,first_name,birth_date",
    )


@pytest.fixture
def hub(db: Engine, clock: FakeClock, settings: Settings) -> Hub:
    ledger = LedgerService(db, clock=clock, hold_ttl=settings.hold_ttl, expiring_within=timedelta(days=30))
    return Hub(settings=settings, engine=db, ledger=ledger)


@pytest.fixture
def app(settings: Settings, hub: Hub, clock: FakeClock) -> FastAPI:
    return create_app(settings, hub=hub, clock=clock)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url=BASE_URL, follow_redirects=False)


def csrf(page: str) -> str:
    match = CSRF.search(page)
    assert match, "every page carries the CSRF token"
    return match.group(1)


def form_id(page: str) -> str:
    match = FORM_ID.search(page)
    assert match, page
    return match.group(1)


def last_code(settings: Settings, phone: str = PHONE) -> str:
    """The code in the newest SMS the console gateway 'sent' to ``phone``."""
    lines = Path(settings.sms_console_file).read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if json.loads(line)["phone"] == phone]
    assert texts, "an SMS was sent to the phone"
    match = re.search(r"\b(\d{6})\b", texts[-1])
    assert match, texts[-1]
    return match.group(1)


def sms_count(settings: Settings) -> int:
    path = Path(settings.sms_console_file)
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def ask_code(client: TestClient, phone: str = TYPED_PHONE) -> Any:
    page = client.get("/login")
    return client.post("/login/phone", data={"phone": phone, "csrf_token": csrf(page.text)})


def log_in(client: TestClient, settings: Settings, phone: str = PHONE) -> Any:
    """Phone → code from the SMS → the cabinet; returns the answer to the code (a 303)."""
    asked = ask_code(client, phone)
    assert asked.status_code == 303, asked.text
    page = client.get("/login/code")
    answer = client.post(
        "/login/code", data={"code": last_code(settings, phone), "csrf_token": csrf(page.text)}
    )
    assert answer.status_code == 303, answer.text
    return answer


@dataclass
class World:
    """Customers, cards and points made directly in the hub, as 1C's sync or a migration would."""

    hub: Hub
    clock: FakeClock

    def customer(self, **fields: Any) -> int:
        with UnitOfWork(self.hub.engine, clock=self.clock) as uow:
            customer = uow.customers.add(Customer(changed_by=Origin.ONEC, **fields))
            uow.commit()
            return customer.id

    def card(
        self,
        number: str,
        *,
        program: str = "dobrostroy",
        phone: str | None = None,
        customer_id: int | None = None,
        status: CardStatus = CardStatus.ACTIVE,
        primary: bool = False,
    ) -> int:
        with UnitOfWork(self.hub.engine, clock=self.clock) as uow:
            row = uow.programs.get_or_create(program, program.title(), is_legacy=program != "dobrostroy")
            card = uow.cards.add(
                Card(
                    program_id=row.id,
                    number=number,
                    phone_e164=phone,
                    customer_id=customer_id,
                    status=status,
                    is_primary=primary,
                    changed_by=Origin.ONEC,
                )
            )
            uow.commit()
            return card.id

    def accrue(
        self, card_id: int, amount: str, *, key: str, expires_at: datetime | None = None, **kwargs: Any
    ) -> None:
        self.hub.ledger.accrue(card_id, amount, key=key, origin=Origin.ONEC, expires_at=expires_at, **kwargs)

    def customer_row(self, customer_id: int) -> Customer:
        with UnitOfWork(self.hub.engine, clock=self.clock) as uow:
            customer = uow.customers.get(customer_id)
            assert customer is not None
            uow.session.expunge(customer)
            return customer

    def card_row(self, card_id: int) -> Card:
        with UnitOfWork(self.hub.engine, clock=self.clock) as uow:
            card = uow.cards.get(card_id)
            assert card is not None
            uow.session.expunge(card)
            return card

    def total(self, card_id: int) -> Decimal:
        return self.hub.ledger.balance(card_id).total

    def customer_by_phone(self, phone: str = PHONE) -> Customer:
        with UnitOfWork(self.hub.engine, clock=self.clock) as uow:
            customer = uow.customers.by_verified_phone(phone)
            assert customer is not None, "the phone was verified"
            uow.session.expunge(customer)
            return customer


@pytest.fixture
def world(hub: Hub, clock: FakeClock) -> World:
    return World(hub, clock)
