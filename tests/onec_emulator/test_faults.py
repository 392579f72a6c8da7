"""Fault injection, set at start or at run time through ``/_admin/faults``."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from connectors.onec.emulator.app import create_app
from tests.onec_live import PARTNER_IVANOV, Base, ServerThread

PARTNER = f"Catalog_Партнеры(guid'{PARTNER_IVANOV}')?$format=json"


def set_faults(base: Base, **faults: Any) -> dict[str, Any]:
    with base.admin() as admin:
        response = admin.put("/_admin/faults", json=faults)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_admin_endpoint_reads_replaces_and_patches_faults(retail: Base) -> None:
    with retail.admin() as admin:
        assert admin.get("/_admin/faults").json()["error_rate"] == 0
        assert admin.put("/_admin/faults", json={"latency_ms": 5}).json()["latency_ms"] == 5
        patched = admin.patch("/_admin/faults", json={"error_rate": 0.5}).json()
        assert (patched["latency_ms"], patched["error_rate"]) == (5, 0.5)
        assert admin.put("/_admin/faults", json={"error_rate": 2}).status_code == 400
        assert admin.put("/_admin/faults", json={"no_such": 1}).status_code == 400


def test_error_rate_1_gives_the_1c_html_error_page(retail: Base) -> None:
    set_faults(retail, error_rate=1)
    with retail.client() as c:
        response = c.get(PARTNER)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "1C:Enterprise 8 application error" in response.text
    set_faults(retail)  # switched off at run time
    with retail.client() as c:
        assert c.get(PARTNER).status_code == 200


def test_iis_error_page_with_chosen_status(retail: Base) -> None:
    set_faults(retail, error_rate=1, error_status=503, error_page="iis")
    with retail.client() as c:
        response = c.get(PARTNER)
    assert response.status_code == 503 and "HTTP Error 503. The service is unavailable." in response.text


def test_latency_and_cold_start(retail: Base) -> None:
    set_faults(retail, latency_ms=150)
    with retail.client() as c:
        started = time.monotonic()
        c.get(PARTNER)
        assert time.monotonic() - started >= 0.15
    set_faults(retail, cold_start_ms=300, idle_seconds=60)
    with retail.client() as c:
        started = time.monotonic()
        c.get(PARTNER)
        cold = time.monotonic() - started
        started = time.monotonic()
        c.get(PARTNER)
        warm = time.monotonic() - started
    assert cold >= 0.3 and warm < 0.3


def test_lock_conflict_on_writes_only(retail: Base) -> None:
    set_faults(retail, lock_conflict_rate=1)
    with retail.client() as c:
        assert c.get(PARTNER).status_code == 200
        response = c.patch(PARTNER, json={"Комментарий": "x"})
    assert response.status_code == 500
    error = response.json()["odata.error"]
    assert error["code"] == "-1" and "Конфликт блокировок" in error["message"]["value"]


def test_dropped_connection(retail: Base) -> None:
    set_faults(retail, drop_rate=1)
    with retail.client() as c, pytest.raises(httpx.RemoteProtocolError):
        c.get(PARTNER)


def test_timeout_hangs_until_the_client_gives_up(retail: Base) -> None:
    set_faults(retail, timeout_rate=1, timeout_seconds=30)
    with retail.client(timeout=0.3) as c, pytest.raises(httpx.ReadTimeout):
        c.get(PARTNER)


def test_match_limits_faults_to_some_urls(retail: Base) -> None:
    set_faults(retail, error_rate=1, match="SelectChanges")
    with retail.client() as c:
        assert c.get(PARTNER).status_code == 200
        assert c.post("SelectChanges").status_code == 500


def test_faults_given_at_start() -> None:
    app = create_app("ut11", faults={"error_rate": 1.0, "error_page": "iis"})
    with ServerThread(app) as server, httpx.Client() as c:
        response = c.get(f"http://127.0.0.1:{server.port}/dobrostroy/odata/standard.odata/$metadata")
        assert response.status_code == 500 and "500 - Internal server error." in response.text
        assert c.get(f"http://127.0.0.1:{server.port}/_admin/faults").json()["error_rate"] == 1.0
