"""The supplier's link: the token the mail sender signs (``mail.sending.supplier_link``) is the one
the pages accept, under the same secret only; and the access log never shows a token."""

from __future__ import annotations

import logging

import pytest

from bonusbridge.models import utcnow
from bonusbridge.rewards import errors
from bonusbridge.settings import load_settings
from mail.sending import supplier_link
from mail.settings import MailSettings
from web_cabinet.rewards.common import RedactLoginTokens, supplier_of_token


def test_the_mailed_link_opens_with_the_shared_secret_only() -> None:
    link = supplier_link(MailSettings(base_url="https://shop.test"), "shared-secret", 7)
    assert link.startswith("https://shop.test/suppliers/login?token=")
    token = link.split("token=", 1)[1]
    settings = load_settings(supplier_link_secret="shared-secret")
    assert supplier_of_token(settings, token, utcnow) == 7
    with pytest.raises(errors.LinkExpired):
        supplier_of_token(load_settings(supplier_link_secret="another-secret"), token, utcnow)
    with pytest.raises(errors.LinkExpired):
        supplier_of_token(settings, "not-a-token", utcnow)


def test_the_access_log_masks_the_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/suppliers/login?token=eyJzdXBwbGllciI6N30.secret&x=1", "1.1", 303),
        None,
    )  # fmt: skip
    assert RedactLoginTokens().filter(record)
    text = record.getMessage()
    assert "secret" not in text and "eyJ" not in text
    assert "/suppliers/login?token=***&x=1" in text
