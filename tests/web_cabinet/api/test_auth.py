"""Keys and scopes: who may call what. Every endpoint refuses a missing, wrong or revoked key (401)
and a key without its scope (403), with problem+json and a stable code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from bonusbridge.models import ApiClient
from tests.web_cabinet.api.conftest import Api, MakeApi
from web_cabinet.api import mount_api
from web_cabinet.api.clients import create_client, hash_key, revoke_client

CARD = "crd_" + "A" * 24
HOLD = "hld_" + "A" * 24
#: (method, path, body, scope it needs, is a write)
ENDPOINTS = [
    ("POST", "/cards/search", {"number": "1"}, "read", False),
    ("POST", "/customers/search", {"phone": "+79161234567"}, "read", False),
    ("GET", f"/cards/{CARD}/balance", None, "read", False),
    ("GET", "/orders/A-1", None, "read", False),
    (
        "POST",
        "/quotes",
        {"card_id": CARD, "lines": [{"sku": "x", "quantity": "1", "price": "1"}]},
        "quote",
        False,
    ),
    (
        "POST",
        "/holds",
        {"card_id": CARD, "order_id": "A", "points": "1", "order_total": "10"},
        "checkout",
        True,
    ),
    ("GET", f"/holds/{HOLD}", None, "checkout", False),
    ("POST", f"/holds/{HOLD}/capture", {}, "checkout", True),
    ("POST", f"/holds/{HOLD}/void", None, "checkout", True),
    ("POST", "/accruals", {"card_id": CARD, "order_id": "A", "order_total": "10"}, "accrue", True),
    ("POST", "/refunds", {"order_id": "A", "amount": "1"}, "refund", True),
    (
        "POST",
        "/receipts",
        {"card_id": CARD, "receipt_id": "R", "lines": [{"sku": "x", "quantity": "1", "price": "1"}]},
        "accrue",
        True,
    ),
    ("POST", "/receipts/R/returns", {"lines": [{"line": 0, "quantity": "1"}]}, "refund", True),
    (
        "POST",
        "/onec/quote",
        {"card_number": "1", "lines": [{"sku": "x", "quantity": "1", "price": "1"}]},
        "till",
        False,
    ),
]
IDS = [f"{method} {path}" for method, path, *_ in ENDPOINTS]


def call(api: Api, method: str, path: str, body: object, headers: dict[str, str]) -> object:
    return api.http.request(method, f"/api/v1{path}", json=body, headers={"Idempotency-Key": "k", **headers})


def assert_problem(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["code"] == code and body["status"] == status
    assert body["type"] == f"urn:bonusbridge:problem:{code}" and body["title"] and body["detail"]
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize(("method", "path", "body", "scope", "write"), ENDPOINTS, ids=IDS)
def test_every_endpoint_refuses_without_a_valid_key(api, method, path, body, scope, write, db):
    no_key = call(api, method, path, body, {})
    assert_problem(no_key, 401, "missing_api_key")
    assert no_key.headers["www-authenticate"].startswith("Bearer")
    wrong = api.key[:-4] + ("AAAA" if not api.key.endswith("AAAA") else "BBBB")
    assert_problem(
        call(api, method, path, body, {"Authorization": f"Bearer {wrong}"}), 401, "invalid_api_key"
    )
    assert_problem(
        call(api, method, path, body, {"Authorization": "Bearer nonsense"}), 401, "invalid_api_key"
    )
    assert_problem(
        call(api, method, path, body, {"X-API-Key": "bb_000000000000_" + "x" * 43}), 401, "invalid_api_key"
    )


@pytest.mark.parametrize(("method", "path", "body", "scope", "write"), ENDPOINTS, ids=IDS)
def test_every_endpoint_needs_its_scope(make_api: MakeApi, method, path, body, scope, write):
    others = ",".join(s for s in ("read", "quote", "checkout", "accrue", "refund", "till") if s != scope)
    lacking = make_api(others)
    body_ = assert_problem(call(lacking, method, path, body, lacking.headers()), 403, "missing_scope")
    assert scope in str(body_["detail"])
    allowed = make_api(scope)
    assert call(allowed, method, path, body, allowed.headers()).status_code not in (401, 403)


def test_x_api_key_header_works_like_bearer(api, make_card, card_id):
    response = api.http.get(f"/api/v1/cards/{card_id(make_card())}/balance", headers={"X-API-Key": api.key})
    assert response.status_code == 200


def test_a_revoked_key_is_refused_once_the_servers_trust_in_it_has_run_out(
    api, db, clock, settings, make_card, card_id
):
    """A server process trusts a key it checked for ``api_key_cache_seconds``: a revocation takes
    that long to reach every process, and no longer."""
    path = f"/api/v1/cards/{card_id(make_card())}/balance"
    assert api.http.get(path, headers=api.headers()).status_code == 200
    with db.connect() as conn:
        name = conn.execute(select(ApiClient.name)).scalar_one()
    assert revoke_client(db, name) is True
    assert api.http.get(path, headers=api.headers()).status_code == 200  # still trusted
    clock.advance(timedelta(seconds=settings.api_key_cache_seconds))
    assert_problem(api.http.get(path, headers=api.headers()), 401, "api_key_revoked")


def test_a_revoked_key_is_refused_at_once_without_the_cache(hub, db, make_card, card_id):
    hub.settings = hub.settings.model_copy(update={"api_key_cache_seconds": 0})
    app = FastAPI()
    app.state.hub = hub
    mount_api(app)
    key = create_client(db, "uncached", ("read",))
    path = f"/api/v1/cards/{card_id(make_card())}/balance"
    with TestClient(app) as http:
        assert http.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert revoke_client(db, "uncached") is True
        assert_problem(http.get(path, headers={"Authorization": f"Bearer {key}"}), 401, "api_key_revoked")


def test_an_unknown_key_is_never_cached(api, db, make_card, card_id):
    path = f"/api/v1/cards/{card_id(make_card())}/balance"
    forged = api.key[:-1] + ("A" if api.key[-1] != "A" else "B")
    for _ in range(2):
        assert_problem(
            api.http.get(path, headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_api_key"
        )
    assert api.http.get(path, headers=api.headers()).status_code == 200


def test_only_the_keys_hash_is_stored_and_use_is_recorded(api, db, clock, make_card, card_id):
    with db.connect() as conn:
        row = conn.execute(
            select(ApiClient.key_hash, ApiClient.key_prefix, ApiClient.scopes, ApiClient.last_used_at)
        ).one()
    assert row.key_hash == hash_key(api.key) and api.key not in (row.key_hash, row.key_prefix, row.scopes)
    assert api.key.startswith(f"bb_{row.key_prefix}_") and row.last_used_at is None
    api.get(f"/cards/{card_id(make_card())}/balance")
    with db.connect() as conn:
        assert conn.execute(select(ApiClient.last_used_at)).scalar_one() == clock.now
    clock.advance(timedelta(minutes=1))  # within the precision: no write per request
    api.get(f"/cards/{card_id(make_card())}/balance")
    with db.connect() as conn:
        assert conn.execute(select(ApiClient.last_used_at)).scalar_one() == clock.now - timedelta(minutes=1)
