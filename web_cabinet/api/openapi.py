"""The API's OpenAPI document, corrected where FastAPI's defaults would misdescribe the API.

FastAPI files every declared error model under ``application/json`` and adds its own
``HTTPValidationError`` for 422; the API answers every problem as ``application/problem+json``
with the ``Problem`` schema, and the document must say exactly that.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from web_cabinet.api.problems import PROBLEM_MEDIA_TYPE

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def install(api: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = _fix(
                get_openapi(
                    title=api.title,
                    version=api.version,
                    description=api.description,
                    routes=api.routes,
                    servers=api.servers,
                )
            )
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def _fix(document: dict[str, Any]) -> dict[str, Any]:
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
                    if status == "422" and "Problem" not in response.get("description", ""):
                        response["description"] = "Problem; `code` is validation_error"
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document
