"""``bonusbridge sms``: the SMS outbox's state, its latest messages, sending what is due, a test SMS."""

from __future__ import annotations

import typer
from sqlalchemy import select

from bonusbridge.app import build_hub
from bonusbridge.models import SmsMessage, utcnow
from bonusbridge.privacy import mask_phone
from bonusbridge.settings import settings_or_exit
from sms.outbox import SmsKind, queue_sms
from sms.status import sms_status
from sms.wiring import SmsParts, build_sms

app = typer.Typer(help="SMS gateways, the SMS outbox and one-time codes.", no_args_is_help=True)


def _parts() -> SmsParts:
    settings = settings_or_exit()
    return build_sms(settings, build_hub(settings).engine)


@app.command("status")
def status() -> None:
    """Messages by state (24 h), what is due or waiting, the hour's codes against the global cap."""
    parts = _parts()
    with parts.session_factory() as session:
        report = sms_status(session, utcnow(), list(parts.gateways), parts.settings.sms_global_hourly_cap)
    for line in report.lines():
        typer.echo(line)


@app.command("outbox")
def outbox(limit: int = typer.Option(20, help="How many, newest first.")) -> None:
    """The latest messages: state, gateway, reason. Phones masked; texts never shown."""
    parts = _parts()
    with parts.session_factory() as session:
        rows = session.scalars(select(SmsMessage).order_by(SmsMessage.id.desc()).limit(limit)).all()
    for row in rows:
        reason = f" — {row.failure_reason}" if row.failure_reason else ""
        when = f"{row.created_at:%Y-%m-%d %H:%M}"
        typer.echo(
            f"#{row.id} {when} {row.kind}/{row.template} {mask_phone(row.phone_e164)} "
            f"{row.status} via {row.gateway or '-'}{reason}"
        )


@app.command("send-due")
def send_due() -> None:
    """Send every queued message whose time has come, in this process (no Celery worker needed)."""
    parts = _parts()
    parts.sender.release_stale_claims()
    for message_id in parts.sender.due_messages():
        result = parts.sender.send(message_id)
        typer.echo(f"#{message_id}: {result.status or 'nothing to do'}")


@app.command("test")
def test(phone: str = typer.Argument(..., help="A mobile number to send a test SMS to.")) -> None:
    """Queue and send one test SMS through the configured gateways."""
    from sms.otp.phones import acceptable_phone

    parts = _parts()
    e164 = acceptable_phone(phone, parts.settings)
    with parts.session_factory() as session:
        message = queue_sms(
            session,
            key=f"test:{utcnow():%Y%m%dT%H%M%S%f}",
            kind=SmsKind.TRANSACTIONAL,
            template="test",
            phone_e164=e164,
            body="BonusBridge: test SMS / тестовое СМС",
        )
        session.commit()
        message_id = message.id
    result = parts.sender.send(message_id)
    typer.echo(f"#{message_id} to {mask_phone(e164)}: {result.status}")
