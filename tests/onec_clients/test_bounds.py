"""Issue 19 item 2: every channel to 1C (OData, SOAP, the HTTP service, ``onec ping``) stays bounded
in time and memory against a hostile server on 127.0.0.1 — a 1-byte-per-2-s drip (of the body, and
of the headers) fails at the overall deadline, a 200 MB answer (chunked, or with an honest
Content-Length) is refused as too large with a peak under 150 MB — and 1C's HTML lock-conflict page
and a login page answered with 200 are typed as what they are."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from bonusbridge.settings import Settings
from connectors.onec.bounded import OneCTooLarge
from connectors.onec.cli import run_checks
from connectors.onec.errors import OneCAuthError, OneCLockConflict, OneCUnavailable
from connectors.onec.hs_client import LoyaltyHttpClient
from connectors.onec.odata import ODataClient
from connectors.onec.soap_client import LOCAL_WSDL, LoyaltySoapClient
from tests.onec_clients.hostile import Hostile, hostile, measure

SITE = ("Сайт", "сайт-пароль")
DEADLINE = 3.0
MEMORY_CEILING = 150 * 1024 * 1024

pytestmark = pytest.mark.timeout(90)


def _odata(h: Hostile, **kw: Any) -> Callable[[], object]:
    def call() -> object:
        with ODataClient(h.publication, *SITE, timeout=5, **kw) as client:
            return client.list("Catalog_Партнеры", top=1)

    return call


def _soap(h: Hostile, **kw: Any) -> Callable[[], object]:
    def call() -> object:
        endpoint = f"{h.publication}/ws/Loyalty.1cws"
        with LoyaltySoapClient(
            h.publication, *SITE, timeout=5, wsdl=LOCAL_WSDL, endpoint=endpoint, **kw
        ) as c:
            return c.card_balance("2000000000011")

    return call


def _hs(h: Hostile, **kw: Any) -> Callable[[], object]:
    def call() -> object:
        with LoyaltyHttpClient(h.publication, *SITE, timeout=5, **kw) as client:
            return client.post_bonus_movement("2000000000011", Decimal(1), "bounds-1")

    return call


CHANNELS = {"odata": _odata, "soap": _soap, "http-service": _hs}
CONTENT_TYPES = {
    "odata": "application/json",
    "soap": "text/xml; charset=utf-8",
    "http-service": "application/json",
}


@pytest.mark.parametrize("mode", ["drip", "drip-headers"])
@pytest.mark.parametrize("channel", list(CHANNELS))
def test_a_drip_fails_at_the_deadline(channel: str, mode: str) -> None:
    with hostile(mode, content_type=CONTENT_TYPES[channel]) as h:
        result = measure(CHANNELS[channel](h, deadline=DEADLINE))
    assert isinstance(result.error, OneCUnavailable), repr(result.error)
    assert "deadline" in str(result.error)
    assert DEADLINE - 0.3 <= result.seconds <= DEADLINE + 1.5, result.seconds
    assert result.peak_bytes < MEMORY_CEILING
    print(f"{channel} {mode}: failed after {result.seconds:.2f} s, peak {result.peak_bytes / 2**20:.1f} MiB")


@pytest.mark.parametrize("mode", ["chunked", "honest"])
@pytest.mark.parametrize("channel", list(CHANNELS))
def test_a_200_mb_answer_is_refused_as_too_large(channel: str, mode: str) -> None:
    with hostile(mode, content_type=CONTENT_TYPES[channel]) as h:
        result = measure(CHANNELS[channel](h))
    assert isinstance(result.error, OneCTooLarge), repr(result.error)
    assert "too large" in str(result.error) and not result.error.retryable
    assert result.peak_bytes < MEMORY_CEILING, result.peak_bytes
    assert result.seconds < 10, result.seconds
    print(f"{channel} {mode}: refused after {result.seconds:.2f} s, peak {result.peak_bytes / 2**20:.1f} MiB")


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_the_html_lock_conflict_page_is_a_retryable_lock_conflict(channel: str) -> None:
    with hostile("lock") as h:
        result = measure(CHANNELS[channel](h))
    assert isinstance(result.error, OneCLockConflict), repr(result.error)
    assert result.error.retryable and result.error.status == 500
    assert "Конфликт блокировок" in str(result.error)
    assert result.seconds < 5


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_a_login_page_with_200_says_1c_asked_for_a_login(channel: str) -> None:
    with hostile("login") as h:
        result = measure(CHANNELS[channel](h))
    assert isinstance(result.error, OneCAuthError), repr(result.error)
    assert "1C asked for a login (the publication's authentication is wrong)" in str(result.error)
    assert result.seconds < 5


def _settings(h: Hostile, **kw: Any) -> Settings:
    return Settings(
        onec_base_url=h.publication,
        onec_timeout_seconds=5,
        onec_soap_wsdl=str(LOCAL_WSDL),
        onec_soap_endpoint=f"{h.publication}/ws/Loyalty.1cws",
        onec_change_feed="select_changes",
        **kw,
    )


@pytest.mark.parametrize("mode", ["drip", "chunked", "honest"])
def test_onec_ping_stays_bounded(mode: str) -> None:
    """Every channel of ``onec ping`` fails with the reason, each within its deadline, in bounded memory."""
    with hostile(mode) as h:
        holder: dict[str, Any] = {}
        result = measure(
            lambda: holder.update(checks=run_checks(_settings(h, onec_deadline_seconds=DEADLINE)))
        )
    assert result.error is None, repr(result.error)
    statuses = {s.channel: s for s in holder["checks"]}
    word = "deadline" if mode == "drip" else "too large"
    for channel in ("odata", "soap", "http-service", "change-feed"):
        assert statuses[channel].status == "FAIL" and word in statuses[channel].detail, statuses[channel]
    assert result.peak_bytes < MEMORY_CEILING, result.peak_bytes
    assert result.seconds < (4 * (DEADLINE + 1.5) if mode == "drip" else 20), result.seconds
    print(f"onec ping {mode}: {result.seconds:.2f} s, peak {result.peak_bytes / 2**20:.1f} MiB")
