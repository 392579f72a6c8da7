"""Every setting BonusBridge reads, in one place.

Values come from the environment (prefix ``BONUSBRIDGE_``) or a ``.env`` file in the working
directory. Validation happens once, at start-up: a wrong value stops the process with a message
naming the variable, instead of failing later in the middle of a checkout.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "BONUSBRIDGE_"

#: Profile fields a customer may be asked to fill; ``profile_required_fields`` picks among them.
PROFILE_FIELDS = frozenset(
    {"last_name", "first_name", "middle_name", "birth_date", "email", "gender", "city", "marketing_consent"}
)


class SettingsError(RuntimeError):
    """Raised at start-up when the configuration is invalid; the message names each bad variable."""


class Settings(BaseSettings):
    """BonusBridge configuration. Field ``foo_bar`` is read from ``BONUSBRIDGE_FOO_BAR``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- storage and messaging -------------------------------------------------------------
    database_url: str = Field(
        default="sqlite:///./var/bonusbridge.sqlite3",
        description="SQLAlchemy URL. SQLite for the embedded default, postgresql+psycopg:// in production.",
    )
    database_echo: bool = False
    broker_url: str = Field(
        default="memory://",
        description="Celery/kombu broker URL: memory:// embedded, amqp://user:pass@host:5672// for RabbitMQ.",
    )
    result_backend: str = Field(default="cache+memory://", description="Celery result backend.")
    celery_queue: str = Field(
        default="celery",
        description="The broker queue of the hub's tasks (several hubs or test runs can share one broker).",
    )

    # --- 1C ----------------------------------------------------------------------------------
    onec_timezone: str = Field(
        default="Europe/Moscow",
        description="IANA time zone of the 1C server: 1C dates carry no offset and are local to it.",
    )

    onec_config: str = Field(default="retail", description="1C configuration profile: retail or ut11.")
    balance_per: Literal["card", "customer"] | None = Field(
        default=None,
        description=(
            "Whose balance the ledger keeps: one per card (retail) or one per customer, shared by "
            "the customer's cards (ut11: 1C's bonus register is per partner). Default: from onec_config."
        ),
    )
    onec_base_url: str = Field(
        default="http://127.0.0.1:8081/dobrostroy",
        description="1C publication root; OData is at <root>/odata/standard.odata/.",
    )
    onec_username: str = Field(default="Сайт", description="1C user (UTF-8) the website connects as.")
    onec_password: SecretStr = Field(default=SecretStr("сайт-пароль"), description="Its password.")
    onec_timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout towards 1C.")
    onec_deadline_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Overall deadline of one call to 1C (OData, SOAP, HTTP service), however slow.",
    )
    onec_max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest answer read from 1C (OData, SOAP, HTTP service); a larger one is refused.",
    )
    onec_exchange_plan: str = Field(default="ОбменССайтом", description="Exchange plan carrying changes.")
    onec_exchange_node: str = Field(default="САЙТ", description="Code of the website's node in that plan.")
    onec_change_feed: Literal["select_changes", "amqp"] = Field(
        default="select_changes", description="How 1C's changes reach the hub."
    )
    onec_amqp_url: str = Field(default="memory://", description="Broker 1C publishes its changes to.")
    onec_amqp_exchange: str = Field(default="onec.changes", description="Topic exchange of 1C's changes.")
    onec_amqp_queue: str = Field(
        default="bonusbridge.onec.changes",
        description="The hub's durable queue on that exchange (its dead letters go to <queue>.dead).",
    )
    onec_soap_wsdl: str | None = Field(
        default=None, description="Local WSDL file for real deployments (default: the live ?wsdl)."
    )
    onec_soap_endpoint: str | None = Field(
        default=None, description="Override of the WSDL's soap:address (1C behind a proxy)."
    )

    # --- two-way sync with 1C --------------------------------------------------------------------
    sync_conflict_policy: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Per-field conflict policy, e.g. 'email=website,birth_date=onec' (others: the default).",
    )
    sync_default_policy: Literal["onec", "website", "newer"] = Field(
        default="newer", description="Who wins a field both sides changed: 1C, the website, or the newer."
    )
    sync_max_attempts: int = Field(
        default=8, ge=1, description="Failed deliveries of one message before it goes to the dead letters."
    )
    sync_backoff_base_seconds: float = Field(default=1.0, gt=0, description="First retry delay.")
    sync_backoff_max_seconds: float = Field(default=300.0, gt=0, description="Longest retry delay.")
    sync_breaker_threshold: int = Field(
        default=5, ge=1, description="Consecutive 1C failures that open the circuit breaker."
    )
    sync_breaker_open_seconds: float = Field(
        default=2.0, gt=0, description="How long an open breaker waits before one trial call."
    )
    sync_breaker_max_open_seconds: float = Field(
        default=5.0,
        gt=0,
        description="The longest wait between trial calls however long 1C stays down (the wait doubles "
        "after each failed trial up to this): 1C back is noticed within this many seconds.",
    )
    sync_resume_spread_seconds: float = Field(
        default=1.0,
        ge=0,
        description="When the breaker closes, the messages an outage deferred become due over this "
        "many seconds, slot by slot (paced, not all in the same instant).",
    )
    sync_republish_after_seconds: float = Field(
        default=60.0, gt=0, description="A published message not finished by then is published again."
    )
    sync_slots_per_task: int = Field(
        default=16,
        ge=1,
        le=64,
        description="Inbox slots one apply task drains together: fewer tasks with larger batches "
        "(up to 64: one task per kick) or more tasks for more workers to share.",
    )
    sync_listener_applies_at_most: int = Field(
        default=100,
        ge=0,
        le=10_000,
        description="The listener applies a stored batch of up to this many changes itself, in the "
        "transaction that stores it, where no worker holds its slots and nothing of the same key "
        "waits (0: never; workers apply everything). Larger batches (a backlog) go to the workers.",
    )
    sync_kick_interval_seconds: float = Field(
        default=0.05,
        gt=0,
        le=5,
        description="How long the listener gathers stored changes before asking workers to apply them.",
    )
    sync_dispatch: Literal["auto", "celery", "inline"] = Field(
        default="auto",
        description="How drain work reaches workers: Celery over the broker, or in-process (auto: "
        "inline on the memory:// broker, Celery otherwise).",
    )

    # --- customers and the ledger ------------------------------------------------------------
    profile_required_fields: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["last_name", "first_name", "birth_date"],
        description="Profile fields that must be filled before a card may spend (comma-separated).",
    )
    hold_ttl_seconds: int = Field(
        default=900, gt=0, description="A checkout hold not captured within this time is released."
    )
    expiring_soon_days: int = Field(
        default=30, gt=0, description="Horizon of the 'expiring soon' figure shown with a balance."
    )
    ledger_max_retries: int = Field(
        default=5, ge=1, description="Attempts for a ledger transaction hit by a serialization failure."
    )

    # --- SMS and one-time codes ----------------------------------------------------------------
    sms_gateway: Literal["console", "smsaero", "twilio"] = Field(
        default="console", description="Gateway SMS go through (console: terminal and a file, for dev)."
    )
    sms_fallback_gateway: Literal["none", "console", "smsaero", "twilio"] = Field(
        default="none", description="Gateway tried when the primary one surely did not send."
    )
    sms_console_file: str = Field(
        default="./var/sms-outbox.jsonl", description="Where the console gateway appends what it 'sends'."
    )
    sms_console_echo: bool = Field(
        default=False,
        description="The console gateway also prints each SMS's text (codes included) to the terminal; "
        "off, the terminal line names the message with a masked phone and the text stays in "
        "sms_console_file (and /dev/sms). The demo turns it on.",
    )
    sms_timeout_seconds: float = Field(default=10.0, gt=0, description="Per-request timeout to a gateway.")
    sms_max_attempts: int = Field(
        default=5, ge=1, description="Tries of one SMS whose gateway surely did not send it, then failed."
    )
    sms_retry_base_seconds: float = Field(default=5.0, gt=0, description="First retry delay of an SMS.")
    smsaero_email: str = Field(default="", description="SMS Aero account e-mail (HTTP Basic user).")
    smsaero_api_key: SecretStr = Field(default=SecretStr(""), description="SMS Aero API key.")
    smsaero_sign: str = Field(default="SMS Aero", description="Sender name registered at SMS Aero.")
    smsaero_test_mode: bool = Field(default=False, description="Use sms/testsend: nothing is delivered.")
    smsaero_callback_url: str | None = Field(default=None, description="Our delivery-status callback URL.")
    smsaero_callback_token: SecretStr = Field(
        default=SecretStr(""),
        description="SMS Aero does not sign callbacks: ours carry ?token=<this>; empty refuses them all.",
    )
    twilio_account_sid: str = Field(default="", description="Twilio account SID (AC…).")
    twilio_auth_token: SecretStr = Field(default=SecretStr(""), description="Twilio auth token.")
    twilio_from: str = Field(default="", description="Twilio sender: a number or alphanumeric sender ID.")
    twilio_messaging_service_sid: str = Field(default="", description="Or a Messaging Service (MG…).")
    twilio_status_callback_url: str | None = Field(default=None, description="Our status callback URL.")
    sms_allowed_countries: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RU"], description="ISO regions codes may be sent to (comma-separated)."
    )
    sms_global_hourly_cap: int = Field(
        default=2000, ge=1, description="Codes sent per hour by the whole service before sending stops."
    )
    sms_default_time_zone: str = Field(
        default="Europe/Moscow", description="Time zone of a customer who has not set one (quiet hours)."
    )
    sms_quiet_hours: str = Field(
        default="21:00-09:00", description="Local hours with no non-urgent SMS; they wait until the end."
    )
    otp_secret: SecretStr = Field(
        default=SecretStr("dev-only-otp-secret-change-me"),
        description="Server secret codes are stored under (HMAC); set a long random one in production.",
    )
    otp_ttl_seconds: int = Field(default=300, gt=0, description="How long a code is valid.")
    otp_max_checks: int = Field(default=5, ge=1, description="Wrong or right guesses allowed per code.")
    otp_max_failures: int = Field(
        default=5,
        ge=1,
        description="Wrong codes per browser session within a day before that session may check no more.",
    )
    otp_max_failures_per_ip: int = Field(
        default=20, ge=1, description="Wrong codes per client IP within an hour before it may check no more."
    )
    otp_phone_free_failures: int = Field(
        default=5,
        ge=1,
        description="Wrong codes per phone, from anyone, before each further check of it waits "
        "(growing waits, see otp_phone_wait_seconds).",
    )
    otp_phone_wait_seconds: int = Field(
        default=60,
        ge=1,
        description="The first wait after the phone's free failures; four times longer after each "
        "further failure, at most a day.",
    )
    otp_resend_cooldown_seconds: int = Field(
        default=60, ge=1, description="Wait before a new code; doubles with each repeat within the hour."
    )
    otp_max_per_phone_hour: int = Field(default=5, ge=1, description="Codes per phone per hour.")
    otp_max_per_phone_day: int = Field(default=10, ge=1, description="Codes per phone per day.")
    otp_max_per_ip_hour: int = Field(default=20, ge=1, description="Codes per client IP per hour.")
    otp_max_per_session: int = Field(default=5, ge=1, description="Codes per browser session.")

    # --- Web cabinet (customers' pages) ------------------------------------------------------------
    cabinet_session_secret: SecretStr = Field(
        default=SecretStr("dev-only-cabinet-session-secret-change-me"),
        description="Key signing cabinet session cookies and CSRF tokens; long and random in production.",
    )
    cabinet_session_max_age_seconds: int = Field(
        default=3600, ge=60, description="A cabinet session ends this long after the last page view."
    )
    cabinet_session_absolute_seconds: int = Field(
        default=12 * 3600, ge=60, description="A cabinet login ends this long after it began, however active."
    )
    session_store_url: str = Field(
        default="",
        description="Where logged-in sessions are kept (so logout and disabling end them): empty for "
        "the database, or a Redis URL (redis://127.0.0.1:6379/0).",
    )
    cabinet_host: str = Field(default="127.0.0.1", description="Interface `bonusbridge serve` binds.")
    cabinet_port: int = Field(
        default=8000, ge=1, le=65535, description="Port `bonusbridge serve` listens on."
    )
    program_rules_url: str = Field(
        default="/rules",
        description="The program's rules, linked in every cabinet page's footer (/rules: the built-in "
        "summary; or the chain's own page).",
    )
    support_phone: str = Field(
        default="", description="Support phone in the cabinet's footer (empty: the stores' service desks)."
    )
    support_email: str = Field(default="", description="Support e-mail in the cabinet's footer.")
    personal_data_consent_version: str = Field(
        default="2026-12",
        max_length=32,
        description="Version of the consent to personal-data processing (152-ФЗ) the profile form asks "
        "for; recorded with each consent. A new version is asked for anew.",
    )
    personal_data_consent_url: str = Field(
        default="/consent",
        description="The consent's text (/consent: the built-in one, of the default version).",
    )

    # --- Rewards shop (cabinet and supplier pages) -------------------------------------------------
    supplier_link_secret: SecretStr = Field(
        default=SecretStr("dev-only-supplier-link-secret"),
        description="Key signing suppliers' e-mailed login links (the mail sender signs with the same).",
    )
    supplier_link_max_age_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="A supplier's e-mailed login link opens for this long."
    )
    rewards_cashback_percent: str = Field(
        default="",
        description="Tier cashback after a reward order is fulfilled, percent per tier: 'none=1,gold=5' "
        "(none: below the first tier).",
    )
    rewards_payments: Literal["instant", "manual"] = Field(
        default="instant",
        description="The cash part of reward orders: instant (embedded default, paid at once) or manual "
        "(staff mark invoices paid).",
    )
    rewards_currency: str = Field(default="RUB", min_length=3, max_length=3)
    invoice_seller_name: str = Field(
        default="BonusBridge demo seller", max_length=300, description="The seller printed on invoices."
    )
    invoice_seller_address: str = Field(default="", max_length=500, description="The seller's address.")
    invoice_seller_tax_id: str = Field(
        default="", max_length=32, description="The seller's INN / VAT number."
    )
    invoice_seller_extra: str = Field(
        default="", max_length=500, description="Bank details or registration, printed as given."
    )
    invoice_font_path: str = Field(
        default="",
        description="A Unicode TrueType font the invoice PDF embeds; empty: the DejaVu Sans shipped "
        "in bonusbridge/rewards/fonts/.",
    )

    # --- Shop API ----------------------------------------------------------------------------------
    api_points_per_currency_unit: Decimal = Field(
        default=Decimal("0.01"),
        gt=0,
        description="Simple earn rate of the shop API's quote: points per unit of currency paid.",
    )
    api_point_value: Decimal = Field(
        default=Decimal("1"), gt=0, description="What one point is worth in currency when spent."
    )
    api_max_spend_share: Decimal = Field(
        default=Decimal("0.5"),
        gt=0,
        le=1,
        description="Share of an order points may pay at most (1C: МаксимальныйПроцентОплатыБонусами/100).",
    )
    api_id_secret: SecretStr = Field(
        default=SecretStr("dev-only-api-id-secret-change-me"),
        description="Key signing the shop API's opaque ids (cards, customers, holds); random in production.",
    )
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a server process trusts an API key it checked: a revocation takes this long.",
    )

    # --- Reconciliation (merges, drift against 1C) --------------------------------------------------
    reconcile_nightly_hour_utc: int = Field(
        default=0,
        ge=0,
        le=23,
        description="Hour (UTC) of the nightly drift report against 1C (00:15 UTC is 03:15 in Moscow).",
    )
    reconcile_nightly_minute: int = Field(
        default=15, ge=0, le=59, description="Minute of the nightly drift report."
    )
    auto_merge_max_group: int = Field(
        default=5,
        ge=2,
        description="Largest group of cards sharing a phone that `migrate apply --auto-merge` merges; "
        "a larger one (a shop's landline, a family's) is left to staff as a suggestion.",
    )
    migration_plans_dir: str = Field(
        default="./var/migration-plans",
        description="Folder whose sub-folders are `migrate plan` outputs; staff read their reports at "
        "/staff/plans (full phones for the migration and admin roles, masked for the others).",
    )

    # --- Staff pages --------------------------------------------------------------------------------
    staff_session_secret: SecretStr = Field(
        default=SecretStr("dev-only-staff-session-secret-change-me"),
        description="Key signing staff session cookies (not the customers'); long and random in production.",
    )
    staff_session_max_age_seconds: int = Field(
        default=1800, ge=60, description="A staff session ends this long after the last page view."
    )
    staff_session_absolute_seconds: int = Field(
        default=8 * 3600, ge=60, description="A staff login ends this long after it began, however active."
    )
    staff_login_max_failures: int = Field(
        default=5, ge=1, description="Failed staff logins per login name within the window before a pause."
    )
    staff_login_max_failures_per_ip: int = Field(
        default=20, ge=1, description="Failed staff logins per IP address within the window before a pause."
    )
    staff_login_window_seconds: int = Field(
        default=900, ge=60, description="Window of the staff login limits (and how long the pause lasts)."
    )

    # --- Points engine ------------------------------------------------------------------------------
    points_currency: str = Field(
        default="RUB",
        pattern=r"^[A-Z]{3}$",
        description="Currency of the default program version (used until `bonusbridge points version add`).",
    )
    points_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a process quotes with the program versions and campaigns it loaded "
        "before checking for new ones: a new campaign takes this long to reach every till.",
    )
    points_opt_in_required: bool = Field(
        default=False,
        description="Website orders earn points only when the card's owner is in the loyalty program "
        "(joined at checkout, in the cabinet, by the members file, or owns a card and never left); "
        "a card with no owner and the tills always earn.",
    )

    @field_validator("sms_allowed_countries", mode="before")
    @classmethod
    def _split_countries(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().upper() for part in value.split(",") if part.strip()]
        return value

    @field_validator("sms_quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        try:
            start, end = (part.strip() for part in value.split("-"))
            for part in (start, end):
                hours, minutes = part.split(":")
                if not (0 <= int(hours) < 24 and 0 <= int(minutes) < 60):
                    raise ValueError(part)
        except ValueError:
            raise ValueError("write HH:MM-HH:MM, e.g. 21:00-09:00") from None
        return value

    @field_validator("onec_timezone", "sms_default_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @property
    def balances_per_customer(self) -> bool:
        """Whether a customer's cards share one account (``bonusbridge.ledger.accounts``)."""
        return (self.balance_per or ("customer" if self.onec_config == "ut11" else "card")) == "customer"

    @field_validator("invoice_font_path")
    @classmethod
    def _font_is_a_file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError("no such font file: give a TrueType (.ttf) file, or leave it empty")
        return value

    @field_validator("onec_config")
    @classmethod
    def _known_configuration(cls, value: str) -> str:
        if value not in ("retail", "ut11"):
            raise ValueError("choose retail or ut11")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:// and postgresql+psycopg:// URLs are supported")
        return value

    @field_validator("sync_conflict_policy", mode="before")
    @classmethod
    def _split_policy(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [part.strip() for part in value.split(",") if part.strip()]
            if any("=" not in pair for pair in pairs):
                raise ValueError("write field=policy pairs separated by commas")
            return {k.strip(): v.strip() for k, v in (pair.split("=", 1) for pair in pairs)}
        return value

    @field_validator("sync_conflict_policy")
    @classmethod
    def _known_policies(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {field: policy for field, policy in value.items() if policy not in ("onec", "website", "newer")}
        if bad:
            raise ValueError(f"unknown policies {bad}; choose onec, website or newer")
        return value

    @field_validator("profile_required_fields", mode="before")
    @classmethod
    def _split_fields(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("profile_required_fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - PROFILE_FIELDS)
        if unknown:
            raise ValueError(f"unknown profile fields {unknown}; choose among {sorted(PROFILE_FIELDS)}")
        return value

    @property
    def onec_zone(self) -> ZoneInfo:
        return ZoneInfo(self.onec_timezone)

    def conflict_policy(self, field: str) -> str:
        """The policy for one field: its own if declared, else the default."""
        return self.sync_conflict_policy.get(field, self.sync_default_policy)

    @property
    def sync_inline(self) -> bool:
        """Whether drain work runs in-process instead of through Celery workers."""
        if self.sync_dispatch == "auto":
            return self.broker_url.startswith("memory://")
        return self.sync_dispatch == "inline"

    @property
    def hold_ttl(self) -> timedelta:
        return timedelta(seconds=self.hold_ttl_seconds)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning pydantic's report into one readable error."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {error['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def settings_or_exit() -> Settings:
    """For entry points: print the configuration problem and exit 2 instead of a traceback."""
    try:
        return get_settings()
    except SettingsError as exc:
        print(f"bonusbridge: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
