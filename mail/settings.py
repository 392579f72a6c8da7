"""Mail settings (``BONUSBRIDGE_MAIL_*``): the backend, the sender, and the SMTP server."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BONUSBRIDGE_MAIL_", extra="ignore")

    backend: Literal["console", "smtp"] = Field(
        default="console", description="console (embedded default: printed and kept in a file) or smtp."
    )
    from_address: str = Field(default="BonusBridge <no-reply@bonusbridge.local>")
    console_file: str = Field(
        default="var/mail-outbox.jsonl", description="Where the console backend appends."
    )
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = Field(default=True, description="Upgrade with STARTTLS (required before auth).")
    smtp_ssl: bool = Field(default=False, description="Implicit TLS (port 465) instead of STARTTLS.")
    smtp_timeout_seconds: float = 20.0
    base_url: str = Field(default="http://127.0.0.1:8000", description="Links in e-mails start with it.")
    max_attempts: int = 8
