"""Bad input answers problem+json (never a 500, never a trace); the error catalog covers every hub
error; the OpenAPI document declares every answer; the API's handling stays inside ``/api/v1``."""

from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.testclient import TestClient

from bonusbridge import errors
from tests.web_cabinet.api.test_auth import assert_problem
from web_cabinet.api import mount_api
from web_cabinet.api.problems import CATALOG, code_of


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b"null",
        b'"text"',
        b'{"number": 5}',
        b'{"number": "1", "extra": 1}',
        '{"number": "\ud800"}'.encode("utf-8", "surrogatepass"),
    ],
)
def test_malformed_bodies_are_422_problems(api, raw):
    response = api.http.post(
        "/api/v1/cards/search", content=raw, headers={**api.headers(), "Content-Type": "application/json"}
    )
    assert_problem(response, 422, "validation_error")
    assert "Traceback" not in response.text


def test_unknown_paths_and_methods_are_problems_too(api):
    assert_problem(api.get("/nowhere"), 404, "not_found")
    assert_problem(api.http.delete("/api/v1/holds", headers=api.headers()), 405, "method_not_allowed")
    assert api.http.get("/api/v1/cards/%0Ax/balance", headers=api.headers()).headers["content-type"] == (
        "application/problem+json"
    )


def test_an_unexpected_error_is_a_500_problem_without_internals(api, hub, monkeypatch, make_card, card_id):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("web_cabinet.api.lookups.balance_out", broken)  # both read paths build with it
    response = api.get(f"/cards/{card_id(make_card())}/balance")
    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text and body["detail"]


def test_every_hub_error_has_a_catalogued_code():
    hub_errors = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.BonusBridgeError)
        and cls not in (errors.BonusBridgeError, errors.LedgerError)
    ]
    assert hub_errors
    for cls in hub_errors:
        error = cls.__new__(cls)
        assert code_of(error) == cls.code, f"{cls.__name__} ({cls.code}) has no entry in the API's catalog"
    assert all(400 <= kind.status < 600 for kind in CATALOG.values())


def test_the_cabinets_own_pages_keep_their_error_handling(hub):
    app = FastAPI()
    app.state.hub = hub

    @app.get("/page")
    def page() -> HTMLResponse:
        return HTMLResponse("<p>cabinet</p>")

    mount_api(app)
    with TestClient(app) as http:
        assert http.get("/page").text == "<p>cabinet</p>"
        missing = http.get("/no-such-page")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
        assert http.get("/api/v1/nowhere").headers["content-type"] == "application/problem+json"


def test_the_document_declares_scopes_problems_and_keeps_personal_data_out_of_urls(api):
    response = api.http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["servers"] == [{"url": "/api/v1"}]
    assert set(document["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        assert "phone" not in path and "number" not in path
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                assert parameter["in"] != "query", label
            statuses = set(operation["responses"])
            assert {"401", "403", "422", "500"} <= statuses, label
            assert "Scope `" in operation["description"], label
            for status, answer in operation["responses"].items():
                if status >= "400":
                    assert answer["content"] == {
                        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }, label
            reads = (
                "/cards/search",
                "/customers/search",
                "/quotes",
                "/onec/quote",
                "/shop/customers/{customer_id}/quote",
            )
            if method == "post" and path not in reads:
                names = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
                assert "Idempotency-Key" in names, label
    amount = document["components"]["schemas"]["BalanceOut"]["properties"]["available"]
    assert amount["type"] == "string"
    docs = api.http.get("/api/v1/docs")
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text
