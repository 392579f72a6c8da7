"""Schemathesis against ``/api/v1/openapi.json``: generated requests, valid and invalid, with a key
that has every scope. No 5xx, and every answer (status, content type, headers, body) is one the
document declares. Bounded: a few examples per operation, the whole module in well under 60 s."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.web_cabinet.api.conftest import Api
from web_cabinet.api import mount_api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _document_only() -> FastAPI:
    """An app serving the API's document; the requests go to each test's own app (``app=``).
    (schemathesis' ``from_fixture`` loader does not run on pytest 9: it reads ``node._nodeid``.)"""
    app = FastAPI()
    mount_api(app)
    return app


schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", _document_only())


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("BONUSBRIDGE_SCHEMATHESIS_EXAMPLES", "25")),
    derandomize=os.environ.get("BONUSBRIDGE_SCHEMATHESIS_EXAMPLES") is None,  # CI: reproducible
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_answer_conforms_and_none_is_a_server_error(
    case: Any, app: FastAPI, api: Api, make_card: Any, fund: Any, card_id: Any
) -> None:
    # Generated card ids are never signed ones (404): valid requests get a real, funded card, so
    # the success paths and the ledger's refusals are exercised too.
    if case.meta is not None and case.meta.generation.mode.value == "positive":
        if isinstance(case.body, dict) and "card_id" in case.body:
            card = make_card()
            fund(card, "1000.00")
            case.body["card_id"] = card_id(card)
        if "card_id" in (case.path_parameters or {}):
            card = make_card()
            fund(card, "10.00")
            case.path_parameters["card_id"] = card_id(card)
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {api.key}"}, checks=CHECKS)
